"""Text messages in the outbox (a provider's template id and its named parameters), the essential kinds, and
whether HR marked a message urgent (a retry keeps its window).

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

KINDS = ["link", "note", "link_asked", "training_change", "offer_decision", "hr_reply"]


def _kind_in(kinds: list[str]) -> str:
    return "kind IN (" + ", ".join(repr(kind) for kind in kinds) + ")"


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sms_template", sa.String(length=60), nullable=False, server_default=""))
        batch.add_column(sa.Column("sms_params", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.drop_constraint(op.f("ck_outbox_kind"), type_="check")
        batch.create_check_constraint("kind", _kind_in(KINDS))


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_kind"), type_="check")
        batch.create_check_constraint("kind", _kind_in(KINDS[:2]))
        batch.drop_column("urgent")
        batch.drop_column("sms_params")
        batch.drop_column("sms_template")
