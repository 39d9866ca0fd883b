"""Small ``gen_*`` functions that build test data through the real services and commit."""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from portal.demo import add_checklist, add_stages
from portal.extensions import db
from portal.models import Candidate, Cohort, CohortSession, Flag, Reason, Story, User, utcnow
from portal.models.reasons import DEFAULT_REASONS
from portal.services.links import issue_link
from portal.services.stages import advance_stage

PASSWORD = "correct horse battery staple"


def gen_site(stories: int = 3) -> dict:
    """The demo pipeline, ``stories`` published stories and the demo checklist; returns stages by key."""
    stages = add_stages()
    add_checklist()
    gen_stories(stories)
    return stages


def gen_reasons() -> None:
    """The reasons a new installation starts with (the suite empties every table between tests, so
    only the first test sees the ones the migration seeded)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Reason)):
        return
    db.session.add_all(Reason(position=n, label_zh=zh, label_en=en) for n, (zh, en) in enumerate(DEFAULT_REASONS))
    db.session.commit()


def gen_stories(count: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    db.session.add_all(
        Story(
            title_zh=f"故事 {i}",
            title_en=f"Story {i}",
            summary_zh=f"摘要 {i}",
            summary_en=f"Summary {i}",
            body_zh=f"正文 {i}",
            body_en=f"Body {i}",
            published_at=now - timedelta(hours=i + 1),
        )
        for i in range(count)
    )
    db.session.commit()


def gen_user(role: str = "hr", email: str | None = None, name: str = "HR Person", **fields) -> User:
    count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    user = User(email=email or f"{role}{count}@example.com", name=name, role=role, **fields)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def gen_cohort(starts_on: date | None = None, days: int = 3, **fields) -> Cohort:
    starts_on = starts_on or (utcnow().date() + timedelta(days=10))
    cohort = Cohort(
        name=fields.pop("name", "December cohort"),
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=days - 1),
        place_zh=fields.pop("place_zh", "浦东培训中心"),
        place_en=fields.pop("place_en", "Pudong Centre"),
        address=fields.pop("address", "张杨路 500 号"),
        map_url="https://uri.amap.com/search?keyword=x",
        bring_zh="身份证",
        bring_en="ID card",
        **fields,
    )
    db.session.add(cohort)
    db.session.flush()
    for offset in range(days):
        start = datetime.combine(starts_on + timedelta(days=offset), datetime.min.time(), tzinfo=UTC)
        db.session.add(
            CohortSession(
                cohort_id=cohort.id,
                starts_at=start + timedelta(hours=1),
                ends_at=start + timedelta(hours=9),
                title_zh=f"第 {offset + 1} 天",
                title_en=f"Day {offset + 1}",
            )
        )
    db.session.commit()
    return cohort


def gen_candidate(
    stages: dict | None = None,
    reached: list[tuple[str, datetime]] = (),
    *,
    name: str = "王小明",
    owner: User | None = None,
    cohort: Cohort | None = None,
    **fields,
) -> Candidate:
    """A candidate who reached each (stage key, time) in order."""
    candidate = Candidate(
        name=name, owner_id=owner.id if owner else None, cohort_id=cohort.id if cohort else None, **fields
    )
    db.session.add(candidate)
    db.session.flush()
    for key, at in reached:
        advance_stage(candidate, stages[key], now=at)
    db.session.commit()
    return candidate


def gen_link(candidate: Candidate, channel: str = "qr", now: datetime | None = None, **kwargs) -> str:
    """Issue a link and return its token."""
    _link, token = issue_link(candidate, channel, now=now or utcnow(), **kwargs)
    db.session.commit()
    return token


def open_page(client, candidate: Candidate, **headers):
    """Open a fresh link like a phone would (GET /c/<token>, follow to /me); returns the /me response."""
    token = gen_link(candidate)
    response = client.get(f"/c/{token}", headers=headers)
    assert response.status_code == 303, response.status_code
    return client.get(response.headers["Location"], headers=headers)


def log_in(client, who, password: str = PASSWORD, **kwargs):
    """Post the HR login form like a browser (``who``: a user or an email); returns the response."""
    email = getattr(who, "email", who)
    return client.post("/hr/login", data={"email": email, "password": password}, **kwargs)


def signed_in(client, user: User):
    """The client, logged in as ``user`` (the login must succeed)."""
    response = log_in(client, user)
    assert response.status_code == 303, response.status_code
    return client


def gen_flag(
    candidate: Candidate,
    rule: str = "gone_quiet",
    severity: str = "warning",
    *,
    raised_ago: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    **fields,
) -> Flag:
    """An open flag as the scan would raise it, about a visit four days before ``now``."""
    now = now or utcnow()
    flag = Flag(
        candidate_id=candidate.id,
        rule=rule,
        severity=severity,
        reason="test",
        evidence_at=now - timedelta(days=4),
        raised_at=now - raised_ago,
        **fields,
    )
    db.session.add(flag)
    db.session.commit()
    return flag
