"""Candidate routes: open a link, the page, checklist, stories, calendar."""

import sqlalchemy as sa
from flask import abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale, get_timezone
from markupsafe import Markup

from portal.candidate.asking import ASKABLE, THREAD_PER_PAGE, refused_form, thread_context
from portal.candidate.blueprint import bp
from portal.candidate.calendar import candidate_calendar
from portal.candidate.identity import current_link_id, remember_candidate_locale, renew_if_due, set_candidate_cookie
from portal.candidate.queries import (
    PageData,
    checklist_entry,
    checklist_query,
    load_candidate_session,
    load_page,
    published_stories,
    shared_cohort,
    shared_content,
)
from portal.candidate.timeline import build_timeline, current_and_next
from portal.errors import invalid_link_response
from portal.extensions import db
from portal.models import Candidate, Cohort, Story, utcnow
from portal.models.engagement import EventKind
from portal.services.automations import resume_messages, stop_messages
from portal.services.checklist import item_applies, set_item_done
from portal.services.cohorts import confirm_attendance
from portal.services.engagement import begin_page_view, record_event, record_view
from portal.services.links import calendar_feed_url, find_active_link, find_calendar_feed, issue_calendar_feed
from portal.services.threads import ThreadError, ask, thread_of
from portal.templating import render_shared
from portal.throttle import count_failure
from portal.web import device_class, htmx_aware, htmx_request, id_arg, page_arg

STORIES_PER_PAGE = 10


@bp.route("/c/<token>", methods=["GET"])
def open_link(token: str):
    """Exchange the link for the candidate cookie and a token-free URL (R4, R5).

    Only failed look-ups are counted and limited per address (FAILED_TOKEN_LIMIT): many phones share
    one carrier address, and a valid link always goes through.
    """
    now = utcnow()
    found = find_active_link(token, now)
    if found is None:
        if not count_failure(current_app.config["FAILED_TOKEN_LIMIT"], "failed-token", request.remote_addr or ""):
            abort(429)
        return invalid_link_response()
    link_id, candidate_id, expires_at = found
    if request.method == "HEAD":
        # Scanners probe with HEAD: answer, but neither count it nor hand out a cookie.
        return "", 200
    # The fetch itself is only a prefetch: a view counts when /me is served with the cookie.
    record_event(candidate_id, EventKind.PREFETCH, target="link", link_id=link_id, device=device_class(), now=now)
    db.session.commit()
    response = redirect(url_for("candidate.page"), 303)
    set_candidate_cookie(response, link_id, expires_at, now)
    return response


def current_candidate_or_404(now):
    """The candidate behind the cookie, re-checked against the link every request."""
    candidate = load_candidate_session(_link_id_or_404(now), now)
    if candidate is None:
        abort(404)
    remember_candidate_locale(candidate.locale)
    return candidate


def _link_id_or_404(now) -> int:
    """The link named by the candidate cookie. A GET (or HEAD) changes nothing but its view's record,
    so it runs without a transaction (services.engagement.begin_page_view)."""
    if request.method in ("GET", "HEAD"):
        begin_page_view()
    link_id = current_link_id(now)
    if link_id is None:
        abort(404)
    return link_id


def _viewed(candidate, kind: str, target: str, now, response):
    """Record the view (engagement only: its commit is relaxed, services.engagement), renew the cookie, answer.

    A HEAD request (scanners, link checkers) is answered but recorded as nothing, as on /c/<token>.
    """
    if request.method == "HEAD":
        return make_response(response)
    record_view(
        candidate.candidate_id,
        candidate.link_id,
        kind,
        target,
        device=device_class(),
        link_unopened=candidate.first_opened_at is None,
        now=now,
    )
    db.session.commit()
    response = make_response(response)
    renew_if_due(response, candidate.link_id, candidate.expires_at, now)
    return response


@bp.get("/me")
def page():
    """The candidate page: where you are, what comes next, your cohort, checklist, stories, contact."""
    now = utcnow()
    candidate, data = _page_or_404(now)
    html = render_page(candidate, data, now, thread_context(candidate, now))
    return _viewed(candidate, EventKind.VIEW, "page", now, html)


