"""Customers and their identities, encrypted on the way in, decrypted on the way out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from core.crypto import BlindIndexer, FieldCipher
from core.domain.customer import Customer, Identity, IdentityKind, ProcessingFlags
from core.errors import Conflict, NotFound
from core.storage.repositories.conversations import ConversationRepository
from core.storage.repositories.keys import DataKeys
from core.storage.tables import ConversationRow, CustomerRow, IdentityRow

__all__ = ["CustomerRepository"]

_PERSONAL_FIELDS = ("name", "phone", "email", "address", "member_no")


class CustomerRepository:
    """Rows read in this transaction are kept until it ends (:meth:`forget`), so a turn
    that reads its customer, decides and saves reads the row once. (The session's own
    identity map holds rows weakly: the domain object keeps none alive.)"""

    def __init__(
        self,
        session: AsyncSession,
        keys: DataKeys,
        indexer: BlindIndexer,
        conversations: ConversationRepository,
    ) -> None:
        self._session = session
        self._keys = keys
        self._indexer = indexer
        self._conversations = conversations  # read with the customer (one statement)
        bind = session.bind
        # SQLite transactions hold the database's write lock from BEGIN: every read locks.
        self._reads_lock = bind is not None and bind.dialect.name == "sqlite"
        self._rows: dict[str, CustomerRow] = {}
        self._locked: set[str] = set()
        self._identities_of: dict[str, list[Identity]] = {}
        self._plain: dict[str, dict[str, str | None]] = {}  # personal fields as last read

    def forget(self) -> None:
        """The transaction ended: what it read may be stale and its locks are gone."""
        self._rows.clear()
        self._locked.clear()
        self._identities_of.clear()
        self._plain.clear()

    def blind(self, kind: IdentityKind, value: str) -> str:
        return self._indexer.index(kind.value, value)

    async def add(self, customer: Customer) -> None:
        cipher = await self._keys.create(customer.ref)
        row = CustomerRow(ref=customer.ref, created_at=customer.created_at)
        self._write(row, customer, cipher)
        self._session.add(row)
        await self._session.flush()
        self._keep(row, lock=True)  # created by this transaction: no one else sees it
        for identity in customer.identities:
            await self.add_identity(customer.ref, identity)

    async def add_identity(self, customer_ref: str, identity: Identity) -> None:
        blind = self.blind(identity.kind, identity.value)
        owner = await self.ref_by_blind(identity.kind, blind)
        if owner is not None and owner != customer_ref:
            raise Conflict("this identity belongs to another customer", code="identity_taken")
        if owner == customer_ref:
            return
        self._identities_of.pop(customer_ref, None)
        cipher = await self._keys.cipher(customer_ref)
        self._session.add(
            IdentityRow(
                customer_ref=customer_ref,
                kind=identity.kind.value,
                blind=blind,
                value_enc=cipher.encrypt(f"identity.{identity.kind}", identity.value),
                verified=identity.verified,
            )
        )
        await self._session.flush()

    async def remove_identities(self, customer_ref: str, kind: IdentityKind) -> None:
        self._identities_of.pop(customer_ref, None)
        await self._session.execute(
            delete(IdentityRow).where(
                IdentityRow.customer_ref == customer_ref, IdentityRow.kind == kind.value
            )
        )

    async def drop_identities(self, customer_ref: str) -> None:
        """Every identity of the customer (a merge hands the record's over, then this)."""
        self._identities_of.pop(customer_ref, None)
        await self._session.execute(
            delete(IdentityRow).where(IdentityRow.customer_ref == customer_ref)
        )

    async def identity_blinds(self, customer_ref: str) -> list[tuple[str, str]]:
        """The (kind, blind index) of each of the customer's identities (for the
        suppression list: no data key is touched)."""
        rows = await self._session.execute(
            select(IdentityRow.kind, IdentityRow.blind).where(
                IdentityRow.customer_ref == customer_ref
            )
        )
        return [(str(kind), str(blind)) for kind, blind in rows]

    async def ref_by_blind(self, kind: IdentityKind, blind: str) -> str | None:
        return await self._session.scalar(
            select(IdentityRow.customer_ref).where(
                IdentityRow.kind == kind.value, IdentityRow.blind == blind
            )
        )

    async def find(
        self, kind: IdentityKind, normalised_value: str, *, lock: bool = False
    ) -> Customer | None:
        """The customer with this identity, read with their key and identities at once."""
        params = {"kind": kind.value, "blind": self.blind(kind, normalised_value)}
        if lock and not self._reads_lock:
            # Lock first, then read: a statement that waited for a lock sees the other
            # tables as they were when it started (PostgreSQL's read committed).
            ref = await self._session.scalar(_LOCK_BY_IDENTITY, params)
            row = None if ref is None else await self._load(_BY_REF, {"ref": ref}, lock=True)
        else:
            row = await self._load(_BY_IDENTITY, params, lock=lock)
        return None if row is None else await self._customer(row)

    async def get(self, ref: str, *, lock: bool = False) -> Customer:
        """The customer; ``lock`` holds their row until commit (serialises their updates)."""
        return await self._customer(await self._row(ref, lock=lock))

    async def exists(self, ref: str) -> bool:
        return ref in self._rows or await self._session.get(CustomerRow, ref) is not None

    async def save(self, customer: Customer) -> None:
        """One Core UPDATE of the columns that changed (a personal field is encrypted
        again only if its value changed); the kept row takes the new values."""
        row = await self._row(customer.ref, lock=False)
        changes = self._changes(row, customer, await self._keys.cipher(customer.ref))
        if not changes:
            return
        table = _table()
        await self._session.execute(
            update(table).where(table.c.ref == customer.ref).values(**changes)
        )
        for column, value in changes.items():
            set_committed_value(row, column, value)
        self._plain[customer.ref] = _personal(customer)

    async def delete(self, ref: str) -> None:
        self._rows.pop(ref, None)
        self._plain.pop(ref, None)
        self._identities_of.pop(ref, None)
        await self._session.execute(delete(CustomerRow).where(CustomerRow.ref == ref))

    async def count_by_identity(self, kinds: list[IdentityKind]) -> dict[str, int]:
        """How many customers are known by each of these kinds of identity."""
        rows = await self._session.execute(
            select(IdentityRow.kind, func.count(func.distinct(IdentityRow.customer_ref)))
            .where(IdentityRow.kind.in_([k.value for k in kinds]))
            .group_by(IdentityRow.kind)
        )
        found = {str(kind): int(n) for kind, n in rows}
        return {k.value: found.get(k.value, 0) for k in kinds}

    async def created_dates(self) -> list[datetime]:
        """When each customer was created (the desk's statistics: no personal field)."""
        return list(await self._session.scalars(select(CustomerRow.created_at)))

    async def _row(self, ref: str, *, lock: bool) -> CustomerRow:
        row = self._rows.get(ref)
        if row is None or (lock and ref not in self._locked):
            if lock and not self._reads_lock:
                await self._session.execute(_LOCK_BY_REF, {"ref": ref})  # as in find()
            row = await self._load(_BY_REF, {"ref": ref}, lock=lock)
            if row is None:
                raise NotFound("no such customer", code="no_customer")
        return row

    async def _load(
        self, statement: _Statement, params: dict[str, str], *, lock: bool
    ) -> CustomerRow | None:
        """One statement (:func:`_customer_statement`); what it read is kept for this
        transaction: the row, the data key, the conversation and the identities."""
        rows = (await self._session.execute(statement, params)).all()
        if not rows:
            return None
        row, conversation = rows[0][0], rows[0][1]
        self._keep(row, lock=lock)
        self._conversations.adopt(row.ref, conversation)
        cipher = await self._keys.find(row.ref)
        if cipher is None:
            return row  # shredded: reading a field says so (DataShredded)
        self._identities_of[row.ref] = [
            Identity(IdentityKind(k), cipher.decrypt(f"identity.{k}", enc) or "", verified)
            for *_rows, k, enc, verified in rows
            if k is not None
        ]
        return row

    def _keep(self, row: CustomerRow, *, lock: bool) -> None:
        self._rows[row.ref] = row
        if lock or self._reads_lock:
            self._locked.add(row.ref)

    async def _customer(self, row: CustomerRow) -> Customer:
        cipher = await self._keys.cipher(row.ref)
        customer = self._read(row, cipher, await self._identities(row.ref, cipher))
        self._plain[row.ref] = _personal(customer)
        return customer

    async def _identities(self, ref: str, cipher: FieldCipher) -> list[Identity]:
        known = self._identities_of.get(ref)
        if known is not None:
            return list(known)
        rows = await self._session.scalars(
            select(IdentityRow).where(IdentityRow.customer_ref == ref).order_by(IdentityRow.id)
        )
        result = []
        for row in rows:
            kind = IdentityKind(row.kind)
            value = cipher.decrypt(f"identity.{kind}", row.value_enc) or ""
            result.append(Identity(kind, value, row.verified))
        self._identities_of[ref] = result
        return list(result)

    def _changes(self, row: CustomerRow, c: Customer, cipher: FieldCipher) -> dict[str, Any]:
        wanted: dict[str, Any] = {
            "last_active_at": c.last_active_at,
            "last_message_at": c.last_message_at,
            "language": c.language,
            "jurisdiction": c.jurisdiction,
            "timezone": c.timezone,
            "notice_version_seen": c.notice_version_seen,
            "restricted": c.flags.restricted,
            "objected_marketing": c.flags.objected_marketing,
            "opted_out_sharing_at": c.flags.opted_out_sharing_at,
            "unreachable": c.flags.unreachable,
        }
        changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        known = self._plain.get(c.ref)
        for name, value in _personal(c).items():
            if known is None or known.get(name) != value:
                changes[f"{name}_enc"] = cipher.encrypt(name, value)
        return changes

    @staticmethod
    def _write(row: CustomerRow, c: Customer, cipher: FieldCipher) -> None:
        row.last_active_at = c.last_active_at
        row.last_message_at = c.last_message_at
        row.language = c.language
        row.jurisdiction = c.jurisdiction
        row.timezone = c.timezone
        row.notice_version_seen = c.notice_version_seen
        row.restricted = c.flags.restricted
        row.objected_marketing = c.flags.objected_marketing
        row.opted_out_sharing_at = c.flags.opted_out_sharing_at
        row.unreachable = c.flags.unreachable
        for name in _PERSONAL_FIELDS:
            setattr(row, f"{name}_enc", cipher.encrypt(name, getattr(c, name)))

    @staticmethod
    def _read(row: CustomerRow, cipher: FieldCipher, identities: list[Identity]) -> Customer:
        flags = ProcessingFlags(
            restricted=row.restricted,
            objected_marketing=row.objected_marketing,
            opted_out_sharing_at=row.opted_out_sharing_at,
            unreachable=row.unreachable,
        )
        personal = {n: cipher.decrypt(n, getattr(row, f"{n}_enc")) for n in _PERSONAL_FIELDS}
        return Customer(
            ref=row.ref,
            created_at=row.created_at,
            last_active_at=row.last_active_at,
            last_message_at=row.last_message_at,
            language=row.language,
            jurisdiction=row.jurisdiction,
            timezone=row.timezone,
            notice_version_seen=row.notice_version_seen,
            flags=flags,
            identities=identities,
            **personal,
        )


def _table() -> Table:
    table = CustomerRow.__table__
    assert isinstance(table, Table)
    return table


def _personal(c: Customer) -> dict[str, str | None]:
    return {name: getattr(c, name) for name in _PERSONAL_FIELDS}


_Statement = Select[CustomerRow, ConversationRow, str, bytes, bool]


def _customer_statement(where: ColumnElement[bool], *, by_identity: bool) -> _Statement:
    """The customer's row, conversation and identities (a row per identity).
    Built once: building a statement costs more than running it here."""
    statement = select(
        CustomerRow,
        ConversationRow,
        IdentityRow.kind,
        IdentityRow.value_enc,
        IdentityRow.verified,
    )
    if by_identity:
        statement = statement.join(_MINE, _MINE.customer_ref == CustomerRow.ref)
    return (
        statement.outerjoin(ConversationRow, ConversationRow.customer_ref == CustomerRow.ref)
        .outerjoin(IdentityRow, IdentityRow.customer_ref == CustomerRow.ref)
        .where(where)
        .order_by(IdentityRow.id)
        .execution_options(populate_existing=True)
    )


_MINE = aliased(IdentityRow)  # the identity searched by, beside all of theirs
_IDENTITY = (_MINE.kind == bindparam("kind")) & (_MINE.blind == bindparam("blind"))
_BY_REF_ONLY = CustomerRow.ref == bindparam("ref")
_BY_IDENTITY = _customer_statement(_IDENTITY, by_identity=True)
_BY_REF = _customer_statement(_BY_REF_ONLY, by_identity=False)
_LOCK_BY_IDENTITY = (
    select(CustomerRow.ref)
    .join(_MINE, _MINE.customer_ref == CustomerRow.ref)
    .where(_IDENTITY)
    .with_for_update(of=CustomerRow)
)
_LOCK_BY_REF = select(CustomerRow.ref).where(_BY_REF_ONLY).with_for_update()
