"""Importing HR's spreadsheets: messy files from tests/data/, all or nothing, the same from the command line."""

import csv
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Candidate, StageEvent
from portal.services import importing
from portal.services.importing import (
    MAX_ROWS,
    FileRefused,
    check_rows,
    import_rows,
    propose_mapping,
    read_sheet,
    rejected_csv,
)
from tests.builders import gen_candidate, gen_user

DATA = Path(__file__).parent / "data"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def english(app):
    """Messages as an English-speaking HR user reads them (outside a request the organisation's default is zh)."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def sheet_of(name: str):
    return read_sheet(name, (DATA / name).read_bytes())


def checked(name: str, *, actor=None, now, **kwargs):
    sheet = sheet_of(name)
    return sheet, check_rows(sheet, propose_mapping(sheet.header), actor=actor, now=now, **kwargs)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def by_line(rows):
    return {row.line: row for row in rows}


@pytest.mark.parametrize("name", ["messy_utf8_bom.csv", "messy_gb18030.csv"])
def test_a_messy_chinese_csv_is_cleaned_and_every_bad_row_says_why(app, site, now, name):
    sheet, rows = checked(name, now=now)
    assert sheet.header[:3] == ["姓名", "手机号", "邮箱"]  # no BOM left on the first header
    lines = by_line(rows)
    assert sorted(lines) == [2, 3, 4, 5, 6, 7]  # the blank last line is left out
    zhang = lines[2].values
    assert (zhang["name"], zhang["phone"], zhang["email"]) == ("张三", "+8613900001111", "zhang.san@example.com")
    li = lines[3].values
    assert li["position"] == "=1+1" and li["stage"].key == "background_check"
    assert li["reached_at"] == datetime(2026, 11, 21, 9, tzinfo=SHANGHAI).astimezone(UTC)
    assert lines[4].valid and lines[4].values["stage"].key == "passed" and lines[4].values["reached_at"] == now
    assert lines[5].errors == ["The same person as line 2."]
    assert lines[6].errors == ["A name is required."]
    wrong = " | ".join(lines[7].errors)
    for expected in ("not a phone number", "not an email address", "no stage is called", "not a date", "no training"):
        assert expected in wrong, wrong


def test_a_file_with_a_rejected_row_imports_nothing(app, site, now):
    _sheet, rows = checked("messy_utf8_bom.csv", now=now)
    report = import_rows(rows, actor=None, now=now)
    db.session.commit()
    assert (report.imported, report.rejected) == (0, 3)
    assert count(Candidate) == 0 and count(StageEvent) == 0


def test_skip_invalid_imports_the_valid_rows_at_their_stage_with_audit_and_no_link(app, site, now):
    sheet, rows = checked("messy_utf8_bom.csv", now=now)
    report = import_rows(rows, actor=None, now=now, skip_invalid=True, filename="messy_utf8_bom.csv")
    db.session.commit()
    assert report.summary() == "imported 3, updated 0, skipped 0, rejected 3"
    li = db.session.scalars(sa.select(Candidate).where(Candidate.name == "李四")).one()
    assert li.current_stage.key == "background_check" and li.position == "=1+1" and li.link_issued_at is None
    assert count(StageEvent) == 3
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("candidate.import") == 3 and actions.count("candidates.import") == 1
    rejected = list(csv.reader(io.StringIO(rejected_csv(rows, sheet).decode("utf-8-sig"))))
    assert rejected[0][1:] == sheet.header and [line[1] for line in rejected[1:]] == ["张三重复", "", "赵六"]
    assert rejected[1][0] == "The same person as line 2."


def test_scientific_notation_in_a_csv_is_an_error_naming_what_excel_did(app, site, now):
    _sheet, rows = checked("scientific_phone.csv", now=now)
    assert "scientific notation" in rows[0].errors[0] and "1.38001E+10" in rows[0].errors[0]
    assert rows[1].valid and rows[1].values["phone"] == "+8613800138000"


def test_an_xlsx_reads_integer_phones_date_cells_serials_and_keeps_formulas_as_text(app, site, now):
    _sheet, rows = checked("people.xlsx", now=now)
    chen, formula, short, floating = rows
    assert chen.values["phone"] == "+8613900004444" and chen.values["stage"].key == "passed"
    assert chen.values["reached_at"] == datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI).astimezone(UTC)
    assert formula.values["name"] == '=HYPERLINK("http://x")'  # the text it is, never evaluated
    assert formula.values["reached_at"] == datetime(2026, 11, 24, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)  # serial 46350
    assert "not a phone number" in short.errors[0]
    assert floating.valid and floating.values["phone"] == "+8613900006666"


def test_a_csv_date_column_reads_an_excel_serial_so_rejected_rows_of_an_xlsx_import_again(app, site, now):
    sheet = read_sheet("again.csv", "姓名,手机,阶段日期\n甲,13900000001,46350\n乙,13900000002,4635\n".encode())
    rows = check_rows(sheet, propose_mapping(sheet.header), actor=None, now=now)
    assert rows[0].values["reached_at"] == datetime(2026, 11, 24, 0, 0, tzinfo=SHANGHAI).astimezone(
        UTC
    )  # as in an .xlsx
    assert not rows[1].valid  # four digits are no date


def test_files_that_cannot_be_imported_say_why(app):
    with pytest.raises(FileRefused, match="save it as .xlsx"):
        sheet_of("old_excel.xls")
    with pytest.raises(FileRefused, match="more than 20,000 rows"):
        read_sheet("big.csv", ("name,phone\n" + "某人,13900000000\n" * (MAX_ROWS + 1)).encode())
    with pytest.raises(FileRefused, match="larger than 10 MB"):
        read_sheet("huge.csv", b"x" * (importing.MAX_BYTES + 1))
    with pytest.raises(FileRefused, match="cannot be read"):
        read_sheet("broken.xlsx", b"PK not really a zip")
    with pytest.raises(FileRefused, match="a header but no rows"):
        read_sheet("header.csv", "姓名,手机\n\n".encode())


def xlsx_of(rows: list[list], dimension: str | None = None) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    if dimension is None:
        return out.getvalue()
    # Rewrite the sheet size the file declares, as some exporters get it wrong.
    packed, rewritten = zipfile.ZipFile(out), io.BytesIO()
    with zipfile.ZipFile(rewritten, "w") as copy:
        for item in packed.infolist():
            data = packed.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="%s"/>' % dimension.encode(), data)
                if b"<dimension" not in data:
                    data = data.replace(b"<sheetData", b'<dimension ref="%s"/><sheetData' % dimension.encode(), 1)
            copy.writestr(item, data)
    return rewritten.getvalue()


def test_an_xlsx_is_read_row_by_row_stopping_past_the_limit_and_whatever_size_it_declares(app, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 50)
    read = []
    rows_of = importing._xlsx_rows
    monkeypatch.setattr(importing, "_xlsx_rows", lambda content: (read.append(row) or row for row in rows_of(content)))
    many = xlsx_of([["姓名", "手机"]] + [[f"某人{n}", 13900000000 + n] for n in range(5_000)])
    with pytest.raises(FileRefused, match="more than 50 rows"):
        read_sheet("many.xlsx", many)
    assert len(read) == 52  # the header and 51 rows: the other 4,949 were never read
    declared_small = xlsx_of([["姓名", "手机"]] + [[f"某人{n}", 13900000000 + n] for n in range(30)], dimension="A1:A1")
    sheet = read_sheet("small.xlsx", declared_small)
    assert len(sheet.rows) == 30 and sheet.rows[-1] == ["某人29", 13900000029]


def test_duplicates_skip_or_update_from_non_blank_cells_and_never_touch_others_or_the_left(app, site, now):
    hr = gen_user("hr", email="hr@example.com")
    colleague = gen_user("hr", email="other@example.com")
    mine = gen_candidate(site, [("background_check", now)], owner=hr, phone="+8613900004444", position="")
    theirs = gen_candidate(site, [("passed", now)], owner=colleague, email="chen@example.com", name="Theirs")
    sheet = read_sheet(
        "dupes.csv",
        "name,phone,email,position,stage\n陈新,13900004444,,收银员,passed\n别人,,chen@example.com,,\n".encode(),
    )
    visible = {mine.id}

    def run(on_duplicate):
        rows = check_rows(sheet, propose_mapping(sheet.header), actor=hr, now=now)
        return rows, import_rows(rows, actor=hr, now=now, on_duplicate=on_duplicate, may_see=visible.__contains__)

    rows, report = run("update")
    assert rows[1].errors == ["A colleague already has this candidate."] and report.imported == 0
    db.session.rollback()
    rows, report = run("skip")  # nothing to fix in a row that would be skipped anyway
    assert report.summary() == "imported 0, updated 0, skipped 2, rejected 0" and theirs.name == "Theirs"
    db.session.rollback()
    sheet.rows, sheet.lines = sheet.rows[:1], sheet.lines[:1]
    rows, report = run("update")
    db.session.commit()
    assert report.summary() == "imported 0, updated 1, skipped 0, rejected 0"
    db.session.refresh(mine)
    assert (mine.name, mine.position) == ("陈新", "收银员") and mine.current_stage.key == "background_check"
    assert theirs.name == "Theirs"
    _rows, report = run("skip")
    assert report.summary() == "imported 0, updated 0, skipped 1, rejected 0"
    mine.status = "left"
    db.session.commit()
    rows, report = run("update")
    assert "who left" in rows[0].errors[0] and report.updated == 0


def test_a_row_matching_two_people_is_not_merged_and_the_command_line_update_is_audited(app, site, now, tmp_path):
    first = gen_candidate(site, [("passed", now)], phone="+8613900005555", name="First", position="")
    second = gen_candidate(site, [("passed", now)], email="second@example.com", name="Second")
    third = gen_candidate(site, [("passed", now)], email="third@example.com", name="Third", position="")
    path = tmp_path / "update.csv"
    path.write_text(
        "姓名,手机,邮箱,岗位\n两人,13900005555,second@example.com,收银员\n第三,,third@example.com,收银员\n", "utf-8"
    )
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["import-candidates", str(path), "--on-duplicate", "update"])
    assert refused.exit_code == 1 and "line 2: The phone number is one person's already here" in refused.output
    assert (first.position, second.name) == ("", "Second")  # nothing imported, nothing merged
    done = runner.invoke(args=["import-candidates", str(path), "--on-duplicate", "update", "--skip-invalid"])
    assert done.output.strip().endswith("imported 0, updated 1, skipped 0, rejected 1"), done.output
    db.session.expire_all()
    assert (first.name, second.name, third.name, third.position) == ("First", "Second", "第三", "收银员")
    edits = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "candidate.edit")).all()
    assert [(e.object_id, e.actor_user_id, e.detail) for e in edits] == [(third.id, None, "name, position")]


def test_hr_may_give_imported_people_only_to_themselves(app, site, now):
    hr = gen_user("hr", email="hr@example.com")
    gen_user("hr", email="other@example.com", name="Other")
    sheet = read_sheet("owners.csv", "姓名,手机,负责人\n甲,13900000001,other@example.com\n乙,13900000002,\n".encode())
    rows = check_rows(sheet, propose_mapping(sheet.header), actor=hr, now=now, default_owner_id=hr.id)
    assert "unassigned" in rows[0].errors[0] and rows[1].valid and rows[1].values["owner"] == hr.id


def test_an_error_half_way_leaves_nothing_behind(app, site, now, monkeypatch):
    _sheet, rows = checked("people.xlsx", now=now)

    def scan_fails(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(importing, "run_scan", scan_fails)
    with pytest.raises(RuntimeError):
        import_rows(rows, actor=None, now=now, skip_invalid=True)
    db.session.rollback()
    assert count(Candidate) == 0 and count(StageEvent) == 0


def test_the_command_line_imports_all_or_nothing_and_prints_every_error(app, site, now):
    runner = app.test_cli_runner()
    path = str(DATA / "messy_utf8_bom.csv")
    refused = runner.invoke(args=["import-candidates", path])
    assert refused.exit_code == 1 and "line 7:" in refused.output
    assert refused.output.strip().endswith("nothing imported: imported 0, updated 0, skipped 0, rejected 3")
    assert count(Candidate) == 0
    dry = runner.invoke(args=["import-candidates", path, "--dry-run", "--skip-invalid"])
    assert dry.exit_code == 0 and "dry run, nothing changed: imported 3" in dry.output and count(Candidate) == 0
    gen_user("hr", email="hr@example.com")
    done = runner.invoke(args=["import-candidates", path, "--skip-invalid", "--owner", "HR@example.com"])
    assert done.exit_code == 0, done.output
    assert done.output.strip().endswith("imported 3, updated 0, skipped 0, rejected 3")
    assert db.session.scalar(sa.select(sa.func.count()).where(Candidate.owner_id.is_not(None))) == 3
    again = runner.invoke(args=["import-candidates", path, "--skip-invalid"])
    assert "imported 0, updated 0, skipped 3, rejected 3" in again.output
    old = runner.invoke(args=["import-candidates", str(DATA / "old_excel.xls")])
    assert old.exit_code == 1 and "save it as .xlsx" in old.output


def test_our_own_export_imports_again_as_it_was(app, site, now):
    from portal.services.exporting import write_csv

    content = write_csv(["姓名", "手机", "岗位"], [["=HYPERLINK(1)", "+8613900007777", "-夜班"]])
    sheet = read_sheet("export.csv", content)
    (row,) = check_rows(sheet, propose_mapping(sheet.header), actor=None, now=now)
    assert row.valid, row.errors
    assert (row.values["name"], row.values["phone"], row.values["position"]) == (
        "=HYPERLINK(1)",
        "+8613900007777",
        "-夜班",
    )


def test_a_control_character_in_a_cell_never_reaches_the_database(app, site, now):
    sheet = read_sheet("nul.csv", "姓名,手机\n张\x00三,13900000001\n".encode())
    [row] = check_rows(sheet, propose_mapping(sheet.header), actor=None, now=now)
    assert row.valid and row.values["name"] == "张三"
