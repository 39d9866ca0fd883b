"""Spreadsheets HR upload, kept between preview and confirm (web hosts keep nothing on disk between requests):
the rows as read once, not the file, so that no page of the preview reads the file again."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class ImportUpload(Base):
    """One uploaded file until it is imported (then deleted) or a day has passed (then purged)."""

    __tablename__ = "import_upload"
    __table_args__ = (
        sa.Index("ix_import_upload_expires_at", "expires_at"),
        # An id is never given to another file (SQLite reuses the highest id once its row is deleted): a
        # preview left open in a tab cannot import a file uploaded later.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    uploaded_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    filename: Mapped[str] = mapped_column(sa.String(255))
    sheet: Mapped[bytes] = mapped_column(sa.LargeBinary)  # the rows as read (services.importing.sheet_to_bytes)
