"""Master keys: a wrong or missing key is a clear error at start; rotation rewraps only."""

from __future__ import annotations

import base64
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select

import core.services.keys as key_service
from core.app import PrivacyCore, open_core
from core.crypto import MasterKey, generate_master_key, normalise_phone
from core.crypto.keys import KEY_FILE_NAME, load_keyring
from core.domain.customer import Identity, IdentityKind
from core.domain.survey import Question, QuestionKind, Survey
from core.errors import ConfigurationError, KeyUnavailableError
from core.services import (
    RecordAnswer,
    RegisterCustomer,
    record_answer,
    register_customer,
    survey_answers,
)
from core.services.keys import rotate_master_key
from core.settings import Settings
from core.storage.tables import CustomerRow, MetaRow

SURVEY = Survey(
    "prefs", "survey.prefs.title", (Question("wishes", QuestionKind.TEXT, "survey.prefs.wishes"),)
)


@dataclass(frozen=True)
class Person:
    phone: str
    email: str
    name: str
    wish: str


PEOPLE = (
    Person("+852 9123 4567", "alice@example.com", "Alice Wong", "more jade"),
    Person("+852 6123 4567", "bob@example.com", "Bob Chan", "fewer calls"),
    Person("+86 138 0013 8000", "wang@example.cn", "王小明", "周末优惠"),
    Person("+852 5123 4567", "dora@example.com", "Dora Lee", "no paper receipts"),
)


class Interrupted(Exception):
    pass


async def store(core: PrivacyCore, person: Person) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, person.phone, name=person.name), uow
        )
        await uow.commit()
    async with core.uow() as uow:
        customer = await uow.customers.get(customer.ref, lock=True)
        customer.email = person.email
        await uow.customers.add_identity(customer.ref, Identity(IdentityKind.EMAIL, person.email))
        await uow.customers.save(customer)
        await uow.commit()
    async with core.uow() as uow:
        await record_answer(RecordAnswer(customer.ref, SURVEY, "wishes", person.wish), uow)
        await uow.commit()
    return customer.ref


async def assert_readable(core: PrivacyCore, refs: list[str]) -> None:
    for ref, person in zip(refs, PEOPLE, strict=True):
        async with core.uow() as uow:
            customer = await uow.customers.get(ref)
            answers = await survey_answers(ref, SURVEY.id, uow)
        assert customer.name == person.name
        assert customer.email == person.email
        assert customer.phone == normalise_phone(person.phone, "HK")
        assert answers["wishes"].value == person.wish


async def ciphertexts(core: PrivacyCore) -> list[tuple[bytes | None, ...]]:
    async with core.uow() as uow:
        rows = await uow.session.execute(
            select(CustomerRow.name_enc, CustomerRow.phone_enc, CustomerRow.email_enc).order_by(
                CustomerRow.ref
            )
        )
        return [tuple(r) for r in rows]


async def wrapping_kids(core: PrivacyCore) -> set[str]:
    """The master key ids that wrap the data keys and the blind-index key."""
    kids = await core.keystore.master_kids()
    async with core.uow() as uow:
        blind = await uow.session.scalar(
            select(MetaRow.value).where(MetaRow.key == "blind_index_key")
        )
    assert blind is not None
    return kids | {bytes(blind[:8]).hex()}


def key_file_keys(settings: Settings) -> list[MasterKey]:
    text = (settings.data_dir / KEY_FILE_NAME).read_text("ascii")
    lines = [line.strip() for line in text.splitlines()]
    return [MasterKey.decode(line, source="test") for line in lines if line and line[0] != "#"]


@pytest.fixture
async def stocked(core: PrivacyCore) -> tuple[PrivacyCore, list[str]]:
    return core, [await store(core, person) for person in PEOPLE]


# --- keys at start ----------------------------------------------------------------------


async def test_key_file_is_created_with_mode_0600(core: PrivacyCore) -> None:
    path = core.settings.data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_key_file_holds_the_key_in_use(core: PrivacyCore) -> None:
    assert [k.kid for k in key_file_keys(core.settings)] == [core.keyring.primary.kid]


async def test_database_reopens_with_its_key_file(settings: Settings) -> None:
    first = await open_core(settings)
    try:
        ref = await store(first, PEOPLE[0])
    finally:
        await first.close()
    again = await open_core(settings)
    try:
        async with again.uow() as uow:
            assert (await uow.customers.get(ref)).name == PEOPLE[0].name
    finally:
        await again.close()


