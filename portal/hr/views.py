"""Back-office pages: the candidates list (search, filters, export, bulk actions) and candidates' links."""

from collections import defaultdict

import segno
from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup

from portal.extensions import db
from portal.hr.blueprint import bp, link_marker
from portal.hr.forms import BulkForm, CandidateListForm
from portal.hr.queries import (
    ListFilters,
    assignable_cohorts,
    export_rows,
    list_choices,
    list_count,
    list_page,
    open_rules_by_candidate,
    visible_among,
    visible_candidates,
)
from portal.hr.wording import tier_label
from portal.i18n import localized
from portal.jobs.messages import wake_sender
from portal.models import Candidate, utcnow
from portal.models.candidates import Channel, Tier
from portal.services.bulk import MAX_BULK, BulkAction, BulkOutcome, apply_bulk
from portal.services.exporting import (
    EXPORT_MAX_ROWS,
    FORMATS,
    STATUS_LABELS,
    export_filename,
    export_header,
    export_table,
    record_export,
    write_csv,
    write_xlsx,
)
from portal.services.links import issue_link, public_link_url
from portal.services.outbox import NOTE_MAX_CHARACTERS, new_request_key
from portal.services.tiers import override_tier
from portal.services.worktime import organisation_date, organisation_zone
from portal.web import MAX_ID, page_arg, safe_next


def get_candidate_or_404(candidate_id: int) -> Candidate:
    """A candidate the current user may see; anything else is 404, never 403 (no existence leak)."""
    candidate = db.session.scalars(visible_candidates(current_user).where(Candidate.id == candidate_id)).first()
    if candidate is None:
        abort(404)
    return candidate


# Rows per page of the list: the default, and what else HR may choose. A bulk action takes a whole page at most
# (services.bulk.MAX_BULK).
CANDIDATES_PER_PAGE = 25
MORE_PER_PAGE = (50, 100)
SORT_LABELS = {"last_visit": _l("Last visit, newest first"), "name": _l("Name"), "added": _l("Newest added first")}
FLAG_STATE_LABELS = {"open": _l("Any open flag"), "urgent": _l("An urgent flag"), "none": _l("No open flag")}
ANY, UNASSIGNED = "", "none"


def _list_form(choices: dict) -> CandidateListForm:
    """The list's filters from the query string, their choices filled in and checked; a refused value is
    reported on its field and left out of the filter."""
    form = CandidateListForm(formdata=request.args)
    every = [(ANY, _("All"))]
    form.stage.choices = every + [(str(stage.id), localized(stage, "label")) for stage in choices["stages"]]
    form.cohort.choices = every + [(str(id_), name) for id_, name in choices["cohorts"]]
    owners = [(str(id_), name) for id_, name in choices["owners"]]
    if not current_user.is_admin:
        owners = [(str(current_user.id), _("Mine"))]
    form.owner.choices = every + owners + [(UNASSIGNED, _("unassigned"))]
    form.tier.choices = every + [(tier.value, f"{tier.value} · {tier_label(tier)}") for tier in Tier]
    form.flags.choices = every + [(state, str(label)) for state, label in FLAG_STATE_LABELS.items()]
    form.status.choices = every + [(status.value, str(label)) for status, label in STATUS_LABELS.items()]
    form.sort.choices = [(key, str(label)) for key, label in SORT_LABELS.items()]
    form.per.choices = [(str(per), str(per)) for per in dict.fromkeys((CANDIDATES_PER_PAGE, *MORE_PER_PAGE))]
    if "per" not in request.args:
        form.per.data = str(CANDIDATES_PER_PAGE)
    form.validate()
    for field in (form.seen_from, form.seen_to):
        if field.errors:
            field.raw_data = []  # a date input holds only real dates; the error beside it says what was wrong
    return form


