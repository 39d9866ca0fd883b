"""Every page a person can reach passes the W3C Nu HTML checker (vnu.jar) with no errors.

The pages are rendered through the real app, written to a folder and checked in one run of the
checker (one JVM start). htmx partials are fragments: they are checked wrapped in a minimal page.
A known-bad canary page goes along every time, so the test also proves the checker still fails.

The checker is vnu.jar from the Nu checker's own npm package ``vnu-jar`` (PyPI only carries a 2020
build, which rejects valid markup and misses newer ARIA rules). ./dev installs it beside the venv;
$VNU_JAR points at another copy. It needs Java 11 or newer on PATH. Without either the test skips.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import render_template

from portal.extensions import db
from portal.models import Candidate, ChecklistItem, Reason, Stage, Story, User
from tests.builders import PASSWORD, gen_candidate, gen_cohort, gen_flag, gen_reasons, gen_site, gen_user, open_page

EN = {"Accept-Language": "en-US,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
HX = {"HX-Request": "true"}

VNU_BESIDE_VENV = "vnu/node_modules/vnu-jar/build/dist/vnu.jar"
CANARY = "zz-canary.html"
CANARY_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>canary</title></head>
<body><p id="twice">one</p><p id="twice" hx-get="/x">two</p></body></html>
"""

# What fragments are wrapped in, by the first tag of the fragment (a row needs a table around it).
WRAPPERS = {
    "tr": ("<table><tbody>", "</tbody></table>"),
    "li": ("<ul>", "</ul>"),
}


def _vnu_jar() -> Path | None:
    """$VNU_JAR, else the jar that ./dev installs beside the venv from the npm package vnu-jar."""
    path = Path(os.environ.get("VNU_JAR") or Path(sys.prefix) / VNU_BESIDE_VENV)
    return path if path.is_file() else None


def _java() -> str | None:
    java = shutil.which("java")
    if java is None:
        return None
    try:
        subprocess.run([java, "-version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return java


def _checker() -> list[str]:
    java, jar = _java(), _vnu_jar()
    if java is None:
        pytest.skip("no working `java` on PATH: the Nu HTML checker (vnu.jar) needs Java 11+")
    if jar is None:
        where = f"VNU_JAR={os.environ['VNU_JAR']}" if os.environ.get("VNU_JAR") else Path(sys.prefix) / VNU_BESIDE_VENV
        pytest.skip(f"no vnu.jar at {where}: ./dev installs it (npm package vnu-jar), or point VNU_JAR at one")
    return [java, "-jar", str(jar)]


def _wrap(name: str, fragment: str) -> str:
    first = re.match(r"\s*<([a-z0-9]+)", fragment)
    before, after = WRAPPERS.get(first.group(1) if first else "", ("", ""))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>fragment {name}</title></head><body>\n{before}{fragment}{after}\n</body></html>\n"
    )


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.request.path)
    assert response.mimetype == "text/html", (response.mimetype, response.request.path)
    return response.get_data(as_text=True)


