"""The database schema, one module per concept; every row class and ``Base``.

Importing this package defines every table, so ``Base.metadata`` (and Alembic,
core/storage/migrations/env.py) sees the whole schema. Personal fields are
``*_enc`` columns holding ciphertext.
"""

from __future__ import annotations

from core.storage.tables.agents import AgentRequestRow, AgentTokenRow
from core.storage.tables.audit import AuditEntryRow, AuditHeadRow
from core.storage.tables.base import Base
from core.storage.tables.consents import ConsentRow
from core.storage.tables.conversations import ConversationRow
from core.storage.tables.customers import CustomerRow, DataKeyRow, IdentityRow
from core.storage.tables.export_links import ExportLinkRow
from core.storage.tables.followups import FollowupRow
from core.storage.tables.incidents import IncidentNoticeRow, IncidentRow
from core.storage.tables.jobs import JobRow
from core.storage.tables.meta import MetaRow
from core.storage.tables.purchases import PurchaseRow
from core.storage.tables.requests import DataRequestRow, PendingChangeRow, RequestAnswerRow
from core.storage.tables.seen_messages import SeenMessageRow
from core.storage.tables.sending import SendChatRow, SendPauseRow, SendPermitRow
from core.storage.tables.signatures import NonceRow
from core.storage.tables.staff import StaffConversationRow, StaffRow
from core.storage.tables.suppressions import SuppressionRow
from core.storage.tables.surveys import SurveyAnswerRow

__all__ = [
    "AgentRequestRow",
    "AgentTokenRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "ConsentRow",
    "ConversationRow",
    "CustomerRow",
    "DataKeyRow",
    "DataRequestRow",
    "ExportLinkRow",
    "FollowupRow",
    "IdentityRow",
    "IncidentNoticeRow",
    "IncidentRow",
    "JobRow",
    "MetaRow",
    "NonceRow",
    "PendingChangeRow",
    "PurchaseRow",
    "RequestAnswerRow",
    "SeenMessageRow",
    "SendChatRow",
    "SendPauseRow",
    "SendPermitRow",
    "StaffConversationRow",
    "StaffRow",
    "SuppressionRow",
    "SurveyAnswerRow",
]
