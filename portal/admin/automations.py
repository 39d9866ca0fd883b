"""Admins edit the automations: trigger, audience, templates, channels, on or off; preview one for a candidate;
see what each did (sent, dropped by reason, opened within 48 hours)."""

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import TemplateError

from portal.admin.blueprint import bp
from portal.extensions import db
from portal.i18n import LOCALES
from portal.models import Automation, Candidate, Cohort, Stage, utcnow
from portal.models.automations import Trigger
from portal.models.candidates import Tier
from portal.services.audience import Audience
from portal.services.automations import (
    AUTOMATION_KINDS,
    VARIABLES,
    AutomationError,
    automation_stats,
    preview,
    save_automation,
    seed_rhythm,
    switch_automation,
    would_not_go,
)
from portal.web import page_arg

PER_PAGE = 50
CHANNEL_CHOICES = ("email", "sms,email", "email,sms", "sms")
PREVIEW_MATCHES = 10


@bp.get("/automations")
def automations():
    """Every automation with what it did; a new installation can start from the recommended rhythm."""
    query = sa.select(Automation).order_by(Automation.id)
    pagination = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    stats = {automation.id: automation_stats(automation.id) for automation in pagination.items}
    return render_template("admin/automations.html", pagination=pagination, stats=stats)


@bp.post("/automations/rhythm")
def add_rhythm():
    """The recommended rhythm, switched off: an admin reads each one and switches it on."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Automation)):
        return redirect(url_for("admin.automations"), 303)
    seed_rhythm(now=utcnow(), enabled=False)
    db.session.commit()
    return redirect(url_for("admin.automations"), 303)


@bp.route("/automations/new", methods=["GET", "POST"])
def new_automation():
    automation = Automation(
        trigger=Trigger.STAGE_ENTERED, kind="automated", channels="email", audience={}, sms_params={}, at_time=""
    )
    return _edit(automation)


@bp.route("/automations/<int:automation_id>", methods=["GET", "POST"])
def edit_automation(automation_id: int):
    return _edit(db.get_or_404(Automation, automation_id))


@bp.post("/automations/<int:automation_id>/switch")
def switch(automation_id: int):
    """On (only what happens from now counts) or off (what it queued is dropped when due)."""
    automation = db.get_or_404(Automation, automation_id)
    switch_automation(automation, request.form.get("on") == "1", actor_id=current_user.id, now=utcnow())
    db.session.commit()
    back = request.form.get("back")
    if back == "edit":
        return redirect(url_for("admin.edit_automation", automation_id=automation.id), 303)
    return redirect(url_for("admin.automations", _anchor=f"automation-{automation.id}"), 303)


def _edit(automation: Automation):
    error, typed = None, None
    if request.method == "POST":
        typed = request.form
        try:
            save_automation(automation, _values_from(request.form), actor_id=current_user.id, now=utcnow())
        except AutomationError as refusal:
            db.session.rollback()
            error = str(refusal)
        else:
            db.session.commit()
            return redirect(url_for("admin.edit_automation", automation_id=automation.id, saved=1), 303)
    return render_template(
        "admin/automation.html",
        automation=automation,
        typed=typed,
        error=error,
        saved=request.args.get("saved") == "1",
        audience=Audience.from_dict(automation.audience),
        stats=automation_stats(automation.id) if automation.id else None,
        preview=_preview(automation) if automation.id else None,
        stages=db.session.scalars(sa.select(Stage).order_by(Stage.position)).all(),
        cohorts=cohort_choices(Audience.from_dict(automation.audience).cohorts),
        triggers=list(Trigger),
        kinds=AUTOMATION_KINDS,
        channel_choices=CHANNEL_CHOICES,
        tiers=list(Tier),
        locales=LOCALES,
        variables=VARIABLES,
    ), (422 if error else 200)


def cohort_choices(chosen) -> list[Cohort]:
    """Cohorts to pick from: the 100 newest, and whichever older ones are chosen already (never lost on a save)."""
    newest = sa.select(Cohort.id).order_by(Cohort.starts_on.desc()).limit(100)
    query = sa.select(Cohort).where(sa.or_(Cohort.id.in_(newest.scalar_subquery()), Cohort.id.in_(list(chosen))))
    return list(db.session.scalars(query.order_by(Cohort.starts_on.desc())))


def _number(form, name: str, label, default: int = 0) -> int:
    text = (form.get(name) or "").strip()
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise AutomationError(_l("%(field)s must be a whole number.", field=label)) from None
    if abs(number) > 100_000:  # beyond any delay, day or id here (and a database integer)
        raise AutomationError(_l("%(field)s is out of range.", field=label))
    return number


def _list(text: str) -> list[str]:
    """A comma- or line-separated list, as typed (Chinese commas too)."""
    return [part.strip() for part in text.replace("，", ",").replace("\n", ",").split(",") if part.strip()]


def _values_from(form) -> dict:
    """The form as save_automation's values; a number that is not one is refused here."""
    params = {}
    for number, line in enumerate((form.get("sms_params") or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, variable = line.partition("=")
        if not sep or not name.strip() or not variable.strip():
            raise AutomationError(
                _l("Text message parameters, line %(number)d: write it as name = variable.", number=number)
            )
        params[name.strip()] = variable.strip()
    stage_id = _number(form, "stage_id", _l("Stage"), default=0) or None
    weekday = _number(form, "weekday", _l("Day of the week"), default=0) or None
    cohort_ids = []
    for value in form.getlist("audience_cohorts"):
        cohort_ids.append(_number({"v": value}, "v", _l("Cohort")))
    return {
        "name": " ".join((form.get("name") or "").split())[:120] or str(_l("Untitled automation")),
        "trigger": form.get("trigger"),
        "stage_id": stage_id,
        "delay_minutes": _number(form, "delay_days", _l("Delay (days)")) * 1440
        + _number(form, "delay_hours", _l("Delay (hours)")) * 60,
        "offset_days": _number(form, "offset_days", _l("Days from the start")),
        "weekday": weekday,
        "at_time": (form.get("at_time") or "").strip()[:5],
        "kind": form.get("kind"),
        "channels": form.get("channels", ""),
        "subject_zh": form.get("subject_zh", "").strip(),
        "subject_en": form.get("subject_en", "").strip(),
        "body_zh": form.get("body_zh", "").replace("\r\n", "\n"),
        "body_en": form.get("body_en", "").replace("\r\n", "\n"),
        "sms_template": form.get("sms_template", "").strip()[:60],
        "sms_params": params,
        "with_story": form.get("with_story") == "1",
        "any_day": form.get("any_day") == "1",
        "audience": {
            "stages": form.getlist("audience_stages"),
            "sites": _list(form.get("audience_sites", "")),
            "positions": _list(form.get("audience_positions", "")),
            "cohorts": cohort_ids,
            "tiers": [t for t in form.getlist("audience_tiers") if t in set(Tier)],
            "tags": _list(form.get("audience_tags", "")),
            "locales": [loc for loc in form.getlist("audience_locales") if loc in LOCALES],
        },
    }


def _preview(automation: Automation) -> dict:
    """The preview section: candidates matching what was searched, and the message for the chosen one."""
    search = (request.args.get("who") or "").strip()[:100]
    chosen_id = request.args.get("candidate", type=int)
    matches: list[Candidate] = []
    if search:
        pattern = f"%{search}%"
        matches = list(
            db.session.scalars(
                sa.select(Candidate)
                .where(
                    sa.or_(
                        Candidate.name.ilike(pattern), Candidate.phone.ilike(pattern), Candidate.email.ilike(pattern)
                    )
                )
                .order_by(Candidate.name, Candidate.id)
                .limit(PREVIEW_MATCHES + 1)
            )
        )
        if len(matches) == 1:
            chosen_id = matches[0].id
    result = {"search": search, "matches": matches[:PREVIEW_MATCHES], "more": len(matches) > PREVIEW_MATCHES}
    if chosen_id is not None:
        candidate = db.session.get(Candidate, chosen_id)
        if candidate is None:
            abort(404)
        result["candidate"] = candidate
        now = utcnow()
        try:
            result["subject"], result["body"], result["sms"] = preview(automation, candidate, now)
        except TemplateError as error:
            result["error"] = str(error)
        result["would_not_go"] = would_not_go(automation, candidate, now)
    return result
