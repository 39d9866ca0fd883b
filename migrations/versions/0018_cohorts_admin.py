"""Cohorts planned by admins: a training site, a status (cancelled), a revision for calendars and the start
before a reschedule; sessions with trainer and room, removed ones kept; a waitlist; the cohorts a candidate was
moved out of; calendar subscription feeds; stores; a candidate's district, store, confirmed attendance and
calendar revision. The seeded "moved to another cohort" automation is switched off: Keepwarm itself now tells
a candidate of every change to their training (services.cohorts).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "store",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("district", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("open_places", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store")),
    )
    with op.batch_alter_table("store", schema=None) as batch_op:
        batch_op.create_index("ix_store_district_name", ["district", "name"], unique=False)

    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidate.id"], name=op.f("fk_calendar_feed_candidate_id_candidate"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_feed_candidate_id", ["candidate_id"], unique=False)

    op.create_table(
        "past_membership",
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
            name=op.f("fk_past_membership_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohort.id"], name=op.f("fk_past_membership_cohort_id_cohort"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("candidate_id", "cohort_id", name=op.f("pk_past_membership")),
    )
    op.create_table(
        "waitlist_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("passed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
            name=op.f("fk_waitlist_entry_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohort.id"], name=op.f("fk_waitlist_entry_cohort_id_cohort"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry")),
        sa.UniqueConstraint("cohort_id", "candidate_id", name=op.f("uq_waitlist_entry_cohort_id")),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_entry_candidate", ["candidate_id"], unique=False)
        batch_op.create_index("ix_waitlist_entry_order", ["cohort_id", "passed_at", "id"], unique=False)

    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district", sa.String(length=60), server_default="", nullable=False))
        batch_op.add_column(sa.Column("store_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attendance_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("calendar_revision", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_candidate_store", ["store_id", "status"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_candidate_store_id_store"), "store", ["store_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("cohort", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site", sa.String(length=120), server_default="", nullable=False))
        batch_op.add_column(sa.Column("status", sa.String(length=10), server_default="open", nullable=False))
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("previous_starts_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cohort_starts_on", ["starts_on"], unique=False)
        batch_op.create_check_constraint("status", "status IN ('open', 'cancelled')")
    op.execute("UPDATE automation SET enabled = false WHERE trigger = 'cohort_moved' AND kind = 'training_change'")

    with op.batch_alter_table("cohort_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trainer", sa.String(length=120), server_default="", nullable=False))
        batch_op.add_column(sa.Column("room", sa.String(length=120), server_default="", nullable=False))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("cohort_session", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("room")
        batch_op.drop_column("trainer")

    with op.batch_alter_table("cohort", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cohort_status"), type_="check")
        batch_op.drop_index("ix_cohort_starts_on")
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("previous_starts_on")
        batch_op.drop_column("revision")
        batch_op.drop_column("status")
        batch_op.drop_column("site")

    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_candidate_store_id_store"), type_="foreignkey")
        batch_op.drop_index("ix_candidate_store")
        batch_op.drop_column("calendar_revision")
        batch_op.drop_column("attendance_confirmed_at")
        batch_op.drop_column("store_id")
        batch_op.drop_column("district")

    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_waitlist_entry_order")
        batch_op.drop_index("ix_waitlist_entry_candidate")

    op.drop_table("waitlist_entry")
    op.drop_table("past_membership")
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_feed_candidate_id")

    op.drop_table("calendar_feed")
    with op.batch_alter_table("store", schema=None) as batch_op:
        batch_op.drop_index("ix_store_district_name")

    op.drop_table("store")
