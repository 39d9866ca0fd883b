"""Declarative base and the column types every model shares."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, registry


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC and always reads back timezone-aware, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store timezone-aware UTC times")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: keep naive UTC so comparisons in SQL stay textual and ordered.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: Any) -> sa.Table:
    """A model's Core table, typed as one (hot paths and set-based statements work on tables)."""
    return cast(sa.Table, model.__table__)


def rows_affected(result: sa.Result) -> int:
    """How many rows an UPDATE, DELETE or INSERT … SELECT changed."""
    return cast(sa.CursorResult, result).rowcount


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> sa.Index:
    """An index of the rows meeting ``where`` only, on SQLite and PostgreSQL alike.

    A query uses it only when its own WHERE repeats the condition.
    """
    return sa.Index(name, *columns, unique=unique, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def one_of(column: str, vocabulary: type[StrEnum] | tuple[str, ...]) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of a vocabulary's values (NULL passes, as SQL has it)."""
    return sa.CheckConstraint(sa.column(column).in_([str(value) for value in vocabulary]), name=column)


class Base(DeclarativeBase):
    registry = registry(
        type_annotation_map={datetime: UTCDateTime()},
        # Deterministic constraint names so Alembic batch mode on SQLite can drop and rename them.
        metadata=sa.MetaData(
            naming_convention={
                "ix": "ix_%(column_0_label)s",
                "uq": "uq_%(table_name)s_%(column_0_name)s",
                "ck": "ck_%(table_name)s_%(constraint_name)s",
                "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
                "pk": "pk_%(table_name)s",
            }
        ),
    )
