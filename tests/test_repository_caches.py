"""Repositories by concept: what moved out of SubjectRepository keeps the
per-transaction caches of customers and consents true."""

from __future__ import annotations

from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import DecideConsent, decide_consent
from tests.followup_support import customer, freeze


async def test_dropping_identities_is_seen_by_the_same_transaction(core: PrivacyCore) -> None:
    freeze(core)
    ref = await customer(core, 7401)
    async with core.uow() as uow:
        assert [i.kind for i in (await uow.customers.get(ref)).identities] == [
            IdentityKind.TELEGRAM
        ]
        assert [kind for kind, _ in await uow.customers.identity_blinds(ref)] == ["telegram"]
        await uow.customers.drop_identities(ref)
        assert (await uow.customers.get(ref)).identities == []
        assert await uow.customers.identity_blinds(ref) == []


async def test_reassigning_consents_is_seen_by_the_same_transaction(core: PrivacyCore) -> None:
    freeze(core)
    source = await customer(core, 7402)  # agreed to follow-ups
    target = await customer(core, 7403, follow_up=False)
    async with core.uow() as uow:
        await decide_consent(DecideConsent(target, "marketing", True), uow)
        assert set(await uow.consents.current(source)) == {"follow_up"}
        assert set(await uow.consents.current(target)) == {"marketing"}
        await uow.consents.reassign(source, target)
        assert await uow.consents.current(source) == {}
        assert set(await uow.consents.current(target)) == {"follow_up", "marketing"}
        assert await uow.consents.latest(source) is None


async def test_the_desk_counts_read_the_ledger_and_the_creation_dates(core: PrivacyCore) -> None:
    freeze(core)
    ref = await customer(core, 7404)
    async with core.uow() as uow:
        ledger = await uow.consents.ledger(["follow_up", "marketing"])
        created = await uow.customers.created_dates()
    assert [(r, p, d) for r, p, d, _ in ledger] == [(ref, "follow_up", "given")]
    assert created == [core.clock.now()]


async def test_holdings_count_what_is_held(core: PrivacyCore) -> None:
    freeze(core)
    ref = await customer(core, 7405)
    async with core.uow() as uow:
        held = await uow.holdings.of(ref)
    assert (held.identities, held.consents, held.purchases) == (1, 1, 0)
