"""The candidates list as a file: CSV that Excel opens in Chinese and never runs as formulas (R17), and XLSX.

Every export is audited with its filter and its row count (R14), never with personal data: the search
text, which may be a name or a phone number, appears only as its length (hr.queries.ListFilters.describe).
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from portal.i18n import localized
from portal.models import User
from portal.models.candidates import Status
from portal.services.audit import record_audit

# An export of more rows is refused (narrow the filter): the file is built in memory, and this many rows is
# also what an import takes at most, so an exported file can be imported again.
EXPORT_MAX_ROWS = 20_000

# A spreadsheet reads a cell beginning with one of these as a formula, or drops the character (R17, ASVS 1.2.10).
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")

STATUS_LABELS = {Status.ACTIVE: _l("Waiting to start"), Status.STARTED: _l("Started"), Status.LEFT: _l("Left")}

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def csv_cell(value: str) -> str:
    """A cell as the CSV holds it: with a ' in front when a spreadsheet would take it for a formula.

    Phone numbers too: +8613900000001 is written '+8613900000001, which Excel keeps as text.
    """
    return "'" + value if value.startswith(CSV_TRIGGERS) else value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 with a BOM (so Excel reads Chinese), every field quoted (RFC 4180), every cell through csv_cell."""
    buffer = io.StringIO(newline="")
    buffer.write("\ufeff")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([csv_cell(cell) for cell in header])
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def xlsx_text(value: str) -> str:
    """A cell's text without the control characters an XLSX cannot hold (openpyxl refuses them)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[str]], sheet_title: str) -> bytes:
    """One sheet in which every cell is a string (type "s", format Text): "=1+1" stays the text it is."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=xlsx_text(sheet_title)[:31] or "Sheet1")

    def text_cells(row: Sequence[str]) -> list:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=xlsx_text(value))
            cell.data_type = "s"  # the value setter takes "=..." for a formula; this says it is text
            cell.number_format = "@"  # and Excel keeps it text when someone edits the cell
            cells.append(cell)
        return cells

    sheet.append(text_cells(header))
    for row in rows:
        sheet.append(text_cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_header() -> list[str]:
    """The column names, in the reader's language."""
    # Translators: column names of an exported candidate list. Use the names the import recognises (姓名,
    # 手机, 邮箱, 岗位, 门店, 来源, 阶段, 培训批次, 负责人), so that an exported file can be imported again.
    return [
        pgettext("export column", "ID"),
        pgettext("export column", "Name"),
        pgettext("export column", "Phone"),
        pgettext("export column", "Email"),
        pgettext("export column", "Position"),
        pgettext("export column", "Site"),
        pgettext("export column", "Source"),
        pgettext("export column", "Stage"),
        pgettext("export column", "Cohort"),
        pgettext("export column", "Owner"),
        pgettext("export column", "Status"),
        pgettext("export column", "Risk tier"),
        pgettext("export column", "Last visit"),
        pgettext("export column", "Next contact"),
        pgettext("export column", "Tags"),
        pgettext("export column", "Added"),
    ]


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def export_table(rows: Iterable, zone: ZoneInfo) -> list[list[str]]:
    """The rows of hr.queries.export_rows as text: times on the organisation's clock, words in the reader's language."""
    return [
        [
            str(row.id),
            row.name,
            row.phone or "",
            row.email or "",
            row.position or "",
            row.site or "",
            row.source_channel or "",
            localized(row, "stage_label") if row.stage_label_zh else "",
            row.cohort or "",
            row.owner or "",
            str(STATUS_LABELS.get(row.status, row.status)),
            row.tier or "",
            _local(row.last_seen_at, zone),
            row.next_contact_on.isoformat() if row.next_contact_on else "",
            ", ".join(row.tags or []),
            _local(row.created_at, zone),
        ]
        for row in rows
    ]


def export_filename(fmt: str, now: datetime, zone: ZoneInfo) -> str:
    """The name the server gives the file (never one from the request): candidates-20261205-0930.csv."""
    return f"candidates-{now.astimezone(zone):%Y%m%d-%H%M}.{fmt}"


def record_export(actor: User, *, fmt: str, filters: str, rows: int) -> None:
    """The audit line of an export: who, which format, which filter, how many rows."""
    record_audit("candidates.export", actor_user_id=actor.id, detail=f"{fmt}, {rows} rows; filter: {filters}")
