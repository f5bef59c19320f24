"""Masked views of personal values, for staff who may see that a value exists, not what it is.

Enough stays visible to confirm a customer on the phone ("ends in 4567"), never
enough to contact them: ``+852 9***4567``, ``a***@example.com``, ``W*** A***``.
"""

from __future__ import annotations

import phonenumbers

__all__ = ["MASK", "mask_email", "mask_field", "mask_member", "mask_name", "mask_phone"]

MASK = "***"


def mask_phone(e164: str) -> str:
    """``+85291234567`` -> ``+852 9***4567``: country code, first digit, last four."""
    try:
        parsed = phonenumbers.parse(e164, None)
        country, national = f"+{parsed.country_code}", str(parsed.national_number)
    except phonenumbers.NumberParseException:
        country, national = "", "".join(ch for ch in e164 if ch.isdigit())
    if len(national) <= 5:
        return f"{country} {MASK}".strip()
    return f"{country} {national[0]}{MASK}{national[-4:]}".strip()


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``: the domain says little about a person."""
    local, at, domain = email.partition("@")
    if not at:
        return MASK
    return f"{local[:1]}{MASK}@{domain}"


def mask_name(name: str) -> str:
    """``Alice Wong`` -> ``A*** W***``; a one-character name (common in Chinese) -> ``***``."""
    parts = name.split()
    if len(parts) == 1 and len(parts[0]) <= 3:
        return MASK  # 陳大文 would give away a family name of 1 in 3 characters
    return " ".join(f"{part[:1]}{MASK}" for part in parts)


def mask_member(member_no: str) -> str:
    """``M12345678`` -> ``***5678``."""
    return f"{MASK}{member_no[-4:]}" if len(member_no) > 6 else MASK


def mask_address(address: str) -> str:
    """``12 Nathan Road, Kowloon`` -> ``1***``: an address gives a person away."""
    return f"{address[:1]}{MASK}" if address else MASK


def mask_field(name: str, value: str) -> str:
    """A customer field's value, masked as its kind is."""
    masks = {
        "name": mask_name,
        "phone": mask_phone,
        "email": mask_email,
        "member_no": mask_member,
        "address": mask_address,
    }
    return masks.get(name, mask_address)(value) if value else ""
