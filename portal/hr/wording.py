"""How the back-office words each vocabulary: tiers, severities, outcomes, ways of leaving, rules and flag reasons."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import g
from flask_babel import lazy_gettext as _l

from portal.i18n import localized
from portal.models import Flag
from portal.models.candidates import Channel, LeftKind, Tier
from portal.models.contacts import ContactChannel, ContactOutcome
from portal.models.engagement import Device, EventKind
from portal.models.flags import HR_OUTCOMES, URGENT_DAYS_FOR_D, Outcome, Severity
from portal.services.importing import FIELD_LABELS as IMPORT_FIELD_LABELS
from portal.services.scan import RULES_BY_NAME
from portal.services.worktime import WorkCalendar
from portal.templating import local_date, local_datetime

TIER_LABELS = {Tier.A: _l("on track"), Tier.B: _l("watch"), Tier.C: _l("at risk"), Tier.D: _l("likely lost")}
SEVERITY_LABELS = {Severity.URGENT: _l("Urgent"), Severity.WARNING: _l("Warning")}
OUTCOME_LABELS = {
    Outcome.REACHED_BY_PHONE: _l("Reached by phone"),
    Outcome.REASSURED: _l("Candidate reassured"),
    Outcome.RESCHEDULED: _l("Rescheduled"),
    Outcome.WITHDREW: _l("Candidate withdrew"),
    Outcome.NO_ANSWER: _l("No answer"),
    Outcome.CLEARED: _l("cleared: its cause is gone"),
}
LEFT_KIND_LABELS = {
    LeftKind.DECLINED: _l("Declined the offer"),
    LeftKind.WITHDREW: _l("Withdrew"),
    LeftKind.NO_SHOW: _l("Did not show up"),
    LeftKind.UNREACHABLE: _l("Not reachable"),
    LeftKind.UNSUITABLE: _l("Not suitable"),
}
CONTACT_CHANNEL_LABELS = {
    ContactChannel.PHONE: _l("Call"),
    ContactChannel.WECHAT: _l("WeChat"),
    ContactChannel.SMS: _l("Text message"),
    ContactChannel.IN_PERSON: _l("In person"),
}
CONTACT_OUTCOME_LABELS = {
    ContactOutcome.REACHED: _l("Reached them"),
    ContactOutcome.NO_ANSWER: _l("No answer"),
    ContactOutcome.ANOTHER_DATE: _l("Wants another date"),
    ContactOutcome.DECLINING: _l("Declining"),
}
CONTACT_CHANNEL_CHOICES = [(channel.value, label) for channel, label in CONTACT_CHANNEL_LABELS.items()]
CONTACT_OUTCOME_CHOICES = [(outcome.value, label) for outcome, label in CONTACT_OUTCOME_LABELS.items()]
EVENT_KIND_LABELS = {
    EventKind.VIEW: _l("Opened the page"),
    EventKind.STORY: _l("Read a story"),
    EventKind.CHECKLIST: _l("Ticked the checklist"),
    EventKind.CALENDAR: _l("Saved the calendar"),
    EventKind.PREFETCH: _l("Fetched by a link preview (not counted)"),
}
DEVICE_LABELS = {
    Device.MOBILE: _l("phone"),
    Device.TABLET: _l("tablet"),
    Device.DESKTOP: _l("computer"),
    Device.BOT: _l("bot"),
    Device.UNKNOWN: _l("unknown"),
}
LINK_CHANNEL_LABELS = {
    Channel.QR: _l("QR code / by hand"),
    Channel.CLI: _l("command line"),
    Channel.EMAIL: _l("email"),
    Channel.SMS: _l("text message"),
}
# The staff changes on a candidate's page (services.audit.record_on_candidate actions).
AUDIT_ACTION_LABELS = {
    "candidate.add": _l("Added"),
    "candidate.edit": _l("Profile edited"),
    "candidate.note": _l("Note added"),
    "candidate.started": _l("Marked as started"),
    "candidate.left": _l("Marked as left"),
    "candidate.reactivated": _l("Re-activated"),
    "contact.log": _l("Contact logged"),
    "stage.move": _l("Stage moved"),
    "cohort.assign": _l("Cohort assigned"),
    "thread.answer": _l("Question answered"),
    "thread.accept": _l("Request accepted"),
    "thread.decline": _l("Request declined"),
    "cohort.waitlist": _l("On a cohort's waitlist"),
    "cohort.changed": _l("Their cohort's dates or place changed"),
    "cohort.cancelled": _l("Their cohort was cancelled"),
    "cohort.confirmed": _l("Confirmed they will come"),
    "calendar.subscribe": _l("Subscribed their calendar"),
    "store.assign": _l("Store assigned"),
    "link.issue": _l("Link issued"),
    "link.revoke_all": _l("All links revoked"),
    "message.queue": _l("Message queued"),
    "message.retry": _l("Message sent again"),
    "tier.override": _l("Risk tier set"),
    "flag.claim": _l("Flag taken"),
    "flag.snooze": _l("Flag snoozed"),
    "flag.no_answer": _l("No answer; flag back next morning"),
    "flag.resolve": _l("Flag resolved"),
}


# The profile fields an edit names (services.candidates.PROFILE_FIELDS), worded as the import words them.
PROFILE_FIELD_LABELS = {
    **{field: IMPORT_FIELD_LABELS[field] for field in ("name", "phone", "email", "position", "site", "source_channel")},
    "district": _l("District"),
    "owner_id": IMPORT_FIELD_LABELS["owner"],
    "tags": _l("Tags"),
}


def _flag_detail(match: re.Match, words: dict) -> str:
    rule, rest = match["rule"], match["rest"] or ""
    if rest.startswith(("until ", "back ")):
        rest = local_datetime(datetime.fromisoformat(rest.split(" ", 1)[1]))
    elif rest:
        rest = outcome_label(rest)
    return rule_label(rule) + (f" · {rest}" if rest else "")


EARLIER_REVOKED = _l("earlier links revoked")  # outside the f-string below: the extractor cannot see into one

# How each kind of staff change's detail (written in English for logs and exports by the services) reads on a page:
# a pattern of what the service writes, and the words made of its parts.
_COHORT_DETAIL = re.compile(r"cohort (?:(?P<id>\d+)|cleared)(?P<rest>.*)")
_STORE_DETAIL = re.compile(r"store (?:(?P<id>\d+)|cleared)(?P<rest>.*)")
COHORT_DETAIL_WORDS = {
    "": "",
    ": no place left": _l("no place left for them on coming back"),
    ": a place freed on the waitlist": _l("a place freed on the waitlist"),
    ": dates": _l("new dates"),
    ": place": _l("a new place"),
    ": dates and place": _l("new dates and place"),
}


def _named_detail(kind: str, none: str) -> Callable[[re.Match, dict], str]:
    """ "cohort 12: dates" as "<its name> · new dates"; "cohort cleared" as ``none``."""

    def detail(match: re.Match, words: dict) -> str:
        name = words.get(kind, {}).get(match["id"], "#" + match["id"]) if match["id"] else none
        rest = COHORT_DETAIL_WORDS.get(match["rest"], match["rest"])
        return f"{name} · {rest}" if rest else str(name)

    return detail


_cohort_detail = _named_detail("cohorts", _l("no cohort"))
_store_detail = _named_detail("stores", _l("no store"))


COHORT_ACTIONS = ("cohort.assign", "cohort.waitlist", "cohort.changed", "cohort.cancelled", "cohort.confirmed")
_AUDIT_DETAILS: dict[str, tuple[re.Pattern, Callable[[re.Match, dict], str]]] = {
    **dict.fromkeys(COHORT_ACTIONS, (_COHORT_DETAIL, _cohort_detail)),
    "store.assign": (_STORE_DETAIL, _store_detail),
    "stage.move": (re.compile(r"to (?P<stage>\S+)"), lambda m, w: w["stages"].get(m["stage"], m["stage"])),
    "candidate.add": (
        re.compile(r"at (?P<stage>\S+)"),
        lambda m, w: str(_l("at %(stage)s", stage=w["stages"].get(m["stage"], m["stage"]))),
    ),
    "candidate.reactivated": (
        re.compile(r"at (?P<stage>\S+)"),
        lambda m, w: str(_l("at %(stage)s", stage=w["stages"].get(m["stage"], m["stage"]))),
    ),
    "contact.log": (
        re.compile(r"(?P<channel>\w+): (?P<outcome>\w+)"),
        lambda m, w: f"{contact_channel_label(m['channel'])} · {contact_outcome_label(m['outcome'])}",
    ),
    "candidate.left": (
        re.compile(r"(?P<kind>\w+): (?P<reason>.*)"),
        lambda m, w: f"{left_kind_label(m['kind'])} · {w['reasons'].get(m['reason'], m['reason'])}",
    ),
    "candidate.edit": (
        re.compile(r"(?P<fields>[\w, ]+)"),
        lambda m, w: ", ".join(label_of(PROFILE_FIELD_LABELS, field) for field in m["fields"].split(", ")),
    ),
    "link.issue": (
        re.compile(r"link \d+ by (?P<channel>\w+)(?P<revoked>, earlier links revoked)?"),
        lambda m, w: (
            label_of(LINK_CHANNEL_LABELS, m["channel"]) + (" · " + str(EARLIER_REVOKED) if m["revoked"] else "")
        ),
    ),
    "message.queue": (
        re.compile(r"message \d+: (?P<what>link|message) by (?P<channels>[\w ]+?)(?P<urgent>, urgent)?"),
        lambda m, w: " · ".join(
            [
                str(_l("the link") if m["what"] == "link" else _l("a message")),
                " → ".join(label_of(LINK_CHANNEL_LABELS, channel) for channel in m["channels"].split(" or ")),
            ]
            + ([str(_l("urgent"))] if m["urgent"] else [])
        ),
    ),
    "link.revoke_all": (
        re.compile(r"(?P<count>\d+) revoked"),
        lambda m, w: str(_l("%(count)s revoked", count=m["count"])),
    ),
    "tier.override": (
        re.compile(r"override (?P<tier>\w+)"),
        lambda m, w: m["tier"] if m["tier"] in set(Tier) else str(_l("back to the derived tier")),
    ),
    **{
        action: (re.compile(r"flag \d+ \((?P<rule>\w+)\)(?:: (?P<rest>.*))?"), _flag_detail)
        for action in ("flag.claim", "flag.snooze", "flag.no_answer", "flag.resolve")
    },
}


def audit_detail(action: str, detail: str, words: dict) -> str:
    """A staff change's detail in the reader's language; ``words``: stage labels by key and reason labels by
    their English label. A detail in a shape this does not know is shown as it was written."""
    known = _AUDIT_DETAILS.get(action)
    match = known[0].fullmatch(detail) if known and detail else None
    return known[1](match, words) if known and match else detail


def label_of(labels: dict, value: str | None) -> str:
    """A vocabulary value as people read it; an unknown one (an older version's) as it is stored."""
    return str(labels.get(value, value or ""))


# What HR choose from when they close a flag, in this order.
OUTCOME_CHOICES = [(outcome.value, OUTCOME_LABELS[outcome]) for outcome in HR_OUTCOMES]


TIER_MEANINGS = {
    Tier.A: _l("No open flag."),
    Tier.B: _l("One warning is open."),
    Tier.C: _l("An urgent flag, or two warnings, are open."),
    Tier.D: _l("A flag has been urgent for %(days)s days or more.", days=URGENT_DAYS_FOR_D),
}


def tier_meaning(tier: str) -> str:
    return str(TIER_MEANINGS.get(tier, ""))  # type: ignore[call-overload]


def tier_label(tier: str) -> str:
    return str(TIER_LABELS.get(tier, tier))  # type: ignore[call-overload]


def tier_labels() -> dict[str, str]:
    """Each tier, A to D, with its label in the reader's language."""
    return {tier.value: str(label) for tier, label in TIER_LABELS.items()}


def flag_badge(flag: Flag) -> str:
    """A flag's badge: its severity; a task is a "Task" until it escalates to urgent, then "Overdue"."""
    if flag.overdue_since is not None:
        return str(_l("Overdue"))
    if flag.is_task and flag.severity == Severity.WARNING:
        return str(_l("Task"))
    return severity_label(flag.severity)


def severity_label(severity: str) -> str:
    return str(SEVERITY_LABELS.get(severity, severity))  # type: ignore[call-overload]


def outcome_label(outcome: str | None) -> str:
    return str(OUTCOME_LABELS.get(outcome, outcome or ""))  # type: ignore[call-overload]


def left_kind_label(kind: str | None) -> str:
    return str(LEFT_KIND_LABELS.get(kind, kind or ""))  # type: ignore[call-overload]


def contact_channel_label(channel: str) -> str:
    return str(CONTACT_CHANNEL_LABELS.get(channel, channel))  # type: ignore[call-overload]


def contact_outcome_label(outcome: str) -> str:
    return str(CONTACT_OUTCOME_LABELS.get(outcome, outcome))  # type: ignore[call-overload]


def rule_label(name: str) -> str:
    rule = RULES_BY_NAME.get(name)
    return str(rule.label) if rule else name


def whose_turn(flag: Flag) -> str:
    """Who has to move: a late step of ours is never worded as the candidate being late."""
    rule = RULES_BY_NAME.get(flag.rule)
    if flag.is_task:
        return str(_l("They wait for our answer"))
    return str(_l("Our side is late") if rule is not None and rule.our_side else _l("Reach out to them"))


def working_time_words(amount: timedelta) -> str:
    """ "2 h 5 min" of working time (hours and minutes are what a working day is counted in)."""
    minutes = int(amount.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return str(_l("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes))
    return str(_l("%(minutes)d min", minutes=minutes))


def waited(since: datetime | None, now: datetime) -> str:
    """How long a candidate has waited for HR in working time (the work calendar's, read once per request)."""
    if since is None:
        return "?"
    if "work_calendar" not in g:
        g.work_calendar = WorkCalendar(now)
    return working_time_words(g.work_calendar.working_time_between(since, now))


def flag_reason(flag: Flag, now: datetime) -> str:
    """The flag's reason in the reader's language, worded by its rule from what the flag is about."""
    rule = RULES_BY_NAME.get(flag.rule)
    if rule is None:
        return flag.reason
    candidate = flag.candidate
    stage = candidate.current_stage
    facts = {
        "when": local_datetime(flag.evidence_at),
        "days": (now - flag.evidence_at).days if flag.evidence_at else "?",
        "date": local_date(candidate.cohort.starts_on) if candidate.cohort else "?",
        "stage": localized(stage, "label") if stage else "?",
        "stage_side": stage.side if stage else None,
    }
    if flag.is_task:
        facts["waited"] = waited(flag.evidence_at, now)
    return rule.describe(facts)


# Where a year of the work calendar came from (models.calendar.CalendarSource).
CALENDAR_SOURCE_LABELS = {
    "library": _l("from the holidays package"),
    "file": _l("entered by an admin"),
    "admin": _l("entered by an admin"),
}


# Why the outbox did not send a message (services.outbox keeps these words in English in the row).
DROP_REASONS = {
    "the candidate left": _l("the candidate left"),
    "no email address": _l("no email address"),
    "not an email address": _l("not an email address"),
    "no mobile number": _l("no mobile number"),
    "no SMS gateway": _l("no text messages set up"),
    "no SMS template for this message": _l("no text message template for this message"),
    "they stopped automated messages": _l("they stopped automated messages"),
    "weekly cap reached": _l("the weekly cap of automated messages was reached"),
    "the automation was switched off": _l("the automation was switched off"),
    "the automation was deleted": _l("the automation was deleted"),
    "moved to another cohort": _l("they moved to another cohort"),
    "the training dates changed": _l("the training dates changed"),
    "the training was cancelled": _l("the training was cancelled"),
    "nothing left open on the checklist": _l("nothing was left open on the checklist"),
    "the story is no longer published": _l("the story is no longer published"),
    "they are not in its audience": _l("they are not in its audience"),
}


def message_reason(reason: str) -> str:
    """A message's reason in the reader's language, each channel's in turn; a server's own words as it said
    them."""
    return "; ".join(label_of(DROP_REASONS, part) for part in reason.split("; "))


OUTBOX_STATUS_LABELS = {
    "queued": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "dropped": _l("not sent"),
}


TRIGGER_LABELS = {
    "stage_entered": _l("entering a stage"),
    "cohort_moved": _l("moved to another cohort"),
    "cohort_start": _l("a time relative to the cohort's start"),
    "weekly": _l("every week"),
    "checklist_due": _l("a required checklist item still open on its due day"),
    "notice_unseen": _l("the training notice not seen"),
}
MESSAGE_KIND_LABELS = {
    "automated": _l("ordinary (respects working hours, the weekly cap and those who stopped messages)"),
    "offer_decision": _l("essential: the offer decision"),
    "training_change": _l("essential: a training change"),
}
WEEKDAY_LABELS = {
    1: _l("Monday"),
    2: _l("Tuesday"),
    3: _l("Wednesday"),
    4: _l("Thursday"),
    5: _l("Friday"),
    6: _l("Saturday"),
    7: _l("Sunday"),
}


def _duration(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours = rest // 60
    parts = []
    if days:
        parts.append(str(_l("%(count)d d", count=days)))
    if hours or not parts:
        parts.append(str(_l("%(count)d h", count=hours)))
    return " ".join(parts)


def automation_when(automation) -> str:
    """An automation's trigger in a line: "1 h after entering Interview passed", "every Friday at 15:00"."""
    trigger = automation.trigger
    if trigger == "stage_entered":
        stage = localized(automation.stage, "label") if automation.stage else "?"
        if not automation.delay_minutes:
            return str(_l("on entering %(stage)s", stage=stage))
        return str(_l("%(delay)s after entering %(stage)s", delay=_duration(automation.delay_minutes), stage=stage))
    if trigger == "cohort_moved":
        return str(_l("when moved to another cohort"))
    if trigger == "cohort_start":
        days, at = automation.offset_days, automation.at_time
        if days < 0:
            return str(_l("%(days)d days before the cohort starts, at %(at)s", days=-days, at=at))
        if days > 0:
            return str(_l("%(days)d days after the cohort starts, at %(at)s", days=days, at=at))
        return str(_l("on the cohort's first day, at %(at)s", at=at))
    if trigger == "weekly":
        day = WEEKDAY_LABELS.get(automation.weekday or 0, "?")
        return str(_l("every %(day)s at %(at)s", day=day, at=automation.at_time))
    if trigger == "checklist_due":
        return str(_l("required checklist items open on their due day, at %(at)s", at=automation.at_time))
    return str(_l("training notice not seen %(delay)s after it was given", delay=_duration(automation.delay_minutes)))
