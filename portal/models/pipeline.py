"""The stage pipeline every candidate moves through."""

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, one_of


class Side(StrEnum):
    """Who has to act while a candidate sits in a stage."""

    CANDIDATE = "candidate"
    COMPANY = "company"  # the wait is on us (e.g. background check), and the page says so


class Stage(Base):
    __tablename__ = "stage"
    __table_args__ = (one_of("side", Side),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Code and rules refer to stages by this key, never by id or position.
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    position: Mapped[int]
    label_zh: Mapped[str] = mapped_column(sa.String(80))
    label_en: Mapped[str] = mapped_column(sa.String(80))
    description_zh: Mapped[str] = mapped_column(sa.Text, default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="")
    side: Mapped[str] = mapped_column(sa.String(10), default=Side.CANDIDATE)
    required: Mapped[bool] = mapped_column(default=True)
    # Reached only with a training cohort: the page then shows its dates (the demo's training notice).
    needs_cohort: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    expected_days: Mapped[int | None]