async def test_database_reopens_with_its_master_key_setting(settings: Settings) -> None:
    settings = replace(settings, master_key=generate_master_key().encoded())
    first = await open_core(settings)
    try:
        ref = await store(first, PEOPLE[0])
    finally:
        await first.close()
    again = await open_core(settings)
    try:
        async with again.uow() as uow:
            assert (await uow.customers.get(ref)).name == PEOPLE[0].name
    finally:
        await again.close()
    assert not (settings.data_dir / KEY_FILE_NAME).exists()


async def test_a_different_master_key_is_refused_at_start(settings: Settings) -> None:
    first = await open_core(replace(settings, master_key=generate_master_key().encoded()))
    try:
        await store(first, PEOPLE[0])
    finally:
        await first.close()
    other = generate_master_key()
    with pytest.raises(KeyUnavailableError) as caught:
        await open_core(replace(settings, master_key=other.encoded()))
    assert other.encoded() not in str(caught.value)


async def test_a_lost_key_file_is_refused_and_not_replaced(settings: Settings) -> None:
    first = await open_core(settings)
    try:
        await store(first, PEOPLE[0])
    finally:
        await first.close()
    path = settings.data_dir / KEY_FILE_NAME
    path.unlink()
    with pytest.raises(KeyUnavailableError):
        await open_core(settings)
    assert not path.exists()


@pytest.mark.parametrize(
    "bad_key",
    [
        "not-a-key",
        "ключ",
        base64.urlsafe_b64encode(b"\x00" * 16).decode(),
        base64.urlsafe_b64encode(b"\x00" * 33).decode(),
        f"{base64.urlsafe_b64encode(bytes(range(32))).decode()},oops",  # fixed: xdist ids
    ],
)
def test_a_malformed_master_key_is_refused(tmp_path: Path, bad_key: str) -> None:
    with pytest.raises(KeyUnavailableError):
        load_keyring(bad_key, tmp_path, may_create=True)
    assert not (tmp_path / KEY_FILE_NAME).exists()


async def test_a_malformed_master_key_stops_start_up(settings: Settings) -> None:
    with pytest.raises(KeyUnavailableError, match="PRIVACY_MASTER_KEY"):
        await open_core(replace(settings, master_key="not-a-key"))


async def test_a_malformed_key_file_is_refused(settings: Settings) -> None:
    path = settings.data_dir / KEY_FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_text("this is not a key\n", "ascii")
    with pytest.raises(KeyUnavailableError):
        await open_core(settings)


# --- rotation -----------------------------------------------------------------------------


async def test_rotation_keeps_every_field_readable(
    stocked: tuple[PrivacyCore, list[str]],
) -> None:
    core, refs = stocked
    await rotate_master_key(core)
    await assert_readable(core, refs)


async def test_rotation_puts_a_new_key_first_and_keeps_the_previous_one(
    stocked: tuple[PrivacyCore, list[str]],
) -> None:
    core, _ = stocked
    old = core.keyring.primary.kid
    report = await rotate_master_key(core)
    kids = [k.kid for k in key_file_keys(core.settings)]
    assert kids == [core.keyring.primary.kid, old]
    assert report.new_kid == kids[0].hex() != old.hex()
    assert stat.S_IMODE((core.settings.data_dir / KEY_FILE_NAME).stat().st_mode) == 0o600


async def test_rotating_twice_retires_the_first_key(
    stocked: tuple[PrivacyCore, list[str]],
) -> None:
    core, refs = stocked
    first = core.keyring.primary.kid_hex
    middle = (await rotate_master_key(core)).new_kid
    newest = (await rotate_master_key(core)).new_kid
    assert [k.kid_hex for k in key_file_keys(core.settings)] == [newest, middle]
    assert first not in {newest, middle}
    assert await wrapping_kids(core) == {newest}
    await assert_readable(core, refs)


async def test_rotation_rewraps_every_key_with_the_new_master_key(
    stocked: tuple[PrivacyCore, list[str]],
) -> None:
    core, _ = stocked
    report = await rotate_master_key(core)
    assert await wrapping_kids(core) == {report.new_kid}
    assert (report.rewrapped, report.total, report.generated) == (len(PEOPLE) + 1,) * 2 + (True,)


async def test_rotation_leaves_ciphertexts_untouched(
    stocked: tuple[PrivacyCore, list[str]],
) -> None:
    core, _ = stocked
    before = await ciphertexts(core)
    await rotate_master_key(core)
    assert await ciphertexts(core) == before


