"""Contacts HR make outside Keepwarm, and what the quiet rule and the queue read of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Spelled out, not imported: a migration keeps the vocabulary of its day.
CHANNELS = ("phone", "wechat", "sms", "in_person")
OUTCOMES = ("reached", "no_answer", "another_date", "declining")
TIERS = ("A", "B", "C", "D")


def _in(column, values):
    return f"{column} IN (" + ", ".join(repr(value) for value in values) + ")"


def upgrade():
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=1), nullable=False),
        sa.Column("next_due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(_in("channel", CHANNELS), name=op.f("ck_contact_channel")),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name=op.f("ck_contact_outcome")),
        sa.CheckConstraint(_in("tier", TIERS), name=op.f("ck_contact_tier")),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidate.id"], name=op.f("fk_contact_candidate_id_candidate"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_contact_actor_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
    )
    op.create_index("ix_contact_candidate_contacted", "contact", ["candidate_id", "contacted_at"])
    with op.batch_alter_table("candidate") as batch:
        batch.add_column(sa.Column("last_reached_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_contact_on", sa.Date(), nullable=True))
        batch.create_index("ix_candidate_next_contact", ["next_contact_on"])


def downgrade():
    with op.batch_alter_table("candidate") as batch:
        batch.drop_index("ix_candidate_next_contact")
        batch.drop_column("next_contact_on")
        batch.drop_column("last_reached_at")
    op.drop_index("ix_contact_candidate_contacted", table_name="contact")
    op.drop_table("contact")
