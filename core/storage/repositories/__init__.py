"""Repositories, one per concept: they add and read within the unit of work's
transaction, never commit."""

from __future__ import annotations

from core.storage.repositories.agents import AgentRepository
from core.storage.repositories.audit import AuditRepository
from core.storage.repositories.consents import ConsentRepository
from core.storage.repositories.conversations import ConversationRepository
from core.storage.repositories.customers import CustomerRepository
from core.storage.repositories.export_links import ExportLinkRepository
from core.storage.repositories.followups import FollowupRepository
from core.storage.repositories.holdings import HoldingsRepository
from core.storage.repositories.incidents import IncidentRepository
from core.storage.repositories.jobs import JobRepository
from core.storage.repositories.keys import DataKeys
from core.storage.repositories.pages import PageStore
from core.storage.repositories.purchases import PurchaseRepository
from core.storage.repositories.requests import RequestRepository
from core.storage.repositories.retention import RetentionRepository
from core.storage.repositories.seen_messages import SeenMessageRepository
from core.storage.repositories.sending import SendBudgetRepository
from core.storage.repositories.signatures import SignatureRepository
from core.storage.repositories.staff import StaffRepository
from core.storage.repositories.suppressions import SuppressionRepository
from core.storage.repositories.surveys import SurveyRepository

__all__ = [
    "AgentRepository",
    "AuditRepository",
    "ConsentRepository",
    "ConversationRepository",
    "CustomerRepository",
    "DataKeys",
    "ExportLinkRepository",
    "FollowupRepository",
    "HoldingsRepository",
    "IncidentRepository",
    "JobRepository",
    "PageStore",
    "PurchaseRepository",
    "RequestRepository",
    "RetentionRepository",
    "SeenMessageRepository",
    "SendBudgetRepository",
    "SignatureRepository",
    "StaffRepository",
    "SuppressionRepository",
    "SurveyRepository",
]
