"""Back-office reads. Every candidate query goes through ``visible_candidates`` (deny by default)."""

import sqlalchemy as sa

from portal.models import Candidate, User


def visible_candidates(user: User) -> sa.Select:
    """Candidates a user may see: admins all; HR their own and unowned ones."""
    query = sa.select(Candidate)
    if not user.is_admin:
        query = query.where(sa.or_(Candidate.owner_id == user.id, Candidate.owner_id.is_(None)))
    return query


def candidates_list(user: User, search: str = "") -> sa.Select:
    """The candidates page: newest activity first, stage and cohort loaded in the same statement."""
    query = (
        visible_candidates(user)
        .options(sa.orm.joinedload(Candidate.current_stage), sa.orm.joinedload(Candidate.cohort))
        .order_by(Candidate.last_seen_at.desc().nulls_last(), Candidate.id.desc())
    )
    if search:
        query = query.where(Candidate.name.contains(search, autoescape=True))
    return query
