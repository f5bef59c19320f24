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
- finished jobs older than 30 days and callback signatures older than 10 minutes:
  deleted (housekeeping, no personal data)

Ages are counted from the record's own time (answered, purchased, updated).
A dry run returns the plan; the real run removes exactly the plan, re-checking
each row's age as it goes, and audits one ``retention.removed`` entry per
customer pseudonym with counts per category (never values).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.domain.deadlines import Duration, TimeUnit
from core.services._common import SYSTEM
from core.services.jobs import EnqueueJob, enqueue_job
from core.services.purchases import SIGNATURE_TTL
from core.storage import UnitOfWork
from core.storage.repositories import Actor

__all__ = [
    "JOB_TTL",
    "RETENTION",
    "Progress",
    "RetentionPlan",
    "SubjectRemoval",
    "earlier_by",
    "plan_retention",
    "run_retention",
    "schedule_retention",
]

JOB_TTL = timedelta(days=30)
_BATCH = 100

Progress = Callable[[int, int], None]


@dataclass
class SubjectRemoval:
    """Everything the sweep removes for one customer pseudonym (or purchase pseudonym)."""

    subject: str
    delete_customer: bool = False
    answer_ids: list[int] = field(default_factory=list)
    pseudonymise_ids: list[int] = field(default_factory=list)
    delete_purchase_ids: list[int] = field(default_factory=list)
    conversation: bool = False
    followup_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {
            "customer": int(self.delete_customer),
            "preference": len(self.answer_ids),
            "transaction_pseudonymised": len(self.pseudonymise_ids),
            "transaction_deleted": len(self.delete_purchase_ids),
            "behaviour": int(self.conversation) + len(self.followup_ids),
        }
        return {k: v for k, v in counts.items() if v}


@dataclass
class RetentionPlan:
    at: datetime
    subjects: list[SubjectRemoval] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for subject in self.subjects:
            for key, n in subject.counts().items():
                totals[key] = totals.get(key, 0) + n
        if self.job_ids:
            totals["jobs"] = len(self.job_ids)
        if self.signatures:
            totals["signatures"] = len(self.signatures)
        return totals


def earlier_by(at: datetime, period: Duration, zone: ZoneInfo) -> datetime:
    """``at`` minus a policy period on the local calendar (months clamp like the legal clock)."""
    local = at.astimezone(zone)
    if period.unit is TimeUnit.DAYS:
        day = local.date() - timedelta(days=period.amount)
    elif period.unit is TimeUnit.MONTHS:
        day = _months_back(local.date(), period.amount)
    else:
        day = _working_days_back(local.date(), period.amount)
    return datetime.combine(day, local.time(), tzinfo=zone).astimezone(UTC)


def _months_back(start: date, months: int) -> date:
    years, index = divmod(start.month - 1 - months, 12)
    year, month = start.year + years, index + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _working_days_back(start: date, amount: int) -> date:
    day = start
    while amount > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            amount -= 1
    return day


@dataclass(frozen=True)
class _Cutoffs:
    inactive: datetime
    answers: datetime
    transaction: datetime
    legal_hold: datetime | None  # None: no hold, purchases past retention are deleted
    conversations: datetime
    followups: datetime
    jobs: datetime
    signatures: datetime


def _cutoffs(uow: UnitOfWork, now: datetime) -> _Cutoffs:
    policy, zone = uow.policy, uow.policy.zone
    transaction = policy.category("transaction")
    hold = transaction.legal_hold
    return _Cutoffs(
        inactive=earlier_by(now, policy.inactive_after, zone),
        answers=earlier_by(now, policy.category("preference").retention, zone),
        transaction=earlier_by(now, transaction.retention, zone),
        legal_hold=None if hold is None else earlier_by(now, hold, zone),
        conversations=earlier_by(now, policy.conversation_state_ttl, zone),
        followups=earlier_by(now, policy.category("behaviour").retention, zone),
        jobs=now - JOB_TTL,
        signatures=now - SIGNATURE_TTL,
    )


