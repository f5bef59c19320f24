"""Use cases, one async function each: policy check -> change -> audit -> commit.

Each takes a command (a frozen dataclass) and a unit of work; refusals raise a
``core.errors.PrivacyError`` after an audited denial.
"""

from __future__ import annotations

from core.services._common import SYSTEM, customer_actor
from core.services.audit import audit_tail, verify_audit
from core.services.consent import (
    DecideConsent,
    MarkNoticeSeen,
    current_consents,
    decide_consent,
    mark_notice_seen,
)
from core.services.conversations import SaveConversation, load_conversation, save_conversation
from core.services.customers import (
    LANGUAGES,
    ChangeLanguage,
    RegisterCustomer,
    change_language,
    find_customer,
    register_customer,
)
from core.services.staff import (
    AddStaff,
    RemoveStaff,
    add_staff,
    authorise,
    list_staff,
    remove_staff,
    staff_actor,
)
from core.services.surveys import (
    RecordAnswer,
    RemoveAnswers,
    record_answer,
    remove_answers,
    survey_answers,
)

__all__ = [
    "LANGUAGES",
    "SYSTEM",
    "AddStaff",
    "ChangeLanguage",
    "DecideConsent",
    "MarkNoticeSeen",
    "RecordAnswer",
    "RegisterCustomer",
    "RemoveAnswers",
    "RemoveStaff",
    "SaveConversation",
    "add_staff",
    "audit_tail",
    "authorise",
    "change_language",
    "current_consents",
    "customer_actor",
    "decide_consent",
    "find_customer",
    "list_staff",
    "load_conversation",
    "mark_notice_seen",
    "record_answer",
    "register_customer",
    "remove_answers",
    "remove_staff",
    "save_conversation",
    "staff_actor",
    "survey_answers",
    "verify_audit",
]