def _validate(command: list[str], pages: dict[str, str], folder: Path) -> dict[str, list[str]]:
    """Check all pages in one checker run; returns the error messages by file name."""
    folder.mkdir()
    files = []
    for name, html in {**pages, CANARY: CANARY_HTML}.items():
        path = folder / name
        path.write_text(html, encoding="utf-8")
        files.append(str(path))
    done = subprocess.run(
        [*command, "--format", "json", "--stdout", "--exit-zero-always", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    errors: dict[str, list[str]] = {}
    for message in json.loads(done.stdout)["messages"]:
        if message.get("type") not in ("error", "non-document-error"):
            continue  # info and warnings are advice, not errors
        name = Path(message.get("url", "?").removeprefix("file:")).name
        where = f"line {message['lastLine']}" if "lastLine" in message else "document"
        extract = (message.get("extract") or "").replace("\n", " ").strip()
        errors.setdefault(name, []).append(f"{where}: {message['message']}  [{extract}]")
    return errors


def _candidate_pages(app, pages: dict[str, str], now) -> tuple[User, list[Candidate]]:
    stages = gen_site(stories=12)  # more than a page of stories: the pager shows
    hr = gen_user("hr", email="hr@example.com", name="Zhou", phone="+86 138 0000 1234")
    cohort = gen_cohort()
    reached = [
        ("passed", now - timedelta(days=5)),
        ("background_check", now - timedelta(days=3)),
        ("training_notice", now - timedelta(days=1)),
    ]
    rich = gen_candidate(
        stages, reached, owner=hr, cohort=cohort, phone="13800000000", position="Cashier", site="Pudong"
    )
    fresh = gen_candidate(stages, [("passed", now)], name="Li Lei")  # no cohort, no owner: the hotline shows

    pages["index.html"] = _html(app.test_client().get("/", headers=ZH))
    pages["privacy-zh.html"] = _html(app.test_client().get("/privacy", headers=ZH))
    pages["privacy-en.html"] = _html(app.test_client().get("/privacy", headers=EN))

    first_item = db.session.scalars(sa.select(ChecklistItem.id).order_by(ChecklistItem.position)).first()
    story = db.session.scalars(sa.select(Story.id).order_by(Story.published_at.desc())).first()
    for headers, lang in ((ZH, "zh"), (EN, "en")):
        client = app.test_client()
        pages[f"me-{lang}.html"] = _html(open_page(client, rich, **headers))
        if lang == "zh":  # a ticked item, then the page again and the htmx answer for it
            assert client.post(f"/me/checklist/{first_item}", data={"done": "1"}).status_code == 303
            pages["me-ticked.html"] = _html(client.get("/me", headers=headers))
            pages["fragment-checklist-item.html"] = _wrap(
                "checklist item",
                _html(client.post(f"/me/checklist/{first_item}", data={"done": "0"}, headers={**HX, **headers})),
            )
        pages[f"stories-{lang}.html"] = _html(client.get("/me/stories", headers=headers))
        pages[f"stories-page2-{lang}.html"] = _html(client.get("/me/stories?page=2", headers=headers))
        pages[f"story-{lang}.html"] = _html(client.get(f"/me/stories/{story}", headers=headers))
    client = app.test_client()
    pages["me-fresh.html"] = _html(open_page(client, fresh, **EN))
    pages["story-missing.html"] = _html(client.get("/me/stories/999999", headers=EN), 404)

    pages["invalid-link.html"] = _html(app.test_client().get("/c/bogus", headers=ZH), 404)
    pages["me-without-cookie.html"] = _html(app.test_client().get("/me", headers=EN), 404)
    return hr, [rich, fresh]


def _admin_pages(app, pages: dict[str, str], hr: User, monkeypatch) -> None:
    monkeypatch.setattr("portal.admin.reasons.PER_PAGE", 4)  # the pager shows
    gen_reasons()
    admin = gen_user("admin", email="admin@example.com", name="Boss")
    client = app.test_client()
    assert client.post("/hr/login", data={"email": admin.email, "password": PASSWORD}).status_code == 303
    reason = db.session.scalars(sa.select(Reason).order_by(Reason.position, Reason.id)).first()
    assert client.post(f"/admin/reasons/{reason.id}/retire").status_code == 303  # a retired row shows
    pages["admin-reasons.html"] = _html(client.get("/admin/reasons", headers=EN))
    pages["admin-reasons-zh.html"] = _html(client.get("/admin/reasons?page=2", headers=ZH))
    pages["admin-reasons-refused.html"] = _html(
        client.post("/admin/reasons", data={"label_zh": "", "label_en": "x" * 81}, headers=EN), 422
    )
    pages["admin-reasons-move-refused.html"] = _html(
        client.post(f"/admin/reasons/{reason.id}/move", data={"direction": "up"}, headers=EN), 422
    )
    pages["admin-reason-edit.html"] = _html(client.get(f"/admin/reasons/{reason.id}", headers=ZH))
    pages["admin-reason-edit-refused.html"] = _html(
        client.post(f"/admin/reasons/{reason.id}", data={"label_zh": "其他", "label_en": ""}, headers=EN), 422
    )
    staff = app.test_client()
    assert staff.post("/hr/login", data={"email": hr.email, "password": PASSWORD}).status_code == 303
    pages["admin-403.html"] = _html(staff.get("/admin/reasons", headers=EN), 403)


def _hr_pages(app, pages: dict[str, str], user: User, candidates: list[Candidate], monkeypatch, now) -> None:
    monkeypatch.setattr("portal.hr.views.CANDIDATES_PER_PAGE", 1)  # the pager shows
    flag = gen_flag(candidates[0], now=now)
    gen_flag(candidates[1], severity="urgent", now=now)
    gen_flag(candidates[0], rule="link_not_opened", snoozed_until=now + timedelta(days=1), now=now)

    client = app.test_client()
    pages["hr-login.html"] = _html(client.get("/hr/login", headers=EN))
    pages["hr-login-failed.html"] = _html(
        client.post("/hr/login", data={"email": user.email, "password": "wrong"}, headers=EN), 200
    )
    assert client.post("/hr/login", data={"email": user.email, "password": PASSWORD}).status_code == 303
    pages["hr-candidates.html"] = _html(client.get("/hr/", headers=EN))
    pages["hr-candidates-zh.html"] = _html(client.get("/hr/?page=2", headers=ZH))
    pages["hr-candidates-none.html"] = _html(client.get("/hr/?q=nobody-by-this-name", headers=EN))
    pages["hr-candidates-filtered.html"] = _html(
        client.get("/hr/?status=active&stage=abc&seen_from=2027-02-31", headers=EN)
    )
    pages["hr-bulk.html"] = _html(
        client.post(
            "/hr/candidates/bulk",
            data={"bulk-action": "tag", "bulk-tag": "x", "bulk-ids": [str(candidates[0].id), "999999"]},
            headers=EN,
        )
    )
    pages["hr-bulk-refused.html"] = _html(
        client.post("/hr/candidates/bulk", data={"bulk-action": "tag"}, headers=EN), 422
    )
    pages["hr-export-refused.html"] = _html(client.get("/hr/candidates/export.csv?stage=abc", headers=EN), 422)
    pages["hr-queue.html"] = _html(client.get("/hr/queue", headers=EN))
    pages["hr-queue-zh.html"] = _html(client.get("/hr/queue", headers=ZH))
    pages["hr-queue-empty.html"] = _html(client.get("/hr/queue?rule=no_such_rule", headers=EN))
    pages["fragment-queue-list.html"] = _wrap(
        "queue list", _html(client.get("/hr/queue?severity=urgent", headers={**HX, **EN}))
    )
    pages["fragment-queue-badge.html"] = _wrap("queue badge", _html(client.get("/hr/queue/badge", headers=EN)))
    pages["fragment-flag-row-refused.html"] = _wrap(
        "flag row",
        _html(
            client.post(
                f"/hr/flags/{flag.id}/resolve", data={"outcome": "nonsense", "note": "typed"}, headers={**HX, **EN}
            ),
            422,
        ),
    )
    pages["hr-action-error.html"] = _html(
        client.post(f"/hr/flags/{flag.id}/resolve", data={"outcome": "", "note": "typed"}, headers=EN), 422
    )
    pages["fragment-flag-row-claimed.html"] = _wrap(
        "flag row", _html(client.post(f"/hr/flags/{flag.id}/claim", headers={**HX, **EN}))
    )
    monkeypatch.setattr("portal.hr.candidate.PER_PAGE", 1)  # every list's pager shows
    pages["hr-candidate.html"] = _html(client.get(f"/hr/candidates/{candidates[0].id}?flags=2", headers=EN))
    pages["hr-candidate-zh.html"] = _html(client.get(f"/hr/candidates/{candidates[1].id}", headers=ZH))
    pages["hr-candidate-refused.html"] = _html(
        client.post(f"/hr/candidates/{candidates[0].id}/stage", data={"stage": "x", "note": "typed"}, headers=EN), 422
    )
    pages["hr-candidate-new.html"] = _html(client.get("/hr/candidates/new", headers=ZH))
    pages["hr-candidate-new-refused.html"] = _html(
        client.post("/hr/candidates/new", data={"name": "", "phone": "x", "stage": "1"}, headers=EN), 422
    )
    first_stage = db.session.scalar(sa.select(Stage.id).order_by(Stage.position).limit(1))
    twice = {"name": "Twice", "email": "twice@example.com", "stage": first_stage, "owner": "", "cohort": ""}
    assert client.post("/hr/candidates/new", data=twice).status_code == 303
    pages["hr-candidate-new-duplicate.html"] = _html(client.post("/hr/candidates/new", data=twice, headers=EN), 409)
    pages["hr-candidate-leave-refused.html"] = _html(
        client.post(
            f"/hr/candidates/{candidates[0].id}/left", data={"leave-kind": "x", "leave-note": "typed"}, headers=EN
        ),
        422,
    )
    gen_reasons()
    reason = db.session.scalars(sa.select(Reason)).first()
    left = {
        "leave-kind": "withdrew",
        "leave-reason": reason.id,
        "leave-recontact_on": (now + timedelta(days=30)).date().isoformat(),
    }
    assert client.post(f"/hr/candidates/{candidates[1].id}/left", data=left).status_code == 303
    pages["hr-candidate-left.html"] = _html(client.get(f"/hr/candidates/{candidates[1].id}", headers=ZH))
    pages["hr-talent-pool.html"] = _html(client.get("/hr/talent-pool", headers=EN))
    pages["hr-link-issued.html"] = _html(client.post(f"/hr/candidates/{candidates[0].id}/link", headers=EN))
    pages["fragment-htmx-error.html"] = _wrap(
        "htmx error", _html(client.post("/hr/flags/999999/claim", headers={**HX, **EN}), 404)
    )
    pages["hr-404.html"] = _html(client.get("/hr/flags/999999/nothing", headers=EN), 404)
    pages["hr-405.html"] = _html(client.get(f"/hr/flags/{flag.id}/claim", headers=EN), 405)
    pages["not-found.html"] = _html(app.test_client().get("/no/such/page", headers=ZH), 404)

    with app.test_request_context("/", headers=EN):
        pages["500.html"] = render_template("errors/500.html", status=500)


def _limit_and_csrf_pages(make_app, pages: dict[str, str]) -> None:
    app = make_app(FAILED_TOKEN_LIMIT="1 per 10 minutes", WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        _html(client.get("/c/bogus-one", headers=EN), 404)
        pages["429.html"] = _html(client.get("/c/bogus-two", headers=EN), 429)
        pages["csrf.html"] = _html(client.post("/hr/logout", headers=EN), 400)
        pages["hr-login-expired.html"] = _html(
            client.post("/hr/login", data={"email": "a@example.com", "password": "x"}, headers=EN), 400
        )


def test_every_page_passes_the_nu_html_checker(make_app, monkeypatch, tmp_path, now):
    command = _checker()  # skip early, before building anything, when there is no checker
    pages: dict[str, str] = {}
    app = make_app()
    with app.app_context():
        user, candidates = _candidate_pages(app, pages, now)
        _hr_pages(app, pages, user, candidates, monkeypatch, now)
        _admin_pages(app, pages, user, monkeypatch)
    _limit_and_csrf_pages(make_app, pages)

    errors = _validate(command, pages, tmp_path / "pages")

    canary = errors.pop(CANARY, [])
    assert any("Duplicate ID" in e for e in canary) and any("hx-get" in e for e in canary), (
        "the checker no longer reports a known-bad page; it checks nothing: " + "\n".join(canary)
    )
    if errors:
        report = "\n".join(f"{name}:\n  " + "\n  ".join(messages) for name, messages in sorted(errors.items()))
        pytest.fail(
            f"{sum(map(len, errors.values()))} HTML errors (pages kept in {tmp_path / 'pages'}):\n{report}",
            pytrace=False,
        )
