"""Use case: the periodic review and clean-up (定期审核与清理).

One sweep, planned by one set of queries and then carried out:

- survey answers older than the preference category's retention: deleted
- purchases older than the transaction retention: pseudonymised (items and the
  customer link dropped; order id, date, total, currency kept for the legal hold)
- purchases older than the legal hold: deleted
- customers inactive for ``inactive_after``: data key shredded first (every copy
  of their ciphertext, backups included, becomes noise), then their rows deleted
- conversation state older than ``conversation_state_ttl``, finished follow-ups
  older than the behaviour retention: deleted
- request records closed longer than ``request_record_retention`` ago (24 months:
  CCPA regulations §7101 keep them that long as proof): deleted, whoever they
  were about (an erased customer's requests too)
- finished jobs older than 30 days and callback signatures older than 10 minutes:
  deleted (housekeeping, no personal data)

Ages are counted from the record's own time (answered, purchased, updated).
A dry run returns the plan: per subject (customer ref, or purchase pseudonym),
how many records of each kind go. The real run makes the same plan, then takes
its subjects in batches (one transaction each) and removes their records that
still meet the plan's conditions, with the plan's cut-offs, so a record that
became fresh since (a customer came back) is kept; it audits one
``retention.removed`` entry per subject, in the batch's transaction, with the
counts really removed per category (never values). Nothing changed in between:
the real run's result equals the dry run's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from core.domain.actor import Actor
from core.domain.agent_request import FINAL_KEPT
from core.domain.calendar import Duration
from core.services._common import SYSTEM
from core.services.inbound import SEEN_MESSAGE_TTL
from core.services.jobs import EnqueueJob, enqueue_job
from core.services.outreach.purchases import SIGNATURE_TTL
from core.storage import UnitOfWork
from core.storage.repositories.retention import PurchaseCutoffs

__all__ = [
    "JOB_TTL",
    "RETENTION",
    "Progress",
    "RetentionPlan",
    "SubjectRemoval",
    "plan_retention",
    "run_retention",
    "schedule_retention",
]

JOB_TTL = timedelta(days=30)
_BATCH = 100  # subjects per transaction, each audited in it ...
_BATCH_ROWS = 10_000  # ... and about this many rows (one subject's rows are never split)

Progress = Callable[[int, int], None]


@dataclass
class SubjectRemoval:
    """What the sweep removes for one customer (or purchase pseudonym): counts, never values."""

    subject: str
    delete_customer: bool = False
    answers: int = 0
    pseudonymised: int = 0
    purchases_deleted: int = 0
    conversation: bool = False
    followups: int = 0
    requests: int = 0

    def counts(self) -> dict[str, int]:
        counts = {
            "customer": int(self.delete_customer),
            "preference": self.answers,
            "transaction_pseudonymised": self.pseudonymised,
            "transaction_deleted": self.purchases_deleted,
            "behaviour": int(self.conversation) + self.followups,
            "requests": self.requests,
        }
        return {k: v for k, v in counts.items() if v}


@dataclass
class RetentionPlan:
    at: datetime
    subjects: list[SubjectRemoval] = field(default_factory=list)
    jobs: int = 0
    signatures: int = 0
    agent_requests: int = 0  # final statuses past their keeping time (DRP)
    seen_messages: int = 0  # platform message ids older than a redelivery can be

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for subject in self.subjects:
            for key, n in subject.counts().items():
                totals[key] = totals.get(key, 0) + n
        if self.jobs:
            totals["jobs"] = self.jobs
        if self.signatures:
            totals["signatures"] = self.signatures
        if self.agent_requests:
            totals["agent_requests"] = self.agent_requests
        if self.seen_messages:
            totals["seen_messages"] = self.seen_messages
        return totals


@dataclass(frozen=True)
class _Cutoffs:
    inactive: datetime
    answers: datetime
    purchases: PurchaseCutoffs  # retention; legal hold (None: past retention is deleted)
    conversations: datetime
    followups: datetime
    requests: datetime
    jobs: datetime
    signatures: datetime
    agent_requests: datetime
    seen_messages: datetime


def _cutoffs(uow: UnitOfWork, now: datetime) -> _Cutoffs:
    policy = uow.policy
    # Counted back on the shop's calendar, holidays included, like the legal clocks.
    calendar, zone = policy.calendar, policy.zone

    def earlier_by(period: Duration) -> datetime:
        return calendar.earlier(now, period, zone)

    transaction = policy.category("transaction")
    hold = transaction.legal_hold
    return _Cutoffs(
        inactive=earlier_by(policy.inactive_after),
        answers=earlier_by(policy.category("preference").retention),
        purchases=PurchaseCutoffs(
            earlier_by(transaction.retention),
            None if hold is None else earlier_by(hold),
        ),
        conversations=earlier_by(policy.conversation_state_ttl),
        followups=earlier_by(policy.category("behaviour").retention),
        requests=earlier_by(policy.request_record_retention),
        jobs=now - JOB_TTL,
        signatures=now - SIGNATURE_TTL,
        agent_requests=now - FINAL_KEPT,
        seen_messages=now - SEEN_MESSAGE_TTL,
    )


async def plan_retention(uow: UnitOfWork) -> RetentionPlan:
    """What a sweep now would remove (the dry run's answer, and the real run's plan).

    One grouped query per kind of record: memory grows with the subjects, not the rows.
    """
    now = uow.now()
    cut = _cutoffs(uow, now)
    repo = uow.retention
    subjects = _Subjects(await repo.inactive_customers(cut.inactive))
    # A leaving customer's purchases are all counted: deleted past the hold, else
    # pseudonymised (the link and the items go with the customer).
    for ref, deleted, pseudonymised in await repo.purchases_per_subject(
        cut.purchases, cut.inactive
    ):
        if deleted or pseudonymised:
            item = subjects.get(ref)
            item.purchases_deleted, item.pseudonymised = deleted, pseudonymised
    await _plan_staying_rows(subjects, cut, uow)
    # Request records are pseudonymous proof, kept apart from the customer's data:
    # they go on their own clock, a leaving (or erased) customer's too.
    for ref, n in await repo.closed_requests_per_subject(cut.requests):
        subjects.get(ref).requests = n
    plan = RetentionPlan(at=now, subjects=subjects.in_order())
    plan.jobs = await repo.finished_jobs(cut.jobs)
    plan.signatures = await repo.old_signatures(cut.signatures)
    plan.agent_requests = await repo.old_agent_requests(cut.agent_requests)
    plan.seen_messages = await repo.old_seen_messages(cut.seen_messages)
    return plan


class _Subjects:
    """The plan's subjects by reference (a customer ref, or a purchase pseudonym)."""

    def __init__(self, leaving: list[str]) -> None:
        self._by_ref = {ref: SubjectRemoval(ref, delete_customer=True) for ref in leaving}
        self.gone = set(leaving)

    def get(self, ref: str) -> SubjectRemoval:
        found = self._by_ref.get(ref)
        if found is None:
            found = self._by_ref[ref] = SubjectRemoval(ref)
        return found

    def in_order(self) -> list[SubjectRemoval]:
        return [self._by_ref[k] for k in sorted(self._by_ref)]


