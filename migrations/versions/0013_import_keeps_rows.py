"""An upload keeps its rows as read, not the file: the preview no longer reads the file on every page.

Reading a 20,000-row .xlsx took 5 s; each page of the preview, and the import, read it again. Uploads
waiting for a preview (kept a day at most) are dropped: their owners upload the file again. On SQLite the
table is rebuilt with AUTOINCREMENT, so that an id is never given to another file (a preview left open in
a tab imported a file uploaded later under the same id).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM import_upload")
    with op.batch_alter_table("import_upload", recreate="auto", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("content")
        table.add_column(sa.Column("sheet", sa.LargeBinary(), nullable=False))


def downgrade():
    op.execute("DELETE FROM import_upload")
    with op.batch_alter_table("import_upload") as table:
        table.drop_column("sheet")
        table.add_column(sa.Column("content", sa.LargeBinary(), nullable=False))
