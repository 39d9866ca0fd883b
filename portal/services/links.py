"""Candidate portal links: issue, revoke, expire, resolve."""

import hashlib
import secrets
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import CalendarFeed, Candidate, Cohort, PortalLink
from portal.models.base import rows_affected
from portal.services.audit import record_on_candidate
from portal.services.worktime import organisation_zone

TOKEN_BYTES = 32  # 256 bits (R1)


def generate_token() -> str:
    """A fresh 256-bit URL-safe token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The only form of a token that is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_expiry(issued_at: datetime, start_date: date | None, left_at: datetime | None) -> datetime:
    """When a link stops working: N days after exit or start, or M days after issue when no start is known."""
    config = current_app.config
    after_start = timedelta(days=config["LINK_DAYS_AFTER_START"])
    if left_at is not None:
        return left_at + after_start
    if start_date is not None:  # the start day begins at midnight where the organisation is, not in UTC
        return datetime.combine(start_date, time(0, 0), tzinfo=organisation_zone()).astimezone(UTC) + after_start
    return issued_at + timedelta(days=config["LINK_DAYS_WITHOUT_START"])


def _candidate_start_date(candidate: Candidate) -> date | None:
    if candidate.cohort_id is None:
        return None
    return db.session.get_one(Cohort, candidate.cohort_id).starts_on


def issue_link(
    candidate: Candidate,
    channel: str,
    *,
    now: datetime,
    issued_by_id: int | None = None,
    revoke_others: bool = False,
    rearm: bool = True,
) -> tuple[PortalLink, str]:
    """Create a link for one delivery and return it with its token (shown once, never stored); audited.

    ``rearm`` False (a link a message carries): "link not opened" keeps counting from the first delivery
    or HR's last re-issue, unless this is the candidate's first link.
    """
    if revoke_others:
        revoke_links(candidate.id, now=now)
    token = generate_token()
    link = PortalLink(
        candidate_id=candidate.id,
        token_hash=hash_token(token),
        channel=channel,
        issued_at=now,
        issued_by_id=issued_by_id,
        expires_at=link_expiry(now, _candidate_start_date(candidate), candidate.left_at),
    )
    db.session.add(link)
    db.session.flush()
    if rearm or candidate.link_issued_at is None:
        _remember_newest_link(candidate.id)
    detail = f"link {link.id} by {channel}" + (", earlier links revoked" if revoke_others else "")
    record_on_candidate("link.issue", candidate.id, actor_user_id=issued_by_id, detail=detail)
    return link, token


def _remember_newest_link(candidate_id: int) -> None:
    """Keep ``candidate.link_issued_at`` (what the link-not-opened rule reads) in step with the links."""
    newest = (
        sa.select(sa.func.max(PortalLink.issued_at))
        .where(PortalLink.candidate_id == candidate_id, PortalLink.revoked_at.is_(None))
        .scalar_subquery()
    )
    db.session.execute(
        sa.update(Candidate).where(Candidate.id == candidate_id).values(link_issued_at=newest),
        execution_options={"synchronize_session": "fetch"},
    )


def revoke_links(candidate_id: int, *, now: datetime) -> int:
    """Revoke every active link of a candidate; returns how many were revoked."""
    result = db.session.execute(
        sa.update(PortalLink)
        .where(PortalLink.candidate_id == candidate_id, PortalLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    # Calendar subscriptions follow the links' rules: a re-issue or leaving stops them too.
    db.session.execute(
        sa.update(CalendarFeed)
        .where(CalendarFeed.candidate_id == candidate_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    _remember_newest_link(candidate_id)
    return rows_affected(result)


def revoke_all_links(candidate: Candidate, *, actor_id: int, now: datetime) -> int:
    """HR stop every link of a candidate at once (a lost phone, a forwarded message); audited."""
    revoked = revoke_links(candidate.id, now=now)
    record_on_candidate("link.revoke_all", candidate.id, actor_user_id=actor_id, detail=f"{revoked} revoked")
    return revoked


def find_active_link(token: str, now: datetime) -> tuple[int, int, datetime] | None:
    """(link_id, candidate_id, expires_at) for a usable token; None for unknown, revoked and expired alike."""
    row = db.session.execute(
        sa.select(PortalLink.id, PortalLink.candidate_id, PortalLink.expires_at).where(
            PortalLink.token_hash == hash_token(token), PortalLink.works_at(now)
        )
    ).first()
    return (row.id, row.candidate_id, row.expires_at) if row else None


def public_link_url(token: str) -> str:
    """The absolute URL a candidate opens, built from configuration, never from the Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/c/{token}"


# Calendar subscriptions: a token of their own per subscription, under the links' rules.
MAX_CALENDAR_FEEDS = 5  # phones and computers a candidate subscribes from; a sixth retires the oldest


def issue_calendar_feed(candidate: Candidate, *, now: datetime) -> str:
    """A calendar subscription for the candidate (their phone's calendar fetches it and follows every
    change); the token is returned once, to be shown, and never stored."""
    token = generate_token()
    db.session.add(CalendarFeed(candidate_id=candidate.id, token_hash=hash_token(token), created_at=now))
    db.session.flush()
    working = sa.select(CalendarFeed.id).where(
        CalendarFeed.candidate_id == candidate.id, CalendarFeed.revoked_at.is_(None)
    )
    oldest = working.order_by(CalendarFeed.id.desc()).offset(MAX_CALENDAR_FEEDS)
    db.session.execute(sa.update(CalendarFeed).where(CalendarFeed.id.in_(oldest)).values(revoked_at=now))
    record_on_candidate("calendar.subscribe", candidate.id, actor_user_id=None, detail="")
    return token


def find_calendar_feed(token: str, now: datetime) -> int | None:
    """The candidate a working subscription token belongs to (its fetch noted), or None: unknown, revoked, or
    past the expiry their portal link would have."""
    feed = db.session.scalars(sa.select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token))).first()
    if feed is None or feed.revoked_at is not None:
        return None
    candidate = db.session.get_one(Candidate, feed.candidate_id)
    if link_expiry(feed.created_at, _candidate_start_date(candidate), candidate.left_at) <= now:
        return None
    feed.last_fetched_at = now
    return candidate.id


def calendar_feed_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/cal/{token}.ics"
