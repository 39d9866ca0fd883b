"""Bulk actions from the candidates list: each candidate goes through the same service as one at a time.

Each candidate is changed in a savepoint of its own. A refusal (the service's own error, with its reason)
rolls back that candidate alone and is reported beside their name; the others still apply, and the
request commits once. Ids the user may not see are reported as not found, exactly like ids that do not
exist: the caller passes only the candidates the user may see (hr.queries.visible_among).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from portal.models import Candidate, Stage, User
from portal.services import savepoint
from portal.services.audit import record_audit
from portal.services.candidates import CandidateError, parse_tags, update_profile
from portal.services.cohorts import CohortError, Placement, place_in_cohort
from portal.services.outbox import OutboxError, send_link_by_hand, send_note_by_hand
from portal.services.stages import StageError, move_to_stage

# At most this many candidates per action: a page of the list holds at most 100.
MAX_BULK = 100


class BulkAction(StrEnum):
    TAG = "tag"  # add a tag
    OWNER = "owner"  # give them to an owner (or to nobody)
    COHORT = "cohort"  # put them in a training cohort
    STAGE = "stage"  # move them to a stage
    LINK = "link"  # send each their link (email, else a text message), through the outbox
    NOTE = "note"  # send each the same written message, by email


class BulkOutcome(StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"  # it was so already
    WAITLISTED = "waitlisted"  # the cohort is full: they wait for a place in it
    REFUSED = "refused"  # the service said no; ``reason`` says why
    NOT_FOUND = "not_found"  # no such candidate, or not one the user may see


@dataclass
class BulkRow:
    candidate_id: int
    name: str | None  # None when not found: nothing about them is shown
    outcome: BulkOutcome
    reason: str = ""


@dataclass
class BulkResult:
    action: BulkAction
    rows: list[BulkRow] = field(default_factory=list)

    def count(self, outcome: BulkOutcome) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)


_REFUSALS = (CandidateError, StageError, CohortError, OutboxError)


def _step(
    action: BulkAction,
    *,
    actor: User,
    now: datetime,
    tag: str,
    owner_id: int | None,
    cohort_id: int | None,
    stage: Stage | None,
    request_key: str,
    text: str,
    with_link: bool,
) -> Callable[[Candidate], bool | BulkOutcome]:
    """What the action does to one candidate, through its service; True when something changed (or the
    outcome, when it is neither done nor unchanged)."""
    if action == BulkAction.LINK:

        def send_link(candidate: Candidate) -> bool:
            queued = send_link_by_hand(candidate, actor_id=actor.id, request_key=request_key, urgent=False, now=now)
            return queued is not None  # None: this form was sent before (a refresh), and queued it then

        return send_link
    if action == BulkAction.NOTE:

        def send_note(candidate: Candidate) -> bool:
            queued = send_note_by_hand(
                candidate,
                actor_id=actor.id,
                request_key=request_key,
                text=text,
                with_link=with_link,
                urgent=False,
                now=now,
            )
            return queued is not None

        return send_note
    if action == BulkAction.TAG:

        def add_tag(candidate: Candidate) -> bool:
            tags = parse_tags(", ".join([*(candidate.tags or []), tag]))  # the profile's own checks: length, count
            return bool(update_profile(candidate, actor=actor, now=now, tags=tags))

        return add_tag
    if action == BulkAction.OWNER:
        return lambda candidate: bool(update_profile(candidate, actor=actor, now=now, owner_id=owner_id))
    if action == BulkAction.COHORT:

        def place(candidate: Candidate) -> bool | BulkOutcome:
            placement = place_in_cohort(candidate, cohort_id, actor_id=actor.id, now=now)
            return BulkOutcome.WAITLISTED if placement == Placement.WAITLISTED else placement != Placement.UNCHANGED

        return place
    if stage is None:
        raise ValueError("moving to a stage needs the stage")

    def move(candidate: Candidate) -> bool:
        if candidate.current_stage_id == stage.id:
            return False
        move_to_stage(candidate, stage, actor=actor, now=now)
        return True

    return move


def apply_bulk(
    action: BulkAction,
    requested_ids: Sequence[int],
    visible: Sequence[Candidate],
    *,
    actor: User,
    now: datetime,
    tag: str = "",
    owner_id: int | None = None,
    cohort_id: int | None = None,
    stage: Stage | None = None,
    request_key: str = "",
    text: str = "",
    with_link: bool = False,
) -> BulkResult:
    """Apply ``action`` to each requested candidate (each once, in the order asked) that is in ``visible``.

    ``request_key`` names the form for an action that sends (LINK, NOTE: ``text``, ``with_link``): the same
    form sent again sends nothing.
    Returns a row per requested id: done, unchanged, refused with the service's reason, or not found.
    One audit line sums the action up; each change is also audited on its candidate by its service.
    """
    if len(requested_ids) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} candidates at once")
    if action in (BulkAction.LINK, BulkAction.NOTE) and not request_key:
        raise ValueError("sending needs the form's request key")
    step = _step(
        action,
        actor=actor,
        now=now,
        tag=tag,
        owner_id=owner_id,
        cohort_id=cohort_id,
        stage=stage,
        request_key=request_key,
        text=text,
        with_link=with_link,
    )
    by_id = {candidate.id: candidate for candidate in visible}
    result = BulkResult(action)
    for candidate_id in dict.fromkeys(requested_ids):
        candidate = by_id.get(candidate_id)
        if candidate is None:
            result.rows.append(BulkRow(candidate_id, None, BulkOutcome.NOT_FOUND))
            continue
        name = candidate.name  # read before a rollback can expire the object
        try:
            with savepoint():
                changed = step(candidate)
        except _REFUSALS as refusal:
            result.rows.append(BulkRow(candidate_id, name, BulkOutcome.REFUSED, str(refusal)))
            continue
        if not isinstance(changed, BulkOutcome):
            changed = BulkOutcome.DONE if changed else BulkOutcome.UNCHANGED
        result.rows.append(BulkRow(candidate_id, name, changed))
    what = {
        BulkAction.TAG: f"tag {tag}",
        BulkAction.OWNER: f"owner {owner_id or 'none'}",
        BulkAction.COHORT: f"cohort {cohort_id}",
        BulkAction.STAGE: f"stage {stage.key if stage else ''}",
        BulkAction.LINK: "send the link",
        BulkAction.NOTE: "send a message",
    }[action]
    counts = ", ".join(
        f"{result.count(outcome)} {outcome.value.replace('_', ' ')}"
        for outcome in BulkOutcome
        if outcome != BulkOutcome.WAITLISTED or result.count(outcome)
    )
    record_audit("candidates.bulk", actor_user_id=actor.id, detail=f"{what}: {counts}")
    return result
