"""Who something is for: one rule (stage, site, position, cohort, tier, tag, language), written once and used by
automations and, later, by story targeting. Each filled field narrows the audience; within a field any value
matches; an empty rule is every active candidate.
"""

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import Candidate, Stage
from portal.models.candidates import Status
from portal.models.flags import tier_is
from portal.models.planner import usually


@dataclass(frozen=True)
class Audience:
    stages: tuple[str, ...] = ()  # stage keys
    sites: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()
    cohorts: tuple[int, ...] = ()
    tiers: tuple[str, ...] = ()  # A–D, HR's override when set, else derived from open flags
    tags: tuple[str, ...] = ()
    locales: tuple[str, ...] = ()  # the candidate's language (the default one when they chose none)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Audience":
        data = data or {}
        return cls(**{f.name: tuple(data.get(f.name) or ()) for f in fields(cls)})

    def to_dict(self) -> dict:
        return {name: list(values) for name, values in asdict(self).items() if values}

    def condition(self, now: datetime) -> sa.ColumnElement[bool]:
        """The rule as a condition on the candidate table (active candidates only), for set-based statements."""
        # Most candidates are active: SQLite, without statistics, would otherwise read all of them by their
        # status instead of the few of a site or a stage by theirs (bench/automations.py).
        conditions: list[sa.ColumnElement[bool]] = [usually(Candidate.status == Status.ACTIVE)]
        if self.stages:
            conditions.append(Candidate.current_stage_id.in_(sa.select(Stage.id).where(Stage.key.in_(self.stages))))
        if self.sites:
            conditions.append(Candidate.site.in_(self.sites))
        if self.positions:
            conditions.append(Candidate.position.in_(self.positions))
        if self.cohorts:
            conditions.append(Candidate.cohort_id.in_(self.cohorts))
        if self.tiers:
            conditions.append(sa.or_(*(tier_is(tier, now) for tier in self.tiers)))
        if self.tags:
            conditions.append(sa.or_(*(_has_tag(tag) for tag in self.tags)))
        if self.locales:
            default = current_app.config["BABEL_DEFAULT_LOCALE"]
            conditions.append(sa.func.coalesce(Candidate.locale, default).in_(self.locales))
        return sa.and_(*conditions)

    def includes(self, candidate_id: int, now: datetime) -> bool:
        """Whether one candidate is in it now: the same SQL as for everyone."""
        found = db.session.scalar(sa.select(Candidate.id).where(Candidate.id == candidate_id, self.condition(now)))
        return found is not None


def _has_tag(tag: str) -> sa.ColumnElement[bool]:
    """Tags are a JSON list, stored as json.dumps writes it (non-ASCII escaped) on both databases: the tag
    as a JSON string, quotes included, is in that text exactly when it is one of the list's items."""
    quoted = json.dumps(tag).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(Candidate.tags, sa.Text).like(f"%{quoted}%", escape="\\")