async def plan_retention(uow: UnitOfWork) -> RetentionPlan:
    """What a sweep now would remove (the dry run's answer, and the real run's plan)."""
    now = uow.now()
    cut = _cutoffs(uow, now)
    repo = uow.retention
    plan = RetentionPlan(at=now)
    subjects: dict[str, SubjectRemoval] = {}

    def subject(ref: str) -> SubjectRemoval:
        return subjects.setdefault(ref, SubjectRemoval(ref))

    leaving = await repo.inactive_customers(cut.inactive)
    gone = set(leaving)
    for ref in leaving:
        subject(ref).delete_customer = True
    # Rows of a customer being deleted go with them (cascade); don't count them twice.
    for answer_id, ref in await repo.expired_answers(cut.answers):
        if ref not in gone:
            subject(ref).answer_ids.append(answer_id)
    await _plan_purchases(uow, cut, leaving, subject)
    for ref in await repo.stale_conversations(cut.conversations):
        if ref not in gone:
            subject(ref).conversation = True
    for order_id, ref in await repo.old_followups(cut.followups):
        if ref not in gone:
            subject(ref).followup_ids.append(order_id)
    plan.subjects = [subjects[k] for k in sorted(subjects)]
    plan.job_ids = await repo.finished_jobs(cut.jobs)
    plan.signatures = await repo.old_signatures(cut.signatures)
    return plan


async def _plan_purchases(
    uow: UnitOfWork,
    cut: _Cutoffs,
    leaving: list[str],
    subject: Callable[[str], SubjectRemoval],
) -> None:
    hold = cut.legal_hold
    rows = await uow.retention.purchases_past(cut.transaction, leaving)
    for purchase_id, ref, purchased_at, linked in rows:
        if hold is None or purchased_at < hold:
            subject(ref).delete_purchase_ids.append(purchase_id)
        elif linked:
            subject(ref).pseudonymise_ids.append(purchase_id)


async def run_retention(
    uow: UnitOfWork,
    *,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
) -> RetentionPlan:
    """Plan, then (unless ``dry_run``) remove, in batches of customers per transaction."""
    plan = await plan_retention(uow)
    if dry_run:
        await uow.rollback()
        return plan
    cut = _cutoffs(uow, plan.at)
    done: list[SubjectRemoval] = []
    total = len(plan.subjects)
    for start in range(0, total, _BATCH):
        for applied in await _apply_batch(plan.subjects[start : start + _BATCH], cut, uow):
            if applied.counts():
                await _audit(applied, actor, uow)
                done.append(applied)
        await uow.commit()
        if progress is not None:
            progress(min(start + _BATCH, total), total)
    result = RetentionPlan(plan.at, done)
    result.job_ids, result.signatures = await _housekeeping(plan, cut, uow)
    await uow.record(actor, "retention.completed", subject_ref=None, details=result.totals())
    await uow.commit()
    if progress is not None and total == 0:
        progress(0, 0)
    return result


async def _apply_batch(
    items: list[SubjectRemoval], cut: _Cutoffs, uow: UnitOfWork
) -> list[SubjectRemoval]:
    """Customers who leave one by one (lock, shred); the others' rows in one statement
    per kind for the whole batch, which is what makes a sweep of millions of rows quick."""
    done = {i.subject: await _apply(i, cut, uow) for i in items if i.delete_customer}
    staying = await _apply_staying([i for i in items if not i.delete_customer], cut, uow)
    done.update((r.subject, r) for r in staying)
    return [done[item.subject] for item in items]  # in the plan's order, like the dry run