async def _plan_staying_rows(subjects: _Subjects, cut: _Cutoffs, uow: UnitOfWork) -> None:
    """Rows past their time of customers who stay. A leaving customer's rows go with
    them (cascade): they are not counted twice."""
    repo, gone = uow.retention, subjects.gone
    for ref, n in await repo.answers_per_customer(cut.answers):
        if ref not in gone:
            subjects.get(ref).answers = n
    for ref in await repo.stale_conversations(cut.conversations):
        if ref not in gone:
            subjects.get(ref).conversation = True
    for ref, n in await repo.followups_per_customer(cut.followups):
        if ref not in gone:
            subjects.get(ref).followups = n


async def run_retention(
    uow: UnitOfWork,
    *,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
) -> RetentionPlan:
    """Plan, then (unless ``dry_run``) remove, in batches of subjects per transaction.

    A batch driver, the documented exception to "the entry point commits once": it
    owns the transactions of ``uow`` (a sweep of every customer is too big for
    one), one per batch, and the caller does not commit. The plan's read is ended
    (rolled back) by a dry run. Each batch: the subjects' rows removed (one
    statement per kind for the whole batch; leaving customers one by one), one
    ``retention.removed`` entry per subject with what was really removed, then
    commit; last, the housekeeping and ``retention.completed``, committed.
    """
    plan = await plan_retention(uow)
    if dry_run:
        await uow.rollback()
        return plan
    cut = _cutoffs(uow, plan.at)
    done: list[SubjectRemoval] = []
    total, finished = len(plan.subjects), 0
    for batch in _batches(plan.subjects):
        for applied in await _apply_batch(batch, cut, uow):
            if applied.counts():
                await _audit(applied, actor, uow)
                done.append(applied)
        await uow.commit()
        finished += len(batch)
        if progress is not None:
            progress(finished, total)
    result = RetentionPlan(plan.at, done)
    await _housekeeping(plan, result, cut, uow)
    await uow.record(actor, "retention.completed", subject_ref=None, details=result.totals())
    await uow.commit()
    if progress is not None and total == 0:
        progress(0, 0)
    return result


def _batches(subjects: list[SubjectRemoval]) -> Iterator[list[SubjectRemoval]]:
    """Up to ``_BATCH`` subjects and about ``_BATCH_ROWS`` rows per transaction."""
    batch: list[SubjectRemoval] = []
    rows = 0
    for item in subjects:
        size = sum(item.counts().values())
        if batch and (len(batch) >= _BATCH or rows + size > _BATCH_ROWS):
            yield batch
            batch, rows = [], 0
        batch.append(item)
        rows += size
    if batch:
        yield batch


