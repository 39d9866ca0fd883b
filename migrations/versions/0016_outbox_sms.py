"""Text messages in the outbox: a provider's template id and its named parameters.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sms_template", sa.String(length=60), nullable=False, server_default=""))
        batch.add_column(sa.Column("sms_params", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sms_params")
        batch.drop_column("sms_template")