def _filters(form: CandidateListForm) -> ListFilters:
    """The filter the form says; a field with an error is left out (the form still shows what was typed)."""

    def value(field):
        return field.default if field.errors else field.data

    def text(field) -> str:
        return (value(field) or "").strip()

    def number(field) -> int | None:
        data = value(field)
        return int(data) if data and data.isdigit() else None

    return ListFilters(
        search=text(form.q),
        stage_id=number(form.stage),
        cohort_id=number(form.cohort),
        owner_id=number(form.owner),
        unassigned=value(form.owner) == UNASSIGNED,
        site=text(form.site),
        position=text(form.position),
        source_channel=text(form.source),
        tier=value(form.tier) or "",
        flags=value(form.flags) or "",
        status=value(form.status) or "",
        seen_from=value(form.seen_from),
        seen_to=value(form.seen_to),
        never_seen=bool(value(form.never_seen)),
        contact_due=bool(value(form.contact_due)),
        sort=value(form.sort) or "last_visit",
    )


def _bulk_form(choices: dict, formdata=None) -> BulkForm:
    """The bulk actions: owners by the same rule as one candidate's profile (HR: themselves or nobody)."""
    form = BulkForm(formdata=formdata, prefix="bulk")
    form.owner.choices = [(str(id_), name) for id_, name in choices["owners"]] + [(UNASSIGNED, _("unassigned"))]
    form.cohort.choices = [("", "—"), *assignable_cohorts(organisation_date(utcnow()))]
    form.stage.choices = [("", "—")] + [
        (str(stage.id), f"{n}. {localized(stage, 'label')}") for n, stage in enumerate(choices["stages"], 1)
    ]
    if formdata is None:
        form.owner.data = str(current_user.id)
        form.next.data = request.full_path.rstrip("?")
        form.request.data = new_request_key()
    return form


def list_url(**changes) -> str:
    """This list with some filters changed (None: left out), back on its first page."""
    return url_for("hr.candidates", **{**request.args.to_dict(), "page": None, **changes})


@bp.get("/")
@login_required
def candidates():
    """The candidates this user looks after (admins: all), searched, filtered, sorted and paged."""
    now = utcnow()
    choices = list_choices(current_user)
    form = _list_form(choices)
    filters = _filters(form)
    per_page = int(form.per.data) if not form.per.errors and form.per.data else CANDIDATES_PER_PAGE
    page = list_page(current_user, filters, now, organisation_zone(), page_arg(), per_page)
    reasons = defaultdict(list)
    for candidate_id, rule in db.session.execute(open_rules_by_candidate([c.id for c in page.items])):
        reasons[candidate_id].append(rule)
    return render_template(
        "hr/candidates.html",
        page=page,
        form=form,
        filtered=filters != ListFilters(sort=filters.sort),
        bulk_form=_bulk_form(choices),
        note_max=NOTE_MAX_CHARACTERS,
        reasons=reasons,
        list_url=list_url,
        status_labels=STATUS_LABELS,
        export_args={key: value for key, value in request.args.items() if key not in ("page", "per")},
    )


