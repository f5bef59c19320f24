"""Consent ledger entries as ISO/IEC TS 27560 consent records, in JSON-LD with the
W3C Data Privacy Vocabulary (DPV), and as CSV rows for a spreadsheet.

Each record stands alone: its ``@context`` is inline (term -> IRI), so it expands
offline, with no document to fetch. The data subject is the customer's pseudonymous
ref, never a name. Terms DPV does not have (the shop's own purpose keys, its data
categories, PIPL) live in this project's namespace, ``pb:``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from core.domain.consent import ConsentEntry, RecordStatus
from core.domain.policy import Policy, PurposeSpec
from core.errors import NotFound

__all__ = [
    "CONTEXT",
    "CSV_FIELDS",
    "SCHEMA",
    "consent_record",
    "csv_header",
    "csv_row",
    "jsonld_lines",
]

SCHEMA = "https://w3id.org/dpv/schema/dpv-27560"
CONTEXT: dict[str, Any] = {
    "dpv": "https://w3id.org/dpv#",
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "loc": "https://w3id.org/dpv/loc#",
    "pb": "https://w3id.org/privacy-bot#",
}
CSV_FIELDS = (
    "record_id",
    "data_subject",
    "purpose",
    "dpv_purpose",
    "status",
    "indicated_at",
    "notice_version",
    "channel",
    "jurisdiction",
)
# Where each regime applies, as DPV's location terms name it.
_LOCATIONS = {"gdpr": "loc:EU", "ccpa": "loc:US-CA", "pipl": "loc:CN", "pdpo": "loc:HK"}
_LANGUAGES = {"en": "en", "zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant-HK"}
# Record ids are UUIDs derived from the ledger entry, so exporting twice gives the same ids.
_RECORDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/privacy-bot/consent-record")


def consent_record(
    entry: ConsentEntry,
    status: RecordStatus,
    policy: Policy,
    *,
    language: str = "en",
    jurisdiction: str | None = None,
) -> dict[str, Any]:
    record_id = str(uuid.uuid5(_RECORDS, entry.ref))
    subject = {"@id": f"pb:customer/{entry.customer_ref}"}
    purpose = _spec(policy, entry.purpose)
    regime = jurisdiction or policy.default_jurisdiction
    record: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"urn:uuid:{record_id}",
        "@type": "dpv:ConsentRecord",
        "dct:conformsTo": {"@id": SCHEMA},
        "dpv:hasIdentifier": record_id,
        "dpv:hasDataSubject": subject,
        "dpv:hasDataController": _controller(policy),
        "dpv:hasPurpose": _purpose(entry.purpose, purpose.dpv_purpose if purpose else ""),
        "dpv:hasPersonalData": [
            {"@id": f"pb:category/{c}"} for c in (purpose.categories if purpose else ())
        ],
        "dpv:hasNotice": _notice(entry.notice_version, policy),
        "dct:language": _LANGUAGES.get(language, "en"),
        "dpv:hasJurisdiction": {"@id": _LOCATIONS.get(regime, f"pb:jurisdiction/{regime}")},
        "dpv:hasApplicableLaw": {"@id": f"pb:law/{regime}"},
        "dpv:hasLegalBasis": {"@id": "dpv:Consent"},
        "dpv:hasStorageCondition": {
            "@type": "dpv:StorageDuration",
            "dct:description": f"kept while the customer is active; erased {policy.inactive_after}"
            " after their last activity, or at once on their request",
        },
        "dpv:hasConsentStatus": {"@id": f"dpv:{status.value}"},
        "dpv:isIndicatedAtTime": {"@value": _iso(entry), "@type": "xsd:dateTime"},
        "dpv:isIndicatedBy": subject,
        "dpv:hasIndicationMethod": {
            "@id": f"pb:indication/{entry.channel}-button",
            "dct:description": f"a tap on a button in the customer's {entry.channel} chat",
        },
        "dpv:hasConsentControl": {
            "@id": "pb:withdrawal/chat",
            "dct:description": "withdraw at any time: /privacy in the chat, one tap per purpose",
        },
    }
    if purpose is not None and purpose.recipient is not None:
        record["dpv:hasRecipient"] = {"dct:title": purpose.recipient.name}
    return record


def jsonld_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array written piece by piece (a file of any size, memory flat)."""
    yield "[\n"
    first = True
    for record in records:
        yield ("" if first else ",\n") + json.dumps(record, ensure_ascii=False)
        first = False
    yield "\n]\n"


def csv_header() -> str:
    return _csv_line(CSV_FIELDS)


def csv_row(
    entry: ConsentEntry, status: RecordStatus, policy: Policy, jurisdiction: str | None = None
) -> str:
    purpose = _spec(policy, entry.purpose)
    return _csv_line(
        (
            str(uuid.uuid5(_RECORDS, entry.ref)),
            entry.customer_ref,
            entry.purpose,
            f"dpv:{purpose.dpv_purpose}" if purpose and purpose.dpv_purpose else "",
            status.value,
            _iso(entry),
            entry.notice_version,
            entry.channel,
            jurisdiction or policy.default_jurisdiction,
        )
    )


def _csv_line(values: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _spec(policy: Policy, key: str) -> PurposeSpec | None:
    """The purpose as the policy has it now (None: since taken out of the policy)."""
    try:
        return policy.purpose(key)
    except NotFound:
        return None


def _controller(policy: Policy) -> dict[str, Any]:
    controller: dict[str, Any] = {"@id": "pb:controller", "@type": "dpv:DataController"}
    if policy.controller:
        controller["dct:title"] = policy.controller
    if policy.privacy_officer:
        controller["pb:contact"] = policy.privacy_officer
    return controller


def _purpose(key: str, dpv_term: str) -> dict[str, Any]:
    found = {"@id": f"pb:purpose/{key}"}
    return {**found, "@type": f"dpv:{dpv_term}"} if dpv_term else found


def _notice(version: str, policy: Policy) -> dict[str, Any]:
    notice: dict[str, Any] = {"@id": f"pb:notice/{version}", "dct:hasVersion": version}
    if policy.privacy_policy_url:
        notice["dct:source"] = {"@id": policy.privacy_policy_url}
    return notice


def _iso(entry: ConsentEntry) -> str:
    return entry.decided_at.isoformat().replace("+00:00", "Z")