async def _apply_staying(
    items: list[SubjectRemoval], cut: _Cutoffs, uow: UnitOfWork
) -> list[SubjectRemoval]:
    repo = uow.retention
    out = {item.subject: SubjectRemoval(item.subject) for item in items}
    answers = {i: item.subject for item in items for i in item.answer_ids}
    for i in await repo.remove_answers(list(answers), cut.answers):
        out[answers[i]].answer_ids.append(i)
    hold = cut.legal_hold or cut.transaction
    deleted = {i: item.subject for item in items for i in item.delete_purchase_ids}
    for i in await repo.remove_purchases(list(deleted), hold, None):
        out[deleted[i]].delete_purchase_ids.append(i)
    pseudonymised = {i: item.subject for item in items for i in item.pseudonymise_ids}
    for i in await repo.pseudonymise_purchases(list(pseudonymised), cut.transaction, None):
        out[pseudonymised[i]].pseudonymise_ids.append(i)
    talks = [item.subject for item in items if item.conversation]
    for ref in await repo.remove_conversations(talks, cut.conversations):
        out[ref].conversation = True
    followups = {o: item.subject for item in items for o in item.followup_ids}
    for o in await repo.remove_followups(list(followups), cut.followups):
        out[followups[o]].followup_ids.append(o)
    return list(out.values())


async def _apply(item: SubjectRemoval, cut: _Cutoffs, uow: UnitOfWork) -> SubjectRemoval:
    """Remove one leaving subject's planned rows; the result lists what was really removed."""
    repo = uow.retention
    out = SubjectRemoval(item.subject)
    # Locks the customer row: a customer who came back since planning stays.
    leaving = item.delete_customer and await repo.still_inactive(item.subject, cut.inactive)
    owner = item.subject if leaving else None
    if item.answer_ids:
        out.answer_ids = await repo.remove_answers(item.answer_ids, cut.answers)
    if item.delete_purchase_ids:
        hold = cut.legal_hold or cut.transaction
        out.delete_purchase_ids = await repo.remove_purchases(item.delete_purchase_ids, hold, owner)
    if item.pseudonymise_ids:
        out.pseudonymise_ids = await repo.pseudonymise_purchases(
            item.pseudonymise_ids, cut.transaction, owner
        )
    if item.conversation:
        out.conversation = bool(await repo.remove_conversations([item.subject], cut.conversations))
    if item.followup_ids:
        out.followup_ids = await repo.remove_followups(item.followup_ids, cut.followups)
    if leaving:
        # Shred first: from this moment every copy of their ciphertext is unreadable.
        await uow.keys.shred(item.subject)
        out.delete_customer = bool(await repo.remove_customer(item.subject, cut.inactive))
    return out


async def _audit(item: SubjectRemoval, actor: Actor, uow: UnitOfWork) -> None:
    await uow.record(actor, "retention.removed", subject_ref=item.subject, details=item.counts())


async def _housekeeping(
    plan: RetentionPlan, cut: _Cutoffs, uow: UnitOfWork
) -> tuple[list[int], list[str]]:
    repo = uow.retention
    jobs = plan.job_ids if plan.job_ids and await repo.remove_jobs(plan.job_ids) else []
    signatures = plan.signatures
    if signatures and not await repo.remove_signatures(signatures, cut.signatures):
        signatures = []
    return list(jobs), list(signatures)


RETENTION = "retention"


SWEEP_AT = time(3, 0)  # shop time: the quietest hour, not whenever the bot restarts


async def schedule_retention(uow: UnitOfWork) -> bool:
    """Enqueue the next sweep at 03:00 shop time (one job per day, whichever process asks)."""
    zone = ZoneInfo(uow.policy.default_timezone)
    local_now = uow.now().astimezone(zone)
    run_at = datetime.combine(local_now.date(), SWEEP_AT, zone)
    if run_at <= local_now:
        run_at += timedelta(days=1)
    key = f"{RETENTION}:{run_at.date().isoformat()}"
    job = EnqueueJob(RETENTION, key, run_after=run_at.astimezone(UTC), max_attempts=3)
    added = await enqueue_job(job, uow)
    await uow.commit()
    return added