async def _apply_batch(
    items: list[SubjectRemoval], cut: _Cutoffs, uow: UnitOfWork
) -> list[SubjectRemoval]:
    """Remove a batch's planned rows; the result (in the plan's order, like the dry
    run) counts what was really removed."""
    out = {item.subject: SubjectRemoval(item.subject) for item in items}
    staying: list[SubjectRemoval] = []
    for item in items:
        # Locks the customer row: a customer who came back since planning stays,
        # and only their rows past retention go, like anyone else's.
        if item.delete_customer and await uow.retention.still_inactive(item.subject, cut.inactive):
            await _remove_leaver(item, out[item.subject], cut, uow)
        else:
            staying.append(item)
    await _apply_staying(staying, out, cut, uow)
    closed = [item.subject for item in items if item.requests]
    if closed:
        for ref, n in (await uow.retention.remove_requests(closed, cut.requests)).items():
            out[ref].requests = n
    return [out[item.subject] for item in items]


async def _remove_leaver(
    item: SubjectRemoval, out: SubjectRemoval, cut: _Cutoffs, uow: UnitOfWork
) -> None:
    repo = uow.retention
    if item.purchases_deleted or item.pseudonymised:
        out.purchases_deleted, out.pseudonymised = await repo.remove_leavers_purchases(
            item.subject, cut.purchases
        )
    # Shred first: from this moment every copy of their ciphertext is unreadable.
    uow.keys.shred(item.subject)
    out.delete_customer = bool(await repo.remove_customer(item.subject, cut.inactive))


async def _apply_staying(
    items: list[SubjectRemoval], out: dict[str, SubjectRemoval], cut: _Cutoffs, uow: UnitOfWork
) -> None:
    """The other subjects' rows, one statement per kind for the whole batch (each
    repeats the plan's conditions, so a row that became fresh stays)."""
    repo = uow.retention
    answers = [item.subject for item in items if item.answers]
    if answers:
        for ref, n in (await repo.remove_answers(answers, cut.answers)).items():
            out[ref].answers = n
    deleted = [item.subject for item in items if item.purchases_deleted]
    if deleted:
        for ref, n in (await repo.remove_purchases(deleted, cut.purchases)).items():
            out[ref].purchases_deleted = n
    pseudonymised = [item.subject for item in items if item.pseudonymised]
    if pseudonymised:
        for ref, n in (await repo.pseudonymise_purchases(pseudonymised, cut.purchases)).items():
            out[ref].pseudonymised = n
    await _apply_behaviour(items, out, cut, uow)


async def _apply_behaviour(
    items: list[SubjectRemoval], out: dict[str, SubjectRemoval], cut: _Cutoffs, uow: UnitOfWork
) -> None:
    """Conversation states and follow-up records, one statement each for the batch."""
    repo = uow.retention
    talks = [item.subject for item in items if item.conversation]
    if talks:
        for ref in await repo.remove_conversations(talks, cut.conversations):
            out[ref].conversation = True
    followups = [item.subject for item in items if item.followups]
    if followups:
        for ref, n in (await repo.remove_followups(followups, cut.followups)).items():
            out[ref].followups = n


async def _audit(item: SubjectRemoval, actor: Actor, uow: UnitOfWork) -> None:
    await uow.record(actor, "retention.removed", subject_ref=item.subject, details=item.counts())


async def _housekeeping(
    plan: RetentionPlan, result: RetentionPlan, cut: _Cutoffs, uow: UnitOfWork
) -> None:
    repo = uow.retention
    result.jobs = await repo.remove_jobs(cut.jobs) if plan.jobs else 0
    result.signatures = await repo.remove_signatures(cut.signatures) if plan.signatures else 0
    if plan.agent_requests:
        result.agent_requests = await repo.remove_agent_requests(cut.agent_requests)
    if plan.seen_messages:
        result.seen_messages = await repo.remove_seen_messages(cut.seen_messages)


RETENTION = "retention"


SWEEP_AT = time(3, 0)  # shop time: the quietest hour, not whenever the bot restarts


async def schedule_retention(uow: UnitOfWork) -> bool:
    """Enqueue the next sweep at 03:00 shop time (one job per day, whichever process asks)."""
    zone = uow.policy.zone
    local_now = uow.now().astimezone(zone)
    run_at = datetime.combine(local_now.date(), SWEEP_AT, zone)
    if run_at <= local_now:
        run_at += timedelta(days=1)
    key = f"{RETENTION}:{run_at.date().isoformat()}"
    job = EnqueueJob(RETENTION, key, run_after=run_at.astimezone(UTC), max_attempts=3)
    return await enqueue_job(job, uow)
