"""Spreadsheet imports: the uploaded file kept between preview and confirm, and each user's last column mapping.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user.id"], name=op.f("fk_import_upload_uploaded_by_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_upload")),
    )
    op.create_index("ix_import_upload_expires_at", "import_upload", ["expires_at"])
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("import_mapping", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("import_mapping")
    op.drop_index("ix_import_upload_expires_at", table_name="import_upload")
    op.drop_table("import_upload")
