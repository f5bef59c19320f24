"""Survey answers, stored encrypted (free text is personal data; choices reveal taste)."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.survey import Answer
from core.storage.repositories.keys import DataKeys, recrypt
from core.storage.tables import SurveyAnswerRow

__all__ = ["SurveyRepository"]


class SurveyRepository:
    def __init__(self, session: AsyncSession, keys: DataKeys) -> None:
        self._session = session
        self._keys = keys

    async def put(self, customer_ref: str, answer: Answer) -> None:
        cipher = await self._keys.cipher(customer_ref)
        blob = cipher.encrypt("survey_answer", json.dumps(answer.value, ensure_ascii=False))
        assert blob is not None
        row = await self._session.scalar(
            select(SurveyAnswerRow).where(
                SurveyAnswerRow.customer_ref == customer_ref,
                SurveyAnswerRow.survey_id == answer.survey_id,
                SurveyAnswerRow.question_id == answer.question_id,
            )
        )
        if row is None:
            row = SurveyAnswerRow(
                customer_ref=customer_ref,
                survey_id=answer.survey_id,
                question_id=answer.question_id,
            )
            self._session.add(row)
        row.value_enc = blob
        row.answered_at = answer.answered_at
        await self._session.flush()

    async def remove(self, customer_ref: str, survey_id: str, question_id: str | None) -> int:
        stmt = delete(SurveyAnswerRow).where(
            SurveyAnswerRow.customer_ref == customer_ref, SurveyAnswerRow.survey_id == survey_id
        )
        if question_id is not None:
            stmt = stmt.where(SurveyAnswerRow.question_id == question_id)
        result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0))

    async def answers(self, customer_ref: str, survey_id: str | None = None) -> list[Answer]:
        stmt = select(SurveyAnswerRow).where(SurveyAnswerRow.customer_ref == customer_ref)
        if survey_id is not None:
            stmt = stmt.where(SurveyAnswerRow.survey_id == survey_id)
        cipher = await self._keys.cipher(customer_ref)
        result = []
        for row in await self._session.scalars(stmt.order_by(SurveyAnswerRow.id)):
            raw = json.loads(cipher.decrypt("survey_answer", row.value_enc) or "null")
            value: tuple[str, ...] | str = raw if isinstance(raw, str) else tuple(raw)
            result.append(Answer(row.survey_id, row.question_id, value, row.answered_at))
        return result

    async def reassign(self, source: str, target: str) -> int:
        """A merge: answers the target has not given themselves move over, re-encrypted."""
        old, new = await self._keys.cipher(source), await self._keys.cipher(target)
        mine = {
            (s, q)
            for s, q in await self._session.execute(
                select(SurveyAnswerRow.survey_id, SurveyAnswerRow.question_id).where(
                    SurveyAnswerRow.customer_ref == target
                )
            )
        }
        moved = 0
        for row in list(
            await self._session.scalars(
                select(SurveyAnswerRow).where(SurveyAnswerRow.customer_ref == source)
            )
        ):
            if (row.survey_id, row.question_id) in mine:
                continue
            blob = recrypt(old, new, "survey_answer", row.value_enc)
            assert blob is not None
            row.value_enc, row.customer_ref = blob, target
            moved += 1
        await self._session.flush()
        return moved
