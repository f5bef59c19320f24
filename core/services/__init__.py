"""Use cases, one async function each: policy check -> change -> audit (the entry point commits).

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
    lifts_suppression,
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
from core.services.jobs import (
    ClaimJobs,
    EnqueueJob,
    backoff,
    claim_jobs,
    complete_job,
    enqueue_job,
    retry_job,
)
from core.services.requests import (
    CancelRequest,
    ExtendRequest,
    MoveRequest,
    OpenRequest,
    cancel_request,
    customer_requests,
    extend_request,
    move_request,
    open_request,
    request_queue,
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
    "CancelRequest",
    "ChangeLanguage",
    "ClaimJobs",
    "DecideConsent",
    "EnqueueJob",
    "ExtendRequest",
    "MarkNoticeSeen",
    "MoveRequest",
    "OpenRequest",
    "RecordAnswer",
    "RegisterCustomer",
    "RemoveAnswers",
    "RemoveStaff",
    "SaveConversation",
    "add_staff",
    "audit_tail",
    "authorise",
    "backoff",
    "cancel_request",
    "change_language",
    "claim_jobs",
    "complete_job",
    "current_consents",
    "customer_actor",
    "customer_requests",
    "decide_consent",
    "enqueue_job",
    "extend_request",
    "find_customer",
    "lifts_suppression",
    "list_staff",
    "load_conversation",
    "mark_notice_seen",
    "move_request",
    "open_request",
    "record_answer",
    "register_customer",
    "remove_answers",
    "remove_staff",
    "request_queue",
    "retry_job",
    "save_conversation",
    "staff_actor",
    "survey_answers",
    "verify_audit",
]
