"""One gettext catalog per language, read from ``locales/*.po`` (beside this module).

Reading the ``.po`` files directly means a fresh clone needs no compile step; the
same catalog serves every channel (aiogram's own i18n would need ``.mo`` files,
python-telegram-bot has none).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "LOCALES_DIR", "Translator", "catalog", "locale_for"]

LOCALES = ("en", "zh_Hans", "zh_Hant")
DEFAULT_LOCALE = "en"
# Package data (pyproject.toml): a wheel or a non-editable install carries them.
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation for one locale (untranslated entries left out)."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in po if m.id and isinstance(m.string, str) and m.string}


def locale_for(language_code: str | None) -> str:
    """Telegram's ``language_code`` (IETF tag) to one of our locales."""
    code = (language_code or "").lower().replace("_", "-")
    if code.startswith("zh"):
        if any(tag in code for tag in ("hant", "-hk", "-tw", "-mo")):
            return "zh_Hant"
        return "zh_Hans"
    return DEFAULT_LOCALE


class Translator:
    """``t("key", name=...)``: the message for this locale, English as the fallback."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE

    def __call__(self, key: str, **values: object) -> str:
        text = catalog(self.locale).get(key) or catalog(DEFAULT_LOCALE).get(key) or key
        return text.format(**values) if values else text

    def time(self, at: datetime, zone: ZoneInfo) -> str:
        """``at`` in ``zone``, the zone named in words this language has (香港时间) where
        the catalog has them, else by its abbreviation (HKT)."""
        local = at.astimezone(zone)
        named = self(f"zone.{zone.key}")
        return f"{local:%Y-%m-%d %H:%M} {named if named != f'zone.{zone.key}' else f'{local:%Z}'}"

    def join(self, items: Iterable[str]) -> str:
        """A list as this language writes one: "a, b" in English, "甲、乙" in Chinese."""
        return ("、" if self.locale.startswith("zh") else ", ").join(items)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
