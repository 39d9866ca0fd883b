"""Automations (trigger, audience, templates) and what they need: the outbox names the automation, cohort and
story of a message; checklist items are required and due some days before the start; a candidate can stop
automated messages.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KINDS = ["link", "note", "link_asked", "training_change", "offer_decision", "hr_reply"]
AUTOMATION_KINDS = ["automated", "offer_decision", "training_change"]
TRIGGERS = ["stage_entered", "cohort_moved", "cohort_start", "weekly", "checklist_due", "notice_unseen"]


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN (" + ", ".join(repr(value) for value in values) + ")"


def upgrade():
    op.create_table(
        "automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=True),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("at_time", sa.String(length=5), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channels", sa.String(length=40), nullable=False),
        sa.Column("subject_zh", sa.String(length=200), nullable=False),
        sa.Column("subject_en", sa.String(length=200), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("sms_template", sa.String(length=60), nullable=False),
        sa.Column("sms_params", sa.JSON(), nullable=False),
        sa.Column("with_story", sa.Boolean(), nullable=False),
        sa.Column("any_day", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("evaluated_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("trigger", TRIGGERS), name=op.f("ck_automation_trigger")),
        sa.CheckConstraint(_in("kind", AUTOMATION_KINDS), name=op.f("ck_automation_kind")),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["stage.id"], name=op.f("fk_automation_stage_id_stage"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation")),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("automation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cohort_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_outbox_automation_id_automation", "automation", ["automation_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key("fk_outbox_cohort_id_cohort", "cohort", ["cohort_id"], ["id"], ondelete="SET NULL")
        batch.create_foreign_key("fk_outbox_story_id_story", "story", ["story_id"], ["id"], ondelete="SET NULL")
        batch.drop_constraint(op.f("ck_outbox_kind"), type_="check")
        batch.create_check_constraint("kind", _in("kind", [*KINDS, "automated"]))
        batch.create_index("ix_outbox_automation_status", ["automation_id", "status"])
    with op.batch_alter_table("checklist_item") as batch:
        batch.add_column(sa.Column("required", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("due_days_before", sa.Integer(), nullable=True))
    with op.batch_alter_table("candidate") as batch:
        batch.add_column(sa.Column("messages_stopped_at", sa.DateTime(timezone=True), nullable=True))
    with_story = sa.text("story_id IS NOT NULL")
    op.create_index(
        "ix_outbox_candidate_story",
        "outbox",
        ["candidate_id", "story_id"],
        sqlite_where=with_story,
        postgresql_where=with_story,
    )
    # The stories a candidate opened, for the Friday story's "newest not yet read".
    story = sa.text("kind = 'story'")
    op.create_index(
        "ix_engagement_event_story_read",
        "engagement_event",
        ["candidate_id", "target"],
        sqlite_where=story,
        postgresql_where=story,
    )


def downgrade():
    op.drop_index("ix_engagement_event_story_read", table_name="engagement_event")
    op.drop_index("ix_outbox_candidate_story", table_name="outbox")
    with op.batch_alter_table("candidate") as batch:
        batch.drop_column("messages_stopped_at")
    with op.batch_alter_table("checklist_item") as batch:
        batch.drop_column("due_days_before")
        batch.drop_column("required")
    op.execute("DELETE FROM outbox WHERE kind = 'automated'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_automation_status")
        batch.drop_constraint(op.f("ck_outbox_kind"), type_="check")
        batch.create_check_constraint("kind", _in("kind", KINDS))
        batch.drop_constraint("fk_outbox_story_id_story", type_="foreignkey")
        batch.drop_constraint("fk_outbox_cohort_id_cohort", type_="foreignkey")
        batch.drop_constraint("fk_outbox_automation_id_automation", type_="foreignkey")
        batch.drop_column("story_id")
        batch.drop_column("cohort_id")
        batch.drop_column("automation_id")
    op.drop_table("automation")
