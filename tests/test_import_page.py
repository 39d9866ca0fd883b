"""Import on the page: upload, map, preview, import all or the valid rows; the file waits a day at most."""

import base64
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, ImportUpload, User
from portal.services.importing import MAX_BYTES
from portal.services.retention import purge_import_uploads
from tests.builders import gen_user, signed_in

DATA = Path(__file__).parent / "data"
EN = {"Accept-Language": "en"}


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def upload(client, name: str, content: bytes | None = None):
    data = {"file": (io.BytesIO(content if content is not None else (DATA / name).read_bytes()), name)}
    return client.post("/hr/import", data=data, content_type="multipart/form-data", headers=EN)


def test_upload_preview_refuse_then_import_the_valid_rows(app, client, site, hr, now):
    signed_in(client, hr)
    answer = upload(client, "messy_utf8_bom.csv")
    assert answer.status_code == 303
    preview_url = answer.headers["Location"]
    preview = client.get(preview_url, headers=EN).data.decode()
    assert "6 rows: 3 rejected, 0 already here." in preview
    assert re.search(r'<option value="phone" selected>', preview)  # 手机号 proposed as the phone
    assert "The same person as line 2." in preview
    upload_id = int(preview_url.rsplit("/", 1)[1])
    form = {"mapped": "1", "col-0": "name", "col-1": "phone", "col-2": "email", "col-3": "position", "col-6": "stage"}
    refused = client.post(f"/hr/import/{upload_id}", data={**form, "on_duplicate": "skip"}, headers=EN)
    assert refused.status_code == 422 and "nothing was imported" in refused.data.decode()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Candidate)) == 0
    rejected = client.get(f"/hr/import/{upload_id}/rejected.csv?mapped=1&col-0=name&col-1=phone")
    assert rejected.headers["Content-Type"].startswith("text/csv") and "张三重复".encode() in rejected.data
    done = client.post(f"/hr/import/{upload_id}", data={**form, "skip_invalid": "1", "owner": str(hr.id)}, headers=EN)
    assert done.status_code == 200 and "Imported 3, updated 0, skipped 0, rejected 3." in done.data.decode()
    link = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)" download', done.data.decode())
    assert "张三重复" in base64.b64decode(link.group(1)).decode("utf-8-sig")  # still there once the upload is gone
    assert db.session.scalar(sa.select(sa.func.count()).where(Candidate.owner_id == hr.id)) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportUpload)) == 0  # deleted once imported
    assert client.get(preview_url).status_code == 404
    db.session.refresh(hr)
    assert hr.import_mapping["手机号"] == "phone"  # proposed again next time
    assert hr.import_mapping["门店"] == ""  # and a column left out stays out


def test_previewing_again_keeps_the_choices_and_a_rejected_row_shows_what_was_typed(app, client, site, hr):
    signed_in(client, hr)
    content = "姓名,手机\n王五,1.38001E+10\n赵六,13900007777\n".encode()
    preview_url = upload(client, "two.csv", content).headers["Location"]
    choices = {"mapped": "1", "col-0": "name", "col-1": "phone", "on_duplicate": "update", "owner": str(hr.id)}
    again = client.post(f"{preview_url}/preview", data=choices, headers=EN)
    html = again.data.decode()
    assert re.search(r'name="on_duplicate" value="update" checked', html)  # kept
    assert re.search(rf'<option value="{hr.id}" selected>', html)
    # One form: Import sends the choices as they are on the page, previewed again or not.
    upload_path = preview_url.split("localhost", 1)[-1]
    assert html.count('form="import-form"') == 2 and html.count(f'action="{upload_path}"') == 1
    assert ">1.38001E+10</td>" in html  # the rejected phone as the file has it, not a blank
    assert ">+8613900007777</td>" in html  # a valid row as it will be stored
    only = client.get(f"{preview_url}?only=rejected", headers=EN).data.decode()
    assert ">1.38001E+10</td>" in only and "+8613900007777" not in only and "Show every row" in only


def test_files_that_cannot_be_imported_are_refused_on_the_upload_page(app, client, hr):
    signed_in(client, hr)
    old = upload(client, "old_excel.xls")
    assert old.status_code == 422 and "save it as .xlsx" in old.data.decode()
    for size in (MAX_BYTES, 11 * 1024 * 1024):  # just over the file limit; over the request limit too
        big = upload(client, "big.csv", b"name,phone\n" + b"x" * size)
        assert big.status_code == 413 and "larger than 10 MB" in big.data.decode()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportUpload)) == 0
    # The rest of the app keeps its smaller limit.
    assert client.post("/hr/login", data={"x": "y" * (3 * 1024 * 1024)}).status_code == 413


def test_an_upload_is_its_owners_only_and_expires_after_a_day(app, client, site, hr, now):
    signed_in(client, hr)
    upload_id = int(upload(client, "people.xlsx").headers["Location"].rsplit("/", 1)[1])
    other = gen_user("hr", email="other@example.com")
    stranger = signed_in(app.test_client(), other)
    assert stranger.get(f"/hr/import/{upload_id}").status_code == 404
    assert stranger.post(f"/hr/import/{upload_id}", data={"mapped": "1"}).status_code == 404
    assert purge_import_uploads(now + timedelta(hours=23)) == 0
    assert purge_import_uploads(now + timedelta(days=1, minutes=1)) == 1
    db.session.commit()
    assert client.get(f"/hr/import/{upload_id}").status_code == 404
    assert db.session.get(User, hr.id) is not None


def test_the_preview_counts_a_colleagues_candidate_as_the_import_will(app, client, site, hr, now):
    from tests.builders import gen_candidate

    colleague = gen_user("hr", email="other@example.com")
    gen_candidate(site, [("passed", now)], owner=colleague, phone="+8613900004444", name="Theirs")
    signed_in(client, hr)
    preview_url = upload(client, "people.xlsx").headers["Location"]
    preview = client.get(preview_url, headers=EN).data.decode()
    assert "4 rows: 1 rejected, 1 already here." in preview and "Theirs" not in preview
    assert "A colleague already has this candidate. (skipped)" in preview  # skipped: nothing to fix
    upload_id = db.session.scalar(sa.select(ImportUpload.id))
    rejected = client.get(f"/hr/import/{upload_id}/rejected.csv", headers=EN).data.decode("utf-8-sig")
    assert "A colleague" not in rejected
    choices = {"mapped": "1", "col-0": "name", "col-1": "phone", "on_duplicate": "update"}
    update = client.post(f"{preview_url}/preview", data=choices, headers=EN).data.decode()
    assert "4 rows: 2 rejected, 0 already here." in update  # an update cannot touch them: rejected
    rejected = client.get(
        f"/hr/import/{upload_id}/rejected.csv?on_duplicate=update&mapped=1&col-0=name&col-1=phone", headers=EN
    )
    assert "A colleague already has this candidate." in rejected.data.decode("utf-8-sig")  # as the preview said
