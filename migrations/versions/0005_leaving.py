"""Candidates leave (and may come back): why, what kind of leaving, when to contact them again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Spelled out, not imported: a migration keeps the data and vocabulary of its day.
LEFT_KINDS = ("declined", "withdrew", "no_show", "unreachable", "unsuitable")
REASONS = (
    ("薪资待遇", "Pay"),
    ("通勤距离太远", "Distance"),
    ("接受了其他工作机会", "Took another offer"),
    ("家庭原因", "Family"),
    ("工作时间不合适", "Working hours"),
    ("等待入职时间太长", "The wait was too long"),
    ("其他", "Other"),
)


def upgrade():
    reason = op.create_table(
        "reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label_zh", sa.String(length=80), nullable=False),
        sa.Column("label_en", sa.String(length=80), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reason")),
    )
    op.bulk_insert(reason, [{"position": n, "label_zh": zh, "label_en": en} for n, (zh, en) in enumerate(REASONS)])
    with op.batch_alter_table("candidate") as batch:
        batch.add_column(sa.Column("left_kind", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("left_reason_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("recontact_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("left_note", sa.Text(), nullable=False, server_default=""))
        batch.create_foreign_key(op.f("fk_candidate_left_reason_id_reason"), "reason", ["left_reason_id"], ["id"])
        batch.create_check_constraint("left_kind", "left_kind IN (" + ", ".join(repr(k) for k in LEFT_KINDS) + ")")
        batch.create_index(
            "ix_candidate_talent_pool",
            ["recontact_on"],
            sqlite_where=sa.text("status = 'left' AND recontact_on IS NOT NULL"),
            postgresql_where=sa.text("status = 'left' AND recontact_on IS NOT NULL"),
        )


def downgrade():
    with op.batch_alter_table("candidate") as batch:
        batch.drop_index("ix_candidate_talent_pool")
        batch.drop_constraint(op.f("ck_candidate_left_kind"), type_="check")
        batch.drop_constraint(op.f("fk_candidate_left_reason_id_reason"), type_="foreignkey")
        for column in ("left_note", "recontact_on", "left_reason_id", "left_kind"):
            batch.drop_column(column)
    op.drop_table("reason")