def _page_or_404(now) -> tuple:
    """current_candidate_or_404, with everything the page shows (load_page: one statement)."""
    found = load_page(_link_id_or_404(now), now)
    if found is None:
        abort(404)
    remember_candidate_locale(found[0].locale)
    return found


def render_page(candidate, data: PageData, now, thread: dict | None = None) -> str:
    """The page's HTML from the candidate's row and page data (bench/ceiling.py renders it from memory)."""
    zone = get_timezone()
    starts_on = data.cohort.starts_on if data.cohort and data.cohort.status != "cancelled" else None
    nodes = build_timeline(
        data.stages, data.reached, candidate.current_stage_id, starts_on, today=now.astimezone(zone).date(), zone=zone
    )
    current, upcoming = current_and_next(nodes)
    # Sections everyone in the cohort sees alike are rendered once per process and locale, like their data,
    # and from that shared data alone: a cached fragment can never carry one candidate's details to another.
    locale = str(get_locale())
    cohort_html = _shared_fragment(
        ("cohort", candidate.cohort_id, locale), "candidate/_cohort.html", cohort=data.cohort, sessions=data.sessions
    )
    waiting = candidate.waiting_for_cohort_id
    waiting_for = shared_cohort(waiting)[0] if waiting is not None else None
    stories_html = _shared_fragment(("stories", locale), "candidate/_stories.html", stories=data.stories)
    return render_template(
        "candidate/page.html",
        candidate=candidate,
        nodes=nodes,
        current=current,
        upcoming=upcoming,
        checklist=data.checklist,
        today=now.astimezone(zone).date(),
        cohort_html=cohort_html,
        cohort=data.cohort,
        waiting_for=waiting_for,
        stories_html=stories_html,
        **(thread or {}),
    )


def _shared_fragment(key, template: str, **shared) -> Markup:
    """A partial rendered from shared content only (never a candidate's row), cached as long as that content is."""
    return shared_content().get(("html", *key), lambda: render_shared(template, **shared))


@bp.post("/me/checklist/<int:item_id>")
@htmx_aware
def checklist_toggle(item_id: int):
    """Tick or untick one checklist item; the same request works with and without htmx."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    if not item_applies(candidate.cohort_id, item_id):
        abort(404)
    done = request.form.get("done") == "1"
    if set_item_done(candidate.candidate_id, item_id, done, now=now):
        record_event(
            candidate.candidate_id,
            EventKind.CHECKLIST,
            target=f"{item_id}:{'on' if done else 'off'}",
            link_id=candidate.link_id,
            device=device_class(),
            now=now,
        )
    db.session.commit()
    if not htmx_request():
        return redirect(url_for("candidate.page") + f"#item-{item_id}", 303)
    row = db.session.execute(checklist_query(candidate.candidate_id, candidate.cohort_id, item_id)).one()
    cohort = db.session.get(Cohort, candidate.cohort_id) if candidate.cohort_id is not None else None
    item = checklist_entry(row, row.done, cohort.starts_on if cohort else None)
    today = now.astimezone(get_timezone()).date()
    return render_template("candidate/_checklist_items.html", checklist=[item], today=today)


@bp.post("/me/messages")
def messages_preference():
    """Stop automated messages, or take them again (``stop`` 1 or 0); essential ones always come."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    if request.form.get("stop") == "1":
        stop_messages(candidate.candidate_id, now=now)
    else:
        resume_messages(candidate.candidate_id, now=now)
    db.session.commit()
    return redirect(url_for("candidate.page") + "#messages", 303)


@bp.get("/me/stories")
def stories():
    """All published stories, paginated."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    pagination = db.paginate(
        published_stories(), page=page_arg(), per_page=STORIES_PER_PAGE, error_out=False, count=True
    )
    html = render_template("candidate/stories.html", candidate=candidate, pagination=pagination)
    return _viewed(candidate, EventKind.VIEW, "stories", now, html)


@bp.get("/me/stories/<int:story_id>")
def story(story_id: int):
    """One story; opening it is an engagement signal."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    item = db.session.get(Story, story_id)
    if item is None or item.published_at is None:
        return render_template("errors/404.html"), 404
    html = render_template("candidate/story.html", candidate=candidate, story=item)
    return _viewed(candidate, EventKind.STORY, str(story_id), now, html)


