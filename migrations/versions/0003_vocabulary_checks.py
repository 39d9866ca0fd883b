"""Each column that holds a vocabulary accepts only its values (CHECK constraints).

PostgreSQL adds each constraint NOT VALID and then validates it, so writers are not blocked while
existing rows are checked; SQLite copies each table (batch mode), as it alters tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op

# Spelled out, not imported: a migration keeps the schema of its day.
CHECKS = {
    "candidate": {
        "status": ("active", "started", "left"),
        "risk_tier_override": ("A", "B", "C", "D"),
        "locale": ("zh_CN", "en"),
    },
    "portal_link": {"channel": ("qr", "cli", "email", "sms")},
    "engagement_event": {
        "kind": ("view", "story", "checklist", "calendar", "prefetch"),
        "device": ("mobile", "tablet", "desktop", "bot", "unknown"),
    },
    "flag": {
        "severity": ("warning", "urgent"),
        "outcome": ("reached_by_phone", "reassured", "rescheduled", "withdrew", "no_answer", "cleared"),
    },
    "stage": {"side": ("candidate", "company")},
    "user": {"role": ("hr", "admin")},
}

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _condition(column, values):
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, columns in CHECKS.items():
        if postgresql:
            for column, values in columns.items():
                name = f"ck_{table}_{column}"
                op.execute(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT {name} CHECK ({_condition(column, values)}) NOT VALID'
                )
                op.execute(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT {name}')
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(column, _condition(column, values))


def downgrade():
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
