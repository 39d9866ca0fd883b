"""Spreadsheets HR upload, kept between preview and confirm (web hosts keep nothing on disk between requests)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class ImportUpload(Base):
    """One uploaded file until it is imported (then deleted) or a day has passed (then purged)."""

    __tablename__ = "import_upload"
    __table_args__ = (sa.Index("ix_import_upload_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    uploaded_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    filename: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
