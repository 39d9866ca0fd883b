"""The Alembic revisions build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db


def test_migrations_match_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], differences


def test_upgrading_a_sqlite_database_keeps_its_data(make_app, tmp_path):
    """SQLite alters a table by copying it; with foreign keys on, dropping the old copy used to
    cascade and delete every link, flag and event of every candidate."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}")
    with app.app_context():
        db.engine.dispose()  # the fixture migrated the suite's database; this app has its own file
        upgrade(revision="0001")
        rows = {
            "candidate": "INSERT INTO candidate (id, name, position, site, source_channel, status, risk_tier, tags,"
            " created_at) VALUES (1, 'Li', '', '', '', 'active', 'B', '[]', '2026-11-01 08:00:00.000000')",
            "portal_link": "INSERT INTO portal_link (id, candidate_id, token_hash, channel, issued_at, expires_at)"
            " VALUES (1, 1, 'h', 'qr', '2026-11-02 08:00:00.000000', '2027-01-01 08:00:00.000000')",
            "flag": "INSERT INTO flag (id, candidate_id, rule, severity, reason, raised_at, note)"
            " VALUES (1, 1, 'gone_quiet', 'warning', 'x', '2026-11-20 08:00:00.000000', '')",
            "engagement_event": "INSERT INTO engagement_event (id, candidate_id, link_id, kind, target, occurred_at,"
            " device) VALUES (1, 1, 1, 'view', 'page', '2026-11-03 08:00:00.000000', 'mobile')",
        }
        with db.engine.begin() as connection:
            for statement in rows.values():
                connection.exec_driver_sql(statement)

        def counts():
            with db.engine.connect() as connection:
                return {table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() for table in rows}

        upgrade()
        assert counts() == dict.fromkeys(rows, 1)
        with db.engine.connect() as connection:
            issued = connection.execute(sa.text("SELECT link_issued_at FROM candidate")).scalar()
            assert str(issued).startswith("2026-11-02 08:00:00")
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on afterwards
        downgrade(revision="0001")
        assert counts() == dict.fromkeys(rows, 1)


def test_vocabulary_columns_refuse_values_outside_their_vocabulary(app):
    import pytest
    import sqlalchemy as sa

    statements = [
        "INSERT INTO candidate (name, position, site, source_channel, status, tags, created_at)"
        " VALUES ('Li', '', '', '', 'sleeping', '[]', '2026-11-01 08:00:00')",
        'INSERT INTO "user" (email, name, password_hash, role, active, session_epoch, created_at)'
        " VALUES ('a@example.com', 'A', 'x', 'root', true, 0, '2026-11-01 08:00:00')",
        "INSERT INTO stage (key, position, label_zh, label_en, description_zh, description_en, side, required)"
        " VALUES ('k', 1, 'k', 'k', '', '', 'nobody', true)",
    ]
    for statement in statements:
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.exec_driver_sql(statement)
