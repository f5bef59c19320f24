"""Normalisation and blind indexes: one person, one index, whatever way they type it."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.app import PrivacyCore
from core.crypto import BlindIndexer, normalise_email, normalise_phone
from core.domain.customer import IdentityKind
from core.errors import InvalidInput
from core.services import RegisterCustomer, find_customer, register_customer

INDEXER = BlindIndexer(b"\x01" * 32)

# Hong Kong mobiles: 8 digits from 5, 6 or 9; mainland mobiles: 11 digits from 13-19.
hk_numbers = st.builds("{}{:07d}".format, st.sampled_from("569"), st.integers(0, 9_999_999))
cn_mobiles = st.builds("1{}{:09d}".format, st.sampled_from("3456789"), st.integers(0, 999_999_999))

HK_FORMATS: list[Callable[[str], str]] = [
    lambda d: f"+852 {d[:4]} {d[4:]}",
    lambda d: f"+852{d}",
    lambda d: f"+852-{d[:4]}-{d[4:]}",
    lambda d: f"(+852) {d}",
    lambda d: f"+852.{d[:4]}.{d[4:]}",
    lambda d: f"+852 {d[:2]} {d[2:5]} {d[5:]}",
    lambda d: f"{d[:4]} {d[4:]}",
    lambda d: f"{d[:4]}-{d[4:]}",
    lambda d: f"  {d}\t",
    lambda d: f"tel:+852-{d}",
]
CN_FORMATS: list[Callable[[str], str]] = [
    lambda d: f"+86 {d[:3]} {d[3:7]} {d[7:]}",
    lambda d: f"+86{d}",
    lambda d: f"+86-{d[:3]}-{d[3:7]}-{d[7:]}",
    lambda d: f"(+86) {d}",
    lambda d: f"+86 ({d[:3]}) {d[3:7]}-{d[7:]}",
]


def phone_index(raw: str, region: str = "HK") -> str:
    return INDEXER.index("phone", normalise_phone(raw, region))


def email_index(raw: str) -> str:
    return INDEXER.index("email", normalise_email(raw))


@given(hk_numbers, st.sampled_from(HK_FORMATS))
def test_hk_number_variants_normalise_to_one_e164(digits: str, fmt: Callable[[str], str]) -> None:
    assert normalise_phone(fmt(digits), "HK") == f"+852{digits}"


@given(hk_numbers, st.sampled_from(HK_FORMATS), st.sampled_from(HK_FORMATS))
def test_hk_number_variants_share_one_index(
    digits: str, a: Callable[[str], str], b: Callable[[str], str]
) -> None:
    assert phone_index(a(digits)) == phone_index(b(digits))


@given(cn_mobiles, st.sampled_from(CN_FORMATS), st.sampled_from(CN_FORMATS))
def test_cn_number_variants_share_one_index(
    digits: str, a: Callable[[str], str], b: Callable[[str], str]
) -> None:
    assert normalise_phone(a(digits), "HK") == f"+86{digits}"
    assert phone_index(a(digits)) == phone_index(b(digits))


@given(cn_mobiles)
def test_cn_number_typed_locally_in_cn_matches_the_international_form(digits: str) -> None:
    local = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    assert phone_index(local, "CN") == phone_index(f"+86{digits}", "HK")


@given(hk_numbers, hk_numbers)
def test_different_numbers_get_different_indexes(first: str, second: str) -> None:
    assume(first != second)
    assert phone_index(first) != phone_index(second)


@given(hk_numbers)
def test_the_same_number_in_another_country_gets_another_index(digits: str) -> None:
    assert phone_index(f"+852{digits}") != phone_index(f"+86{digits}", "HK")


ALNUM = string.ascii_lowercase + string.digits
local_parts = st.builds(
    str.__add__,
    st.text(ALNUM, min_size=1, max_size=12),
    st.sampled_from(["", ".wong", "+shop", "_01", "-hk"]),
)
domains = st.builds(
    "{}.{}".format,
    st.text(ALNUM, min_size=1, max_size=12),
    st.sampled_from(["com", "hk", "com.hk", "cn", "com.cn", "org"]),
)
padding = st.text(alphabet=" \t\r\n", max_size=3)


@st.composite
def email_variants(draw: st.DrawFn) -> tuple[str, str]:
    """(canonical address, the same address with random case and surrounding space)."""
    email = f"{draw(local_parts)}@{draw(domains)}"
    flips = draw(st.lists(st.booleans(), min_size=len(email), max_size=len(email)))
    typed = "".join(c.upper() if flip else c for c, flip in zip(email, flips, strict=True))
    return email, f"{draw(padding)}{typed}{draw(padding)}"


@given(email_variants())
def test_email_variants_fold_to_one_address(variant: tuple[str, str]) -> None:
    email, typed = variant
    assert normalise_email(typed) == email


@given(email_variants(), email_variants())
def test_email_variants_share_one_index(first: tuple[str, str], second: tuple[str, str]) -> None:
    assert email_index(first[1]) == email_index(first[0])
    assume(first[0] != second[0])
    assert email_index(first[1]) != email_index(second[1])


@given(st.text(alphabet=string.ascii_letters + " -().#*/_,", max_size=30))
def test_text_without_digits_is_not_a_phone(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_phone(raw, "HK")


@given(st.from_regex(r"[0-9]{1,4}", fullmatch=True))
def test_too_few_digits_are_not_a_phone(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_phone(raw, "HK")


@given(st.text(alphabet=st.characters(blacklist_characters="@"), max_size=40))
def test_text_without_an_at_sign_is_not_an_email(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_email(raw)


@pytest.mark.parametrize(
    "raw", ["@example.com", "alice@", "alice@example", "alice@.com", "alice wong@example.com", ""]
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_email(raw)


def test_the_index_depends_on_the_key() -> None:
    other = BlindIndexer(b"\x02" * 32)
    assert other.index("phone", "+85291234567") != INDEXER.index("phone", "+85291234567")


def test_the_index_depends_on_the_kind() -> None:
    assert INDEXER.index("phone", "x@example.com") != INDEXER.index("email", "x@example.com")


def test_the_index_reveals_nothing_of_the_value() -> None:
    index = INDEXER.index("phone", "+85291234567")
    assert "91234567" not in index
    assert len(index) == 64


# --- looking customers up in the database ----------------------------------------------


async def test_a_customer_is_found_by_a_differently_formatted_phone(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, "+852 9123 4567"), uow
        )
        await uow.commit()
    for typed in ("9123 4567", "+852-9123-4567", "(+852) 91234567", "91234567 "):
        async with core.uow() as uow:
            found = await find_customer(IdentityKind.PHONE, typed, uow)
        assert found is not None, typed
        assert found.ref == customer.ref


async def test_a_customer_is_found_by_a_differently_cased_email(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.EMAIL, "Alice.Wong@Example.com"), uow
        )
        await uow.commit()
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.EMAIL, "  ALICE.WONG@example.COM ", uow)
    assert found is not None
    assert (found.ref, found.email) == (customer.ref, "alice.wong@example.com")


async def test_another_number_finds_nobody(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await register_customer(RegisterCustomer(IdentityKind.PHONE, "+852 9123 4567"), uow)
        await uow.commit()
    async with core.uow() as uow:
        assert await find_customer(IdentityKind.PHONE, "9123 4568", uow) is None


async def test_a_garbage_phone_lookup_is_invalid_input(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        with pytest.raises(InvalidInput):
            await find_customer(IdentityKind.PHONE, "call me maybe", uow)
