"""Candidates answer back: a thread per candidate of questions, requests (another date, a nearer store) and HR's
answers; a task flag's second escalation (overdue_since).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TOPICS = ["question", "another_date", "store_too_far", "reply"]
STATES = ["waiting", "answered", "accepted", "declined", "withdrawn"]
WAITING = "state = 'waiting'"


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN (" + ", ".join(repr(value) for value in values) + ")"


def upgrade():
    op.create_table(
        "thread_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("answers_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason_id", sa.Integer(), nullable=True),
        sa.Column("preferred_cohort_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(length=60), nullable=False),
        sa.Column("granted_cohort_id", sa.Integer(), nullable=True),
        sa.Column("granted_store_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_in("topic", TOPICS), name=op.f("ck_thread_message_topic")),
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_thread_message_state")),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
            name=op.f("fk_thread_message_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_thread_message_author_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["answers_id"],
            ["thread_message.id"],
            name=op.f("fk_thread_message_answers_id_thread_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reason_id"], ["reason.id"], name=op.f("fk_thread_message_reason_id_reason"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["preferred_cohort_id"],
            ["cohort.id"],
            name=op.f("fk_thread_message_preferred_cohort_id_cohort"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["granted_cohort_id"],
            ["cohort.id"],
            name=op.f("fk_thread_message_granted_cohort_id_cohort"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["granted_store_id"],
            ["store.id"],
            name=op.f("fk_thread_message_granted_store_id_store"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_message")),
    )
    op.create_index("ix_thread_message_candidate_written", "thread_message", ["candidate_id", "written_at"])
    op.create_index(
        "ix_thread_message_waiting",
        "thread_message",
        ["topic", "candidate_id", "written_at"],
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )
    with op.batch_alter_table("flag") as batch_op:
        batch_op.add_column(sa.Column("overdue_since", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("flag") as batch_op:
        batch_op.drop_column("overdue_since")
    op.drop_index("ix_thread_message_waiting", table_name="thread_message")
    op.drop_index("ix_thread_message_candidate_written", table_name="thread_message")
    op.drop_table("thread_message")
