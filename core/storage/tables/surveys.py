"""Survey answers, encrypted with the customer's key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["SurveyAnswerRow"]


class SurveyAnswerRow(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("customer_ref", "survey_id", "question_id", name="uq_survey_answers"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    survey_id: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(64))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