@bp.get("/me/calendar.ics")
def calendar():
    """The training as an iCalendar file, to open once (the subscription below follows changes)."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    if candidate.cohort_id is None:
        return render_template("errors/404.html"), 404
    response = make_response(candidate_calendar(candidate.candidate_id, now))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="training.ics"'
    return _viewed(candidate, EventKind.CALENDAR, str(candidate.cohort_id), now, response)


@bp.post("/me/calendar/subscribe")
def subscribe():
    """A subscription URL for the phone's calendar, shown once (its token is never stored)."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    if candidate.cohort_id is None:
        return redirect(url_for("candidate.page") + "#training", 303)
    token = issue_calendar_feed(db.session.get_one(Candidate, candidate.candidate_id), now=now)
    db.session.commit()
    url = calendar_feed_url(token)
    html = render_template(
        "candidate/subscribe.html", candidate=candidate, https_url=url, webcal_url="webcal://" + url.split("://", 1)[1]
    )
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/cal/<feed_token>.ics", methods=["GET"])
def calendar_feed(feed_token: str):
    """What a subscribed calendar fetches, with no cookie: the token is the key. Not a visit (phones poll)."""
    now = utcnow()
    candidate_id = find_calendar_feed(feed_token, now)
    if candidate_id is None:
        if not count_failure(current_app.config["FAILED_TOKEN_LIMIT"], "failed-token", request.remote_addr or ""):
            abort(429)
        return render_template("errors/404.html"), 404
    locale = db.session.scalar(sa.select(Candidate.locale).where(Candidate.id == candidate_id))
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        body = candidate_calendar(candidate_id, now)
    db.session.commit()
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/me/attendance")
@htmx_aware
def confirm():
    """ "I will be there": the candidate confirms their place in their cohort (with and without htmx)."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    confirm_attendance(candidate.candidate_id, now=now)
    db.session.commit()
    if not htmx_request():
        return redirect(url_for("candidate.page") + "#attendance", 303)
    candidate = current_candidate_or_404(now)
    cohort = shared_cohort(candidate.cohort_id)[0] if candidate.cohort_id is not None else None
    waiting = candidate.waiting_for_cohort_id
    waiting_for = shared_cohort(waiting)[0] if waiting is not None else None
    return render_template("candidate/_attendance.html", candidate=candidate, cohort=cohort, waiting_for=waiting_for)


@bp.post("/me/ask")
@htmx_aware
def ask_hr():
    """Send HR a question or a request (``topic``): htmx swaps the "Ask HR" section in place; without JavaScript
    back to the page, or the page again with what was typed and why it was refused."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    topic = request.form.get("topic", "")
    if topic not in ASKABLE:
        abort(400)
    try:
        ask(
            db.session.get_one(Candidate, candidate.candidate_id),
            topic,
            body=request.form.get("body"),
            now=now,
            reason_id=id_arg("reason", request.form),
            # Typed but not an id (a forged form): 0, which no cohort has, so it is refused in words.
            preferred_cohort_id=id_arg("cohort", request.form) or (0 if request.form.get("cohort") else None),
            district=request.form.get("district"),
        )
    except ThreadError as error:
        db.session.rollback()
        refused = refused_form(topic, error, request.form.to_dict())
        if htmx_request():
            return _thread_section(now, refused=refused), 422
        candidate, data = _page_or_404(now)
        return render_page(candidate, data, now, thread_context(candidate, now, refused=refused)), 422
    db.session.commit()
    if not htmx_request():
        return redirect(url_for("candidate.page") + "#ask", 303)
    return _thread_section(now, sent=topic)


def _thread_section(now, **state) -> str:
    candidate = current_candidate_or_404(now)
    return render_template("candidate/_thread.html", candidate=candidate, **thread_context(candidate, now, **state))


@bp.get("/me/thread")
def thread():
    """Every message of the candidate's thread with HR, newest first, paged."""
    now = utcnow()
    candidate = current_candidate_or_404(now)
    pagination = db.paginate(
        thread_of(candidate.candidate_id), page=page_arg(), per_page=THREAD_PER_PAGE, error_out=False, count=True
    )
    html = render_template("candidate/thread.html", candidate=candidate, pagination=pagination)
    return _viewed(candidate, EventKind.VIEW, "thread", now, html)
