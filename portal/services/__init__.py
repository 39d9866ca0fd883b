"""Functions that change state. They flush, never commit: the request or job commits once."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import SessionTransaction

from portal.extensions import db


def savepoint() -> SessionTransaction:
    """``db.session.begin_nested()``, nested on SQLite too.

    Python's sqlite3 starts a transaction only before a write, not before a SAVEPOINT; a savepoint taken
    before the transaction's first write was then the transaction itself, and releasing it committed
    everything so far (a bulk action stayed half done when a later row failed). Starting the transaction
    first keeps the savepoint inside it. IMMEDIATE: it takes the write lock at once (waiting the busy
    timeout for another writer), because a transaction that read first could not write later while another
    one had written meanwhile ("database is locked" at once: two HR bulk actions at the same moment).
    """
    connection = db.session.connection()
    driver = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and not getattr(driver, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return db.session.begin_nested()


def dialect_insert(table):
    """``insert(table)`` of the database at hand, which has ``on_conflict_do_nothing`` (SQLite and PostgreSQL)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def expire_loaded(model, ids, attributes: list[str] | None = None) -> None:
    """After a Core UPDATE of ``model`` rows ``ids``: copies this session already holds read them again."""
    for row in list(db.session.identity_map.values()):
        if isinstance(row, model) and row.id in ids:
            db.session.expire(row, attributes)
