"""HR bring a spreadsheet in and a list out, in a real browser (Chromium via Playwright, as test_browser_hr).

HR upload a CSV with one bad row, fix nothing, import the valid rows, filter the list to them by their source,
export the list as CSV and as Excel, and both files hold the same names.
"""

import csv
import io

import openpyxl
import pytest

from tests.test_browser import Watch, chromium, live_server, log_in  # noqa: F401  (fixtures)
from tests.test_browser_hr import SIZES, _fits, _screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_browser's chromium fixture skips, with the reason
    expect = None

pytestmark = pytest.mark.browser

SOURCE = "春季校园招聘"
SHEET = (
    "姓名,手机号,邮箱,门店,来源\n"
    f"周一鸣,13900110001,,上海 · 徐汇店,{SOURCE}\n"
    f"=吴二,13900110002,wu@example.com,上海 · 徐汇店,{SOURCE}\n"
    f"郑三,not a phone,,上海 · 徐汇店,{SOURCE}\n"
)
IMPORTED = {"周一鸣", "=吴二"}


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_import_the_valid_rows_filter_to_them_and_export_them(chromium, live_server, size, tmp_path):  # noqa: F811
    app, _link = live_server
    base_url = app.config["PUBLIC_BASE_URL"]
    context = chromium.new_context(**SIZES[size], accept_downloads=True)
    context.set_default_timeout(10_000)
    sheet = tmp_path / "新员工.csv"
    sheet.write_bytes(("\ufeff" + SHEET.replace("周一鸣", f"周一鸣{size}")).encode("utf-8"))
    imported = {name if name != "周一鸣" else f"周一鸣{size}" for name in IMPORTED}
    try:
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base_url)

        page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Import").click()
        page.get_by_label("File", exact=True).set_input_files(str(sheet))
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.get_by_text("3 rows: 1 rejected, 0 already here.")).to_be_visible()
        expect(page.get_by_text("not a phone number")).to_be_visible()
        _fits(page, size)
        _screenshot(page, f"hr-import-preview-{size}")
        page.get_by_label("Import the valid rows and leave the rejected one out").check()
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.get_by_role("main").get_by_role("status")).to_have_text(
            "Imported 2, updated 0, skipped 0, rejected 1."
        )

        page.get_by_role("link", name="To the candidates").click()
        search = page.get_by_role("search")
        search.get_by_text("Filters and sorting").click()
        search.get_by_label("Source").fill(SOURCE)
        search.get_by_role("button", name="Apply").click()
        expect(page.locator(".list-count")).to_have_text("2 candidates")
        _fits(page, size)

        with page.expect_download() as download:
            page.get_by_role("link", name="CSV", exact=True).click()
        rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
        names = {row[rows[0].index("Name")].removeprefix("'") for row in rows[1:]}
        assert names == imported, rows
        assert "'=吴二" in {row[rows[0].index("Name")] for row in rows[1:]}  # a formula guard, not a formula

        with page.expect_download() as download:
            page.get_by_role("link", name="Excel (.xlsx)").click()
        table = list(
            openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active.iter_rows(values_only=True)
        )
        assert {row[table[0].index("Name")] for row in table[1:]} == imported
        # A download ends the navigation it started: Chromium reports that as an aborted request.
        watch.requests = [entry for entry in watch.requests if not ("/export." in entry and "ERR_ABORTED" in entry)]
        watch.assert_clean(page)
    finally:
        context.close()
