"""Field encryption: bound to customer and field, unreadable once the data key is shredded."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from core.app import PrivacyCore
from core.crypto import DataKey, FieldCipher, generate_master_key, new_data_key
from core.crypto.keys import Keyring
from core.domain.customer import IdentityKind
from core.errors import DataShredded, IntegrityError, KeyUnavailableError
from core.services import RegisterCustomer, find_customer, register_customer
from core.storage.tables import CustomerRow

SECRET = b"\x07" * 32


def cipher_for(ref: str) -> FieldCipher:
    return FieldCipher(DataKey(ref, SECRET))


# --- FieldCipher --------------------------------------------------------------------------


def test_a_field_decrypts_to_what_was_encrypted() -> None:
    cipher = cipher_for("c1")
    assert cipher.decrypt("name", cipher.encrypt("name", "王小明")) == "王小明"


def test_none_stays_none() -> None:
    cipher = cipher_for("c1")
    assert cipher.encrypt("name", None) is None
    assert cipher.decrypt("name", None) is None


def test_encrypting_twice_gives_different_ciphertexts() -> None:
    cipher = cipher_for("c1")
    assert cipher.encrypt("name", "Alice") != cipher.encrypt("name", "Alice")


def test_ciphertext_moved_to_another_customer_fails() -> None:
    blob = cipher_for("c1").encrypt("name", "Alice")
    with pytest.raises(IntegrityError):
        cipher_for("c2").decrypt("name", blob)


def test_ciphertext_moved_to_another_field_fails() -> None:
    cipher = cipher_for("c1")
    blob = cipher.encrypt("name", "Alice")
    with pytest.raises(IntegrityError):
        cipher.decrypt("email", blob)


def test_ciphertext_under_another_key_fails() -> None:
    blob = FieldCipher(new_data_key("c1")).encrypt("name", "Alice")
    with pytest.raises(IntegrityError):
        FieldCipher(new_data_key("c1")).decrypt("name", blob)


def test_a_flipped_bit_is_detected() -> None:
    cipher = cipher_for("c1")
    blob = cipher.encrypt("name", "Alice")
    assert blob is not None
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(IntegrityError):
        cipher.decrypt("name", tampered)


def test_an_unknown_ciphertext_version_is_refused() -> None:
    cipher = cipher_for("c1")
    blob = cipher.encrypt("name", "Alice")
    assert blob is not None
    with pytest.raises(IntegrityError):
        cipher.decrypt("name", b"\x09" + blob[1:])


# --- Keyring ------------------------------------------------------------------------------


def test_a_wrapped_key_unwraps_with_the_keyring_that_wrapped_it() -> None:
    keyring = Keyring([generate_master_key()], source="test")
    assert keyring.unwrap(keyring.wrap(SECRET)) == SECRET


def test_an_older_key_in_the_keyring_still_unwraps() -> None:
    old = generate_master_key()
    blob = Keyring([old], source="test").wrap(SECRET)
    assert Keyring([generate_master_key(), old], source="test").unwrap(blob) == SECRET


def test_a_foreign_master_key_cannot_unwrap() -> None:
    blob = Keyring([generate_master_key()], source="test").wrap(SECRET)
    with pytest.raises(KeyUnavailableError):
        Keyring([generate_master_key()], source="test").unwrap(blob)


def test_a_corrupted_wrapped_key_is_detected() -> None:
    keyring = Keyring([generate_master_key()], source="test")
    blob = keyring.wrap(SECRET)
    with pytest.raises(IntegrityError):
        keyring.unwrap(blob[:-1] + bytes([blob[-1] ^ 1]))


# --- in the database ------------------------------------------------------------------


async def register(core: PrivacyCore, phone: str, name: str) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, phone, name=name), uow
        )
        await uow.commit()
    return customer.ref


async def test_a_name_copied_into_another_customers_row_does_not_decrypt(
    core: PrivacyCore,
) -> None:
    alice = await register(core, "+852 9123 4567", "Alice Wong")
    bob = await register(core, "+852 6123 4567", "Bob Chan")
    async with core.uow() as uow:
        blob = (await uow.session.get(CustomerRow, alice)).name_enc  # type: ignore[union-attr]
        await uow.session.execute(
            update(CustomerRow).where(CustomerRow.ref == bob).values(name_enc=blob)
        )
        await uow.commit()
    async with core.uow() as uow:
        with pytest.raises(IntegrityError):
            await uow.customers.get(bob)


async def test_a_name_copied_into_the_phone_column_does_not_decrypt(core: PrivacyCore) -> None:
    alice = await register(core, "+852 9123 4567", "Alice Wong")
    async with core.uow() as uow:
        await uow.session.execute(
            update(CustomerRow)
            .where(CustomerRow.ref == alice)
            .values(phone_enc=CustomerRow.name_enc)
        )
        await uow.commit()
    async with core.uow() as uow:
        with pytest.raises(IntegrityError):
            await uow.customers.get(alice)


async def test_a_shredded_customer_reads_as_shredded(core: PrivacyCore) -> None:
    alice = await register(core, "+852 9123 4567", "Alice Wong")
    async with core.uow() as uow:
        uow.keys.shred(alice)
        await uow.commit()
    async with core.uow() as uow:
        with pytest.raises(DataShredded):
            await uow.customers.get(alice)


async def test_a_shredded_customer_cannot_be_found_readable_by_phone(core: PrivacyCore) -> None:
    alice = await register(core, "+852 9123 4567", "Alice Wong")
    async with core.uow() as uow:
        uow.keys.shred(alice)
        await uow.commit()
    async with core.uow() as uow:
        with pytest.raises(DataShredded):
            await find_customer(IdentityKind.PHONE, "91234567", uow)


async def test_shredding_one_customer_leaves_the_others_readable(core: PrivacyCore) -> None:
    alice = await register(core, "+852 9123 4567", "Alice Wong")
    bob = await register(core, "+852 6123 4567", "Bob Chan")
    async with core.uow() as uow:
        uow.keys.shred(alice)
        await uow.commit()
    async with core.uow() as uow:
        assert (await uow.customers.get(bob)).name == "Bob Chan"
