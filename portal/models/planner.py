"""Hints for SQLite's query planner, which has no statistics unless someone ran ANALYZE.

Without statistics SQLite takes any indexed condition for a narrow one and reads its index, even when most
rows meet it. These two constructs tell it otherwise; other databases, which keep statistics, get the SQL
as it is.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles


class dense(sa.sql.functions.FunctionElement):
    """A column whose condition most rows meet (a status, "never visited"): SQLite hears it with a unary +
    and reads a narrower condition's index instead of this column's."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(dense)
def _dense(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(dense, "sqlite")
def _dense_on_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)


class usually(sa.sql.functions.FunctionElement):
    """A condition most rows meet: SQLite hears ``likely(...)`` and stops driving the query by it (it
    walks the index of the ORDER BY, say, and tests the condition on the way)."""

    inherit_cache = True


@compiles(usually)
def _usually(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(usually, "sqlite")
def _usually_on_sqlite(element, compiler, **kw):
    return f"likely({compiler.process(element.clauses, **kw)})"
