"""Find a candidate by phone number or email at once: HR adding someone twice is refused.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("candidate") as batch:
        batch.create_index("ix_candidate_phone", ["phone"])
        batch.create_index("ix_candidate_email", ["email"])


def downgrade():
    with op.batch_alter_table("candidate") as batch:
        batch.drop_index("ix_candidate_email")
        batch.drop_index("ix_candidate_phone")
