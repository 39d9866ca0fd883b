"""Automations: messages Keepwarm sends by itself, on a trigger, to an audience, from an admin's templates."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, one_of


class Trigger(StrEnum):
    """When an automation writes its message. Events write it in their own transaction; the rest are moments
    the periodic evaluator finds (services.automations.evaluate)."""

    STAGE_ENTERED = "stage_entered"  # event: entering ``stage``, sent ``delay_minutes`` later
    COHORT_MOVED = "cohort_moved"  # event: moved from one training cohort to another
    COHORT_START = "cohort_start"  # ``offset_days`` from the cohort's first day (negative: before), at ``at_time``
    WEEKLY = "weekly"  # every ``weekday`` (1 Monday … 7 Sunday) at ``at_time``
    CHECKLIST_DUE = "checklist_due"  # a required item still open on its due day (days before the start), at_time
    NOTICE_UNSEEN = "notice_unseen"  # the training notice not seen ``delay_minutes`` after it was given


EVENT_TRIGGERS = frozenset({Trigger.STAGE_ENTERED, Trigger.COHORT_MOVED})


class Automation(Base):
    __tablename__ = "automation"
    # The kinds services.automations.AUTOMATION_KINDS names: an ordinary message, or an essential one.
    __table_args__ = (one_of("trigger", Trigger), one_of("kind", ("automated", "offer_decision", "training_change")))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    trigger: Mapped[str] = mapped_column(sa.String(20))
    stage_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stage.id", ondelete="CASCADE"))
    delay_minutes: Mapped[int] = mapped_column(default=0)
    offset_days: Mapped[int] = mapped_column(default=0)
    weekday: Mapped[int | None]
    at_time: Mapped[str] = mapped_column(sa.String(5), default="")  # "15:00", the organisation's time
    # services.audience.Audience as a dict: who it is for (empty: every active candidate).
    audience: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # A MessageKind: "automated", or an essential kind (it then reaches those who stopped messages too).
    kind: Mapped[str] = mapped_column(sa.String(20), default="automated")
    channels: Mapped[str] = mapped_column(sa.String(40), default="email")
    subject_zh: Mapped[str] = mapped_column(sa.String(200), default="")
    subject_en: Mapped[str] = mapped_column(sa.String(200), default="")
    body_zh: Mapped[str] = mapped_column(sa.Text, default="")
    body_en: Mapped[str] = mapped_column(sa.Text, default="")
    sms_template: Mapped[str] = mapped_column(sa.String(60), default="")
    sms_params: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the provider's parameter -> our variable
    with_story: Mapped[bool] = mapped_column(default=False)  # carries the newest story they have not opened
    # Goes any day, never at night (a "see you tomorrow" the day before a Monday), though not essential.
    any_day: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=False)
    # Only moments after this count (switching on never back-fills); the evaluator moves it on as it goes.
    evaluated_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    stage = relationship("Stage")
