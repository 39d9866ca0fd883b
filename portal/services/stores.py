"""Stores hires join after training: admins keep the list, HR give each hire a store with a place for them.

A place is taken by an active or started hire assigned to the store, as in a cohort (services.cohorts'
``TAKES_A_PLACE``: someone who left frees theirs). Places hold under concurrency by the cohorts' rule: each
assignment first writes the store's row (a no-op UPDATE), which makes a second assignment to the same store
wait for the first to commit on PostgreSQL (a row lock) and on SQLite (the write lock) before it counts.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Store
from portal.models.candidates import Status
from portal.models.cohorts import one_line
from portal.services.audit import record_audit, record_on_candidate
from portal.services.cohorts import TAKES_A_PLACE


class StoreError(ValueError):
    """A store that cannot be saved as given, or a hire who cannot join it; the message says why (``field``:
    which input, when a form's), and nothing changed."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.field = field


STORE_FIELDS = ("name", "district", "address", "open_places")
LENGTHS = {"name": 120, "district": 60, "address": 300}
MAX_OPEN_PLACES = 10_000


def _taken(*conditions) -> sa.Select:
    """Places taken per store (of the stores ``conditions`` name), by the cohorts' rule of who takes one."""
    return (
        sa.select(Candidate.store_id, sa.func.count().label("taken"))
        .where(Candidate.status.in_(TAKES_A_PLACE), *conditions)
        .group_by(Candidate.store_id)
    )


def places_taken(store_ids: Iterable[int]) -> dict[int, int]:
    """How many places each of ``store_ids`` has taken (a store nobody joined: absent)."""
    ids = list(store_ids)
    if not ids:
        return {}
    return dict(db.session.execute(_taken(Candidate.store_id.in_(ids))).all())


def hold_store(store_id: int) -> None:
    """Hold the store's row until commit, so that counting its hires and taking a place is one step."""
    db.session.execute(
        sa.update(Store)
        .where(Store.id == store_id)
        .values(open_places=Store.open_places)
        .execution_options(synchronize_session=False)
    )


def stores_for(candidate: Candidate, district: str | None = None) -> sa.Select:
    """Every store with its places taken (``taken``), those in ``district`` (the candidate's own, unless
    given) first, then by district and name."""
    taken = _taken(Candidate.store_id.is_not(None)).subquery("taken_by_store")
    query = sa.select(Store, sa.func.coalesce(taken.c.taken, 0).label("taken")).outerjoin(
        taken, taken.c.store_id == Store.id
    )
    district = district or candidate.district
    if district:  # someone with no district has no stores nearby: not those without one either
        query = query.order_by(sa.case((Store.district == district, 0), else_=1))
    return query.order_by(Store.district, Store.name, Store.id)


def check_store(values: Mapping, store: Store | None) -> dict:
    """``values`` cleaned (text on one line, trimmed; places a number), or a StoreError naming the first field
    that is wrong."""
    cleaned: dict = {field: one_line(str(values.get(field) or "")) for field in LENGTHS}
    if not cleaned["name"]:
        raise StoreError(_l("Give the store a name."), "name")
    for field, most in LENGTHS.items():
        if len(cleaned[field]) > most:
            raise StoreError(_l("At most %(count)d characters.", count=most), field)
    places = values.get("open_places")
    if isinstance(places, str):
        places = places.strip()
        # isascii: int() would also take "+3", "1_000" and digits of other scripts.
        places = int(places) if places.isascii() and places.isdigit() else None
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= MAX_OPEN_PLACES:
        raise StoreError(_l("Places must be a whole number from 0 to %(most)d.", most=MAX_OPEN_PLACES), "open_places")
    if store is not None and store.id is not None:
        hold_store(store.id)
        taken = places_taken([store.id]).get(store.id, 0)
        if places < taken and places < store.open_places:  # over already (a re-activation): may stay, not shrink
            raise StoreError(
                _l("Hires going there already: %(count)d. Places cannot be fewer.", count=taken), "open_places"
            )
    cleaned["open_places"] = places
    return cleaned


def save_store(store: Store | None, values: Mapping, *, actor_id: int, now: datetime) -> Store:
    """Add a store (None) or change one from the admin's form (name required; district, address; how many
    places it has for new hires, never fewer than those going there). Refused with a StoreError, nothing
    changed; audited."""
    cleaned = check_store(values, store)
    if store is None or store.id is None:
        store = store or Store()
        for field, value in cleaned.items():
            setattr(store, field, value)
        db.session.add(store)
        db.session.flush()
        record_audit("store.create", actor_user_id=actor_id, object_type="store", object_id=store.id)
        return store
    changed = [field for field in STORE_FIELDS if getattr(store, field) != cleaned[field]]
    for field in changed:
        setattr(store, field, cleaned[field])
    if changed:
        db.session.flush()
        record_audit(
            "store.edit", actor_user_id=actor_id, object_type="store", object_id=store.id, detail=" ".join(changed)
        )
    return store


def full(store: Store) -> StoreError:
    return StoreError(
        _l(
            "%(store)s is full (places for new hires: %(places)d): choose another.",
            store=store.name,
            places=store.open_places,
        ),
        "store",
    )


def assign_store(candidate: Candidate, store_id: int | None, *, actor_id: int | None, now: datetime) -> bool:
    """The store a hire joins after training, or (None) none; False when it was theirs already.

    Refused with a StoreError, nothing changed: a candidate who left, a store that does not exist, and a
    store whose places are all taken. On the candidate's history (the audit trail).
    """
    if store_id == candidate.store_id:
        return False
    if candidate.status == Status.LEFT:
        raise StoreError(_l("This candidate left: re-activate them first."), "store")
    store = None
    if store_id is not None:
        store = db.session.get(Store, store_id)
        if store is None:
            raise StoreError(_l("That store does not exist."), "store")
        hold_store(store.id)
        if places_taken([store.id]).get(store.id, 0) >= store.open_places:
            raise full(store)
    candidate.store_id = store.id if store else None
    db.session.flush()
    db.session.expire(candidate, ["store"])  # the relationship follows the new id when next read
    detail = f"store {store.id}" if store else "store cleared"
    record_on_candidate("store.assign", candidate.id, actor_user_id=actor_id, detail=detail)
    return True


def keep_store_if_free(candidate: Candidate) -> None:
    """Someone back from the talent pool keeps the store they had only while it still has a place for them (they
    count again, as of the caller's flush); otherwise they have none, for HR to choose again."""
    if candidate.store_id is None:
        return
    store = db.session.get_one(Store, candidate.store_id)
    hold_store(store.id)
    if places_taken([store.id]).get(store.id, 0) > store.open_places:
        candidate.store_id = None
        db.session.flush()
        db.session.expire(candidate, ["store"])
        record_on_candidate("store.assign", candidate.id, actor_user_id=None, detail="store cleared: no place left")