@bp.get("/candidates/export.<any(csv, xlsx):fmt>")
@login_required
def export_candidates(fmt: str):
    """The filtered list as a file (CSV for Excel in Chinese, or XLSX), audited with its filter and row count."""
    now = utcnow()
    zone = organisation_zone()
    form = _list_form(list_choices(current_user))
    errors = [str(error) for field in form for error in field.errors]
    filters = _filters(form)
    too_many = not errors and list_count(current_user, filters, now, zone, EXPORT_MAX_ROWS) > EXPORT_MAX_ROWS
    if errors or too_many:
        # Nothing is exported rather than a list other than the one asked for.
        return render_template(
            "hr/list_export_refused.html", errors=errors, too_many=too_many, limit=EXPORT_MAX_ROWS, back=list_url()
        ), 422
    table = export_table(db.session.execute(export_rows(current_user, filters, now, zone, EXPORT_MAX_ROWS)), zone)
    header = export_header()
    body = write_csv(header, table) if fmt == "csv" else write_xlsx(header, table, _("Candidates"))
    record_export(current_user, fmt=fmt, filters=filters.describe(), rows=len(table))
    db.session.commit()
    filename = export_filename(fmt, now, zone)
    return Response(body, mimetype=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.post("/candidates/bulk")
@login_required
def bulk_candidates():
    """One action on the ticked candidates (or the whole page), each through its service; a page of results."""
    now = utcnow()
    choices = list_choices(current_user)
    form = _bulk_form(choices, formdata=request.form)
    back = safe_next(form.next.data, url_for("hr.candidates"))
    valid = form.validate()
    ids = (form.page_ids.data if form.whole_page.data else form.ids.data) or []
    errors = [str(error) for field in form for error in field.errors]
    if valid and not ids:
        errors.append(_("Tick the candidates to act on, or choose every candidate on this page."))
    if len(ids) > MAX_BULK:
        errors.append(_("At most %(count)s candidates at once.", count=MAX_BULK))
    if errors:
        return render_template("hr/list_bulk.html", errors=errors, result=None, back=back), 422
    action = BulkAction(form.action.data)
    stage = next((s for s in choices["stages"] if str(s.id) == form.stage.data), None)
    visible = db.session.scalars(visible_among(current_user, [id_ for id_ in ids if 0 < id_ <= MAX_ID])).all()
    result = apply_bulk(
        action,
        ids,
        visible,
        actor=current_user,
        now=now,
        tag=(form.tag.data or "").strip(),
        owner_id=int(form.owner.data) if form.owner.data and form.owner.data.isdigit() else None,
        cohort_id=int(form.cohort.data) if form.cohort.data else None,
        stage=stage,
        request_key=form.request.data or "",
        text=form.text.data or "",
        with_link=bool(form.with_link.data),
    )
    db.session.commit()
    if action in (BulkAction.LINK, BulkAction.NOTE) and result.count(BulkOutcome.DONE):
        wake_sender()
    return render_template(
        "hr/list_bulk.html", errors=[], result=result, value=_bulk_value(form, choices, action), back=back
    )


def _bulk_value(form: BulkForm, choices: dict, action: BulkAction) -> str:
    """What the action set, as the results page names it: the tag, the owner's, cohort's or stage's name."""
    if action == BulkAction.TAG:
        return (form.tag.data or "").strip()
    if action in (BulkAction.LINK, BulkAction.NOTE):
        return ""
    if action == BulkAction.OWNER:
        names = {str(id_): name for id_, name in choices["owners"]} | {UNASSIGNED: _("unassigned")}
    elif action == BulkAction.COHORT:
        names = {str(id_): name for id_, name in choices["cohorts"]}
    else:
        names = {str(stage.id): localized(stage, "label") for stage in choices["stages"]}
    return names.get(form[action.value].data, "")


@bp.post("/candidates/<int:candidate_id>/tier")
@login_required
def set_tier(candidate_id: int):
    """HR's override of the derived risk tier ("" clears it)."""
    candidate = get_candidate_or_404(candidate_id)
    tier = request.form.get("tier", "")
    if tier and tier not in set(Tier):
        abort(400)
    override_tier(candidate, tier or None, current_user, now=utcnow())
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("hr.candidates")), 303)


@bp.post("/candidates/<int:candidate_id>/link")
@login_required
def issue_candidate_link(candidate_id: int):
    """Issue a new link (revoking the earlier ones) and show it once, with a QR code."""
    candidate = get_candidate_or_404(candidate_id)
    # The form says which link it saw: a refreshed result page (the browser posts again) or a second tab
    # must not revoke the link just shown, which may already be on its way to the candidate.
    seen = request.form.get("issued_before")
    if seen is not None and seen != link_marker(candidate):
        return render_template("hr/link_issued.html", candidate=candidate, stale=True), 409
    link, token = issue_link(candidate, Channel.QR, issued_by_id=current_user.id, revoke_others=True, now=utcnow())
    db.session.commit()
    url = public_link_url(token)
    qr_svg = Markup(segno.make(url, error="m").svg_inline(scale=4, omitsize=True))
    return render_template("hr/link_issued.html", candidate=candidate, url=url, qr_svg=qr_svg, link=link)
