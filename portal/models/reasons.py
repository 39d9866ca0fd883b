"""Why people leave: one list for leaving, declined offers and (later) attendance requests."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base

# The list a new installation starts with (migration 0005 seeds it, spelled out as migrations are).
DEFAULT_REASONS = (
    ("薪资待遇", "Pay"),
    ("通勤距离太远", "Distance"),
    ("接受了其他工作机会", "Took another offer"),
    ("家庭原因", "Family"),
    ("工作时间不合适", "Working hours"),
    ("等待入职时间太长", "The wait was too long"),
    ("其他", "Other"),
)


class Reason(Base):
    """Admins retire a reason rather than delete it, so history keeps its words."""

    __tablename__ = "reason"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    label_zh: Mapped[str] = mapped_column(sa.String(80))
    label_en: Mapped[str] = mapped_column(sa.String(80))
    retired_at: Mapped[datetime | None]
