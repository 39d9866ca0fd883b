"""Exports of the candidates list: CSV for Excel in Chinese and safe from formulas (R17), XLSX as text, audited."""

import csv
import io
import re
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.extensions import db
from portal.models import AuditEvent
from portal.services.exporting import CSV_TRIGGERS, csv_cell, write_csv, write_xlsx, xlsx_text
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_user, signed_in

EN = {"Accept-Language": "en"}
# R17 and the issue: a leading =, +, -, @, tab or carriage return (and NUL, ASVS 1.2.10) gets a ' in front.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def parse_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would read the Chinese as mojibake"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_the_trigger_characters_are_the_ones_r17_names():
    assert set(CSV_TRIGGERS) == set(TRIGGERS)


@settings(max_examples=300)
@given(st.lists(st.lists(st.text(), min_size=1, max_size=6), min_size=1, max_size=6))
def test_no_exported_cell_starts_with_a_trigger_and_the_quote_is_all_that_was_added(rows):
    header = ["a", "b"]
    parsed = parse_csv(write_csv(header, rows))
    assert parsed[0] == header
    assert len(parsed) == len(rows) + 1
    for typed, written in zip(rows, parsed[1:], strict=True):
        assert len(written) == len(typed)
        for original, cell in zip(typed, written, strict=True):
            assert not cell.startswith(TRIGGERS)
            if original.startswith(TRIGGERS):
                assert cell == "'" + original
            else:
                assert cell == original


def test_every_field_is_quoted_and_lines_end_in_crlf():
    data = write_csv(["Name"], [["王小明"], ["+8613900000001"], ["=1+1"], ['say "hi"']]).decode("utf-8-sig")
    assert data == '"Name"\r\n"王小明"\r\n"\'+8613900000001"\r\n"\'=1+1"\r\n"say ""hi"""\r\n'


@pytest.mark.parametrize("value", ["=1+1", "+8613900000001", "-3", "@SUM(A1)", "\tx", "plain"])
def test_csv_cell(value):
    assert csv_cell(value) == ("'" + value if value[0] in "=+-@\t" else value)


def test_xlsx_cells_are_text_even_when_they_look_like_formulas():
    data = write_xlsx(["Name", "Phone"], [["=1+1", "+8613900000001"], ["王小明", "13900000002"]], "候选人")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.title == "候选人"
    rows = [[(cell.value, cell.data_type) for cell in row] for row in sheet.iter_rows()]
    assert rows[1] == [("=1+1", "s"), ("+8613900000001", "s")]
    assert rows[2] == [("王小明", "s"), ("13900000002", "s")]  # digits stay text: no 1.39E+10


def test_xlsx_leaves_out_the_control_characters_it_cannot_hold():
    assert xlsx_text("a\x00b\x07c\td\ne") == "abc\td\ne"
    sheet = openpyxl.load_workbook(io.BytesIO(write_xlsx(["x"], [["a\x01b"]], "s"))).active
    assert sheet["A2"].value == "ab"


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


@pytest.fixture
def people(app, site, hr, now):
    """Two of HR's candidates in 浦东店 (one named like a formula), one elsewhere, and a colleague's."""
    cohort = gen_cohort(name="March")
    formula = gen_candidate(
        site,
        [("passed", now)],
        name="=1+1",
        owner=hr,
        cohort=cohort,
        phone="+8613900000001",
        email="x@example.com",
        site="浦东店",
        tags=["夜班", "VIP"],
        last_seen_at=now - timedelta(hours=2),
    )
    gen_flag(formula, severity="urgent", now=now)
    gen_candidate(site, [("passed", now)], name="王小明", owner=hr, phone="+8613900000002", site="浦东店")
    gen_candidate(site, [("passed", now)], name="Elsewhere", owner=hr, site="静安店")
    gen_candidate(site, [("passed", now)], name="Theirs", owner=gen_user("hr", email="o@example.com"), site="浦东店")
    return formula


def test_csv_export_of_the_filtered_list(app, client, hr, people):
    signed_in(client, hr)
    response = client.get("/hr/candidates/export.csv?site=浦东店&filename=evil.exe", headers=EN)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="candidates-\d{8}-\d{4}\.csv"', disposition), disposition
    assert response.headers["Cache-Control"] == "no-store"
    rows = parse_csv(response.data)
    assert rows[0][:4] == ["ID", "Name", "Phone", "Email"]
    by_name = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_name) == {"'=1+1", "王小明"}  # the filter, and HR's own only
    first = by_name["'=1+1"]
    assert first["Phone"] == "'+8613900000001" and first["Email"] == "x@example.com"
    assert first["Stage"] == "Interview passed" and first["Cohort"] == "March" and first["Owner"] == "Zhou"
    assert first["Risk tier"] == "C" and first["Tags"] == "夜班, VIP" and first["Status"] == "Waiting to start"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first["Last visit"])


def test_xlsx_export_keeps_a_name_like_a_formula_as_text(app, client, hr, people):
    signed_in(client, hr)
    response = client.get("/hr/candidates/export.xlsx?q=%2B86+139", headers=EN)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0][:3]] == ["ID", "Name", "Phone"]
    names = {row[1].value: row for row in rows[1:]}
    assert set(names) == {"=1+1", "王小明"}
    assert all(cell.data_type == "s" for row in rows for cell in row if cell.value is not None)
    assert names["=1+1"][2].value == "+8613900000001"


def test_the_chinese_export_is_in_chinese(app, client, hr, people):
    signed_in(client, hr)
    rows = parse_csv(client.get("/hr/candidates/export.csv?q=王", headers={"Accept-Language": "zh-CN"}).data)
    assert [row[1] for row in rows[1:]] == ["王小明"]
    assert rows[1][7] == "面试通过"  # the stage's Chinese label


def test_every_export_is_audited_with_its_filter_and_row_count_never_personal_data(app, client, hr, people):
    signed_in(client, hr)
    client.get("/hr/candidates/export.csv?site=浦东店&q=13900000001&tier=C", headers=EN)
    client.get("/hr/candidates/export.xlsx?q=nobody", headers=EN)
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "candidates.export").order_by(AuditEvent.id)
    ).all()
    assert [event.actor_user_id for event in events] == [hr.id, hr.id]
    assert events[0].detail == "csv, 1 rows; filter: search=(11 characters), site=浦东店, tier=C"
    assert events[1].detail == "xlsx, 0 rows; filter: search=(6 characters)"
    assert "13900000001" not in events[0].detail and "nobody" not in events[1].detail


def test_an_export_of_more_rows_than_allowed_is_refused_whole(app, client, hr, people, monkeypatch):
    monkeypatch.setattr("portal.hr.views.EXPORT_MAX_ROWS", 2)
    signed_in(client, hr)
    refused = client.get("/hr/candidates/export.csv", headers=EN)
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    assert "More than 2 candidates match this filter" in refused.get_data(as_text=True)
    assert client.get("/hr/candidates/export.csv?site=浦东店").status_code == 200  # two: allowed
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "candidates.export")) == 1


def test_an_export_with_a_bad_filter_exports_nothing(app, client, hr, people):
    signed_in(client, hr)
    refused = client.get("/hr/candidates/export.csv?stage=abc&site=浦东店", headers=EN)
    assert refused.status_code == 422 and "Not a valid choice" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "candidates.export")) == 0


def test_export_needs_a_login_and_only_csv_or_xlsx(app, client, hr, people):
    assert client.get("/hr/candidates/export.csv").status_code == 302
    signed_in(client, hr)
    assert client.get("/hr/candidates/export.xls").status_code == 404
