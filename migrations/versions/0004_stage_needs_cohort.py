"""A stage may need a training cohort: nobody reaches it without one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stage") as batch:
        batch.add_column(sa.Column("needs_cohort", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("stage") as batch:
        batch.drop_column("needs_cohort")
