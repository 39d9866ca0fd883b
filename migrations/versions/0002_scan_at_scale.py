"""Risk scan at a million candidates: link_issued_at, rule indexes, tier read from flags.

The candidate gets the newest link's issue time and the partial indexes the rules read; the
risk tier is read from open flags instead of stored, so the scan writes flags only; and the flag
no longer has a foreign key to its candidate (see portal/models/flags.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

# Spelled out, not imported: a migration keeps the schema of its day.
LINK_UNOPENED = "last_seen_at IS NULL OR last_seen_at < link_issued_at"
STAGE_UNSEEN = "last_seen_at IS NULL OR last_seen_at < stage_reached_at"

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_issued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("risk_tier")
        batch_op.create_index("ix_candidate_stage_reached", ["current_stage_id", "stage_reached_at"], unique=False)
        batch_op.create_index(
            "ix_candidate_link_unopened",
            ["link_issued_at"],
            unique=False,
            sqlite_where=sa.text(LINK_UNOPENED),
            postgresql_where=sa.text(LINK_UNOPENED),
        )
        batch_op.create_index(
            "ix_candidate_stage_unseen",
            ["current_stage_id"],
            unique=False,
            sqlite_where=sa.text(STAGE_UNSEEN),
            postgresql_where=sa.text(STAGE_UNSEEN),
        )

    # Existing candidates: the newest link that is still valid, as services.links keeps it from now on.
    op.execute(
        "UPDATE candidate SET link_issued_at = (SELECT max(portal_link.issued_at) FROM portal_link"
        " WHERE portal_link.candidate_id = candidate.id AND portal_link.revoked_at IS NULL)"
    )

    with op.batch_alter_table("flag", schema=None) as batch_op:
        # No foreign key to candidate: see portal/models/flags.py for the measured reason.
        batch_op.drop_constraint("fk_flag_candidate_id_candidate", type_="foreignkey")
        batch_op.drop_index("uq_flag_open_candidate_rule")
        batch_op.create_index(
            "uq_flag_open_candidate_rule",
            ["rule", "candidate_id"],
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        )


def downgrade():
    op.execute("DELETE FROM flag WHERE candidate_id NOT IN (SELECT id FROM candidate)")
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.drop_index("uq_flag_open_candidate_rule")
        batch_op.create_index(
            "uq_flag_open_candidate_rule",
            ["candidate_id", "rule"],
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        )
        batch_op.create_foreign_key(
            "fk_flag_candidate_id_candidate", "candidate", ["candidate_id"], ["id"], ondelete="CASCADE"
        )

    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.drop_index("ix_candidate_stage_unseen")
        batch_op.drop_index("ix_candidate_link_unopened")
        batch_op.drop_index("ix_candidate_stage_reached")
        batch_op.drop_column("link_issued_at")
        # Every candidate starts on track; the earlier scan re-derives a tier when its flags change.
        batch_op.add_column(sa.Column("risk_tier", sa.String(length=1), nullable=False, server_default="A"))
