"""A durable job: what a worker claimed (references only, never personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ERASURE", "EXPORT", "RECTIFY", "REQUEST_JOBS", "Job", "request_job_key"]

# The kinds of job that carry out a data-rights request, one job per request and kind.
ERASURE = "erasure"
EXPORT = "export"
RECTIFY = "rectify"
REQUEST_JOBS = (ERASURE, EXPORT, RECTIFY)


def request_job_key(kind: str, request_ref: str) -> str:
    return f"{kind}:{request_ref}"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    run_after: datetime
    state: str
