"""The one exception tree of the core.

Every refusal or failure the core reports to its callers is a ``PrivacyError``;
callers (the bot, the CLI) catch the branch they can explain to a person::

    PrivacyError
    ├── ConfigurationError      settings or policy file unusable; start-up stops
    │   └── KeyUnavailableError  master key missing, malformed or not this database's
    ├── PolicyDenied            the policy forbids the action (audited as denied)
    │   ├── ConsentRequired      the purpose needs consent the customer has not given
    │   ├── RestrictedProcessing the customer restricted or objected to processing
    │   └── PermissionDenied     a staff role lacks the permission
    ├── NotFound                no such customer, request, purchase, ...
    ├── InvalidInput            malformed value (phone, email, answer, reason, ...)
    ├── Conflict                the action clashes with the current state
    │   └── InvalidTransition    a data request cannot move to that state
    ├── RateLimited             too many requests of that kind in the window
    ├── DataShredded            the customer's data key was destroyed (erased)
    └── IntegrityError          stored ciphertext or the audit chain does not verify

Errors carry a stable ``code`` (used as a translation key by the bot) and never
personal data in their message, so they may be logged as they are.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ConfigurationError",
    "Conflict",
    "ConsentRequired",
    "DataShredded",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "KeyUnavailableError",
    "NotFound",
    "PermissionDenied",
    "PolicyDenied",
    "PrivacyError",
    "RateLimited",
    "RestrictedProcessing",
]


class PrivacyError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigurationError(PrivacyError):
    code = "configuration"


class KeyUnavailableError(ConfigurationError):
    code = "key_unavailable"


class PolicyDenied(PrivacyError):
    code = "denied"


class ConsentRequired(PolicyDenied):
    code = "consent_required"


class RestrictedProcessing(PolicyDenied):
    code = "restricted"


class PermissionDenied(PolicyDenied):
    code = "permission_denied"


class NotFound(PrivacyError):
    code = "not_found"


class InvalidInput(PrivacyError):
    code = "invalid_input"


class Conflict(PrivacyError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class RateLimited(PrivacyError):
    """``retry_at``: when asking again will be allowed, where it is known."""

    code = "rate_limited"
    retry_at: datetime | None = None


class DataShredded(PrivacyError):
    code = "shredded"


class IntegrityError(PrivacyError):
    code = "integrity"