async def test_rotation_reports_progress_up_to_the_total(
    stocked: tuple[PrivacyCore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    core, _ = stocked
    monkeypatch.setattr(key_service, "_BATCH", 2)
    seen: list[tuple[int, int]] = []
    await rotate_master_key(core, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(PEOPLE) + 1, len(PEOPLE) + 1)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_interrupted_rotation_is_finished_by_a_rerun(
    stocked: tuple[PrivacyCore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    core, refs = stocked
    monkeypatch.setattr(key_service, "_BATCH", 1)

    def stop(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_master_key(core, stop)
    new_kid = core.keyring.primary.kid_hex
    assert len(await wrapping_kids(core)) == 2
    report = await rotate_master_key(core)
    assert (report.new_kid, report.generated) == (new_kid, False)
    assert await wrapping_kids(core) == {new_kid}
    assert key_file_keys(core.settings)[0].kid_hex == new_kid
    await assert_readable(core, refs)


async def test_rotation_interrupted_by_a_crash_is_finished_after_restart(
    stocked: tuple[PrivacyCore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    core, refs = stocked
    monkeypatch.setattr(key_service, "_BATCH", 1)

    def crash(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_master_key(core, crash)
    new_kid = core.keyring.primary.kid_hex
    await core.close()
    restarted = await open_core(core.settings)
    try:
        report = await rotate_master_key(restarted)
        assert (report.new_kid, report.generated) == (new_kid, False)
        assert await wrapping_kids(restarted) == {new_kid}
        await assert_readable(restarted, refs)
    finally:
        await restarted.close()


async def test_core_reopens_after_rotation(stocked: tuple[PrivacyCore, list[str]]) -> None:
    core, refs = stocked
    await rotate_master_key(core)
    await core.close()
    reopened = await open_core(core.settings)
    try:
        await assert_readable(reopened, refs)
    finally:
        await reopened.close()


async def test_rotation_is_refused_for_a_single_key_in_the_environment(
    settings: Settings,
) -> None:
    core = await open_core(replace(settings, master_key=generate_master_key().encoded()))
    try:
        await store(core, PEOPLE[0])
        kids_before = await wrapping_kids(core)
        with pytest.raises(ConfigurationError, match="PRIVACY_MASTER_KEY") as caught:
            await rotate_master_key(core)
        assert "NEW,OLD" in str(caught.value)
        assert await wrapping_kids(core) == kids_before
        assert not (settings.data_dir / KEY_FILE_NAME).exists()
    finally:
        await core.close()


async def test_rotation_to_a_new_key_given_in_the_environment(settings: Settings) -> None:
    old, new = generate_master_key(), generate_master_key()
    first = await open_core(replace(settings, master_key=old.encoded()))
    try:
        ref = await store(first, PEOPLE[0])
    finally:
        await first.close()
    both = await open_core(replace(settings, master_key=f"{new.encoded()},{old.encoded()}"))
    try:
        report = await rotate_master_key(both)
        assert await wrapping_kids(both) == {new.kid_hex}
        assert report.new_kid == new.kid_hex
    finally:
        await both.close()
    only_new = await open_core(replace(settings, master_key=new.encoded()))
    try:
        async with only_new.uow() as uow:
            assert (await uow.customers.get(ref)).name == PEOPLE[0].name
    finally:
        await only_new.close()


async def test_a_key_file_from_another_installation_is_refused(settings: Settings) -> None:
    first = await open_core(settings)
    try:
        await store(first, PEOPLE[0])
    finally:
        await first.close()
    path = settings.data_dir / KEY_FILE_NAME
    path.write_text(generate_master_key().encoded() + "\n", "ascii")
    with pytest.raises(KeyUnavailableError, match=str(path)):
        await open_core(settings)


# --- rotation while another process (the running bot) has the database open -----------


async def test_a_running_process_still_reads_customers_after_another_rotates(
    settings: Settings,
) -> None:
    bot = await open_core(settings)
    try:
        ref = await store(bot, PEOPLE[0])
        cli = await open_core(settings)
        try:
            await rotate_master_key(cli)
        finally:
            await cli.close()
        async with bot.uow() as uow:
            assert (await uow.customers.get(ref)).name == PEOPLE[0].name
    finally:
        await bot.close()


async def test_a_customer_registered_during_rotation_is_readable_after_restart(
    settings: Settings,
) -> None:
    bot = await open_core(settings)
    try:
        await store(bot, PEOPLE[0])
        cli = await open_core(settings)
        try:
            await rotate_master_key(cli)
        finally:
            await cli.close()
        late = await store(bot, PEOPLE[1])
    finally:
        await bot.close()
    restarted = await open_core(settings)
    try:
        async with restarted.uow() as uow:
            assert (await uow.customers.get(late)).name == PEOPLE[1].name
    finally:
        await restarted.close()
