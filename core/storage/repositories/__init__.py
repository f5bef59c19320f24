"""Repositories: they add and read within the unit of work's transaction, never commit."""

from __future__ import annotations

from core.storage.repositories.audit import Actor, AuditRepository
from core.storage.repositories.consents import ConsentRepository
from core.storage.repositories.conversations import ConversationRepository
from core.storage.repositories.customers import CustomerRepository
from core.storage.repositories.jobs import Job, JobRepository
from core.storage.repositories.keys import KeyStore
from core.storage.repositories.purchases import PurchaseRepository
from core.storage.repositories.requests import RequestRepository
from core.storage.repositories.staff import StaffRepository
from core.storage.repositories.surveys import SurveyRepository

__all__ = [
    "Actor",
    "AuditRepository",
    "ConsentRepository",
    "ConversationRepository",
    "CustomerRepository",
    "Job",
    "JobRepository",
    "KeyStore",
    "PurchaseRepository",
    "RequestRepository",
    "StaffRepository",
    "SurveyRepository",
]
