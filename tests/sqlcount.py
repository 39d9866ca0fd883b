"""Count the SQL statements a block of code sends (the N+1 guard)."""

from contextlib import contextmanager

import sqlalchemy as sa

from portal.extensions import db


@contextmanager
def count_statements():
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper() + " " + statement[:60].replace("\n", " "))

    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)
