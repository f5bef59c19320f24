"""A leaked SQLite file (and its WAL) or log exposes none of a customer's personal data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.app import PrivacyCore, open_core
from core.crypto import normalise_email
from core.domain.customer import Identity, IdentityKind
from core.domain.survey import Question, QuestionKind, Survey
from core.services import (
    DecideConsent,
    RecordAnswer,
    RegisterCustomer,
    decide_consent,
    find_customer,
    record_answer,
    register_customer,
)
from core.settings import Settings

PHONE = "+852 9123 4567"
EMAIL = "Alice.Wong@Example.com"
NAME = "Alice Wong"
CHINESE_NAME = "王小明"
CHINESE_PHONE = "+86 138 0013 8000"
FREE_TEXT = "Please stop calling me at the Causeway Bay flat"
SURVEY = Survey(
    "prefs",
    "survey.prefs.title",
    (Question("wishes", QuestionKind.TEXT, "survey.prefs.wishes"),),
)

SECRETS = {
    "phone as typed": PHONE.encode(),
    "phone E.164": b"+85291234567",
    "phone local": b"91234567",
    "email as typed": EMAIL.encode(),
    "email casefolded": EMAIL.casefold().encode(),
    "name": NAME.encode(),
    "chinese name utf-8": CHINESE_NAME.encode("utf-8"),
    "chinese name utf-16": CHINESE_NAME.encode("utf-16-le"),
    "chinese customer's phone": b"+8613800138000",
    "survey free text": FREE_TEXT.encode(),
}


@dataclass
class Stored:
    core: PrivacyCore
    db_path: Path


def leaks(blob: bytes) -> list[str]:
    return [what for what, value in SECRETS.items() if value in blob]


def database_bytes(db_path: Path) -> bytes:
    """The database file and its companions (-wal, -shm), as a thief would copy them."""
    files = sorted(db_path.parent.glob(db_path.name + "*"))
    assert db_path in files
    return b"".join(f.read_bytes() for f in files)


async def store_customers(core: PrivacyCore) -> None:
    """Everything goes through services, as the bot would do it."""
    async with core.uow() as uow:
        alice, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, PHONE, name=NAME), uow
        )
        await uow.commit()
    async with core.uow() as uow:
        customer = await uow.customers.get(alice.ref, lock=True)
        customer.email = normalise_email(EMAIL)
        await uow.customers.add_identity(alice.ref, Identity(IdentityKind.EMAIL, customer.email))
        await uow.customers.save(customer)
        await uow.commit()
    async with core.uow() as uow:
        await decide_consent(DecideConsent(alice.ref, "follow_up", give=True), uow)
        await uow.commit()
    async with core.uow() as uow:
        await record_answer(RecordAnswer(alice.ref, SURVEY, "wishes", FREE_TEXT), uow)
        await uow.commit()
    async with core.uow() as uow:
        await register_customer(
            RegisterCustomer(IdentityKind.PHONE, CHINESE_PHONE, name=CHINESE_NAME), uow
        )
        await uow.commit()
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.EMAIL, EMAIL.upper(), uow)
        assert found is not None
        assert found.name == NAME


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'privacy.db'}",
        master_key=None,
        policy_file=None,
    )


@pytest.fixture
async def stored(sqlite_settings: Settings) -> Stored:
    core = await open_core(sqlite_settings)
    try:
        await store_customers(core)
    except BaseException:
        await core.close()
        raise
    return Stored(core, sqlite_settings.data_dir / "privacy.db")


def test_the_values_are_detectable_in_plain_bytes() -> None:
    blob = b"x" + "+852 9123 4567 / alice.wong@example.com / 王小明".encode() + b"y"
    assert set(leaks(blob)) >= {"phone as typed", "email casefolded", "chinese name utf-8"}


async def test_the_stored_values_are_readable_through_the_core(stored: Stored) -> None:
    try:
        async with stored.core.uow() as uow:
            alice = await find_customer(IdentityKind.PHONE, "9123 4567", uow)
        assert alice is not None
        assert (alice.name, alice.phone, alice.email) == (
            NAME,
            "+85291234567",
            "alice.wong@example.com",
        )
    finally:
        await stored.core.close()


async def test_open_database_and_wal_contain_no_personal_data(stored: Stored) -> None:
    try:
        wal = stored.db_path.with_name(stored.db_path.name + "-wal")
        assert wal.exists()
        assert wal.stat().st_size > 0
        assert leaks(database_bytes(stored.db_path)) == []
    finally:
        await stored.core.close()


async def test_closed_database_contains_no_personal_data(stored: Stored) -> None:
    await stored.core.close()
    blob = database_bytes(stored.db_path)
    assert len(blob) > 0
    assert leaks(blob) == []


async def test_logs_contain_no_personal_data(
    sqlite_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (None, "sqlalchemy", "aiosqlite", "alembic", "asyncio", "core", "bot"):
        caplog.set_level(logging.DEBUG, logger=name)
    core = await open_core(sqlite_settings)
    try:
        await store_customers(core)
    finally:
        await core.close()
    # The capture saw the SQL going to the database, parameters included.
    assert any("INSERT INTO customers" in r.getMessage() for r in caplog.records)
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    ).encode()
    assert leaks(logged) == []
