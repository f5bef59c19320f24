"""The translation catalogs stay in step with the code and with each other.

A key is required when the English catalog has it, when code under ``bot/`` asks for
it by a literal (``t("key")``, ``turn.t("key")``, ``Translator(...)("key")``), or when
it is built from data at run time: purpose texts from the policy, survey texts, the
command menu, and ``error.<code>`` for every error class of the core.

To add a message: write it in ``bot/render/locales/en/LC_MESSAGES/messages.po``, then the same
key in ``zh_Hans`` and ``zh_Hant`` with the same ``{placeholders}``.
"""

from __future__ import annotations

import ast
import inspect
import re
from functools import cache
from pathlib import Path

import pytest

import core.errors
from bot.render.i18n import LOCALES, LOCALES_DIR, Translator, catalog, locale_for, placeholders
from core.domain.policy import SeparateConsent, load_policy
from core.domain.requests import Waiting
from core.domain.survey import QuestionKind, load_survey

BOT_DIR = Path(__file__).resolve().parent.parent / "bot"
TRANSLATED = [loc for loc in LOCALES if loc != "en"]


def _first_str_args(call: ast.Call) -> list[str]:
    """The literal key(s) of a translation call: a str constant, or both arms of `a if c else b`."""
    if not call.args:
        return []
    arg = call.args[0]
    arms = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
    return [a.value for a in arms if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def _is_translation_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "t"
    if isinstance(func, ast.Attribute):
        return func.attr == "t"
    # Translator(locale)("key")
    return (
        isinstance(func, ast.Call)
        and isinstance(func.func, ast.Name | ast.Attribute)
        and (func.func.id if isinstance(func.func, ast.Name) else func.func.attr) == "Translator"
    )


@cache
def code_keys() -> frozenset[str]:
    """Literal keys passed to a translator anywhere under bot/."""
    keys: set[str] = set()
    for path in sorted(BOT_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_translation_call(node):
                keys.update(_first_str_args(node))
    return frozenset(keys)


@cache
def dynamic_keys() -> frozenset[str]:
    """Keys built at run time from the policy, the survey, the command menu and error codes."""
    from bot.conversation.routes import COMMAND_MENU  # lazily: the flows import the whole core

    keys: set[str] = set()
    for purpose in load_policy().purposes:
        keys.update((purpose.title_key, purpose.description_key))
        if purpose.recipient is not None:
            keys.update((purpose.recipient.method_key, purpose.recipient.rights_key))
        if purpose.separate is SeparateConsent.SENSITIVE:
            keys.add(purpose.necessity_key)
        if (dm := purpose.direct_marketing) is not None:
            keys.update(f"marketing.data.{kind}" for kind in dm.data_kinds)
            keys.update(f"marketing.subject.{subject}" for subject in dm.subjects)
    keys.update(f"consent.separate.heading.{kind.value}" for kind in SeparateConsent)
    for need in Waiting:
        keys.update(
            (
                f"staff.need.{need.value}",
                f"staff.notice.waiting_{need.value}",
                f"rights.requests.waiting_{need.value}",
                f"staff.button.ask_{need.value}",
            )
        )
    survey = load_survey()
    keys.add(survey.title_key)
    for question in survey.questions:
        keys.update((question.text_key, f"survey.short.{question.id}"))
        if question.kind is not QuestionKind.TEXT:
            keys.update(f"survey.opt.{question.id}.{option}" for option in question.options)
    keys.update(f"command.{name}" for name in COMMAND_MENU)
    for _, cls in inspect.getmembers(core.errors, inspect.isclass):
        if issubclass(cls, core.errors.PrivacyError):
            keys.add(f"error.{cls.code}")
    return frozenset(keys)


def required_keys() -> set[str]:
    return set(catalog("en")) | code_keys() | dynamic_keys()


def test_the_code_scan_finds_literal_and_built_keys() -> None:
    # Guards the scanner itself: an empty scan would make the next test pass vacuously.
    assert {"consent.receipt", "console.banner", "consent.unchanged"} <= code_keys()
    assert {"command.help", "error.rate_limited", "survey.short.improve"} <= dynamic_keys()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_required_key_is_present_and_non_empty(locale: str) -> None:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    assert path.is_file(), f"{path} is missing"
    have = {key for key, text in catalog(locale).items() if text.strip()}
    missing = sorted(required_keys() - have)
    assert not missing, f"{locale}: {len(missing)} missing or empty: {', '.join(missing)}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_placeholders_match_english(locale: str) -> None:
    english, translated = catalog("en"), catalog(locale)
    wrong = {
        key: (sorted(placeholders(text)), sorted(placeholders(translated[key])))
        for key, text in english.items()
        if key in translated and placeholders(text) != placeholders(translated[key])
    }
    assert not wrong, f"{locale}: placeholders differ (en, {locale}): {wrong}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_no_stale_keys_unknown_to_english(locale: str) -> None:
    stale = sorted(set(catalog(locale)) - set(catalog("en")))
    assert not stale, f"{locale}: keys English does not have: {', '.join(stale)}"


def test_hong_kong_catalog_says_si_yan_not_yin_si() -> None:
    texts = catalog("zh_Hant")
    assert any("私隱" in text for text in texts.values())
    wrong = sorted(key for key, text in texts.items() if "隱私" in text)
    assert not wrong, f"zh_Hant uses 隱私 (write 私隱 for Hong Kong) in: {', '.join(wrong)}"


_CJK = r"[\u3400-\u9fff\u3001-\u3011\uff08\uff09]"
_QUOTED = re.compile(r"“[^”]*”")  # what a customer might type, quoted as they would


def test_simplified_catalog_says_nin_never_ni() -> None:
    wrong = sorted(k for k, v in catalog("zh_Hans").items() if "你" in _QUOTED.sub("", v))
    assert not wrong, f"zh_Hans uses 你 (write the formal 您) in: {', '.join(wrong)}"


def test_hong_kong_catalog_says_ni_never_nin() -> None:
    wrong = sorted(k for k, v in catalog("zh_Hant").items() if "您" in v)
    assert not wrong, f"zh_Hant uses 您 (Hong Kong services write 你) in: {', '.join(wrong)}"


@pytest.mark.parametrize(
    ("locale", "avoid"),
    [
        ("zh_Hans", ("点击",)),  # one verb for tapping: 点按
        (
            "zh_Hant",
            (
                "按一下",
                "共享",
                "的記錄",
                "記錄：",
                "確認記錄",
                "刪除記錄",
                "跟進記錄",
                "審計記錄",
                "購物記錄",
                "購買記錄",
            ),
        ),  # 輕按, 分享, 紀錄 (the noun; 記錄 the verb)
    ],
)
def test_chinese_catalogs_keep_one_word_for_one_thing(locale: str, avoid: tuple[str, ...]) -> None:
    wrong = sorted(k for k, v in catalog(locale).items() if any(w in v for w in avoid))
    assert not wrong, f"{locale}: write the catalog's usual word instead of {avoid} in: {wrong}"


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_chinese_lists_and_colons_are_full_width(locale: str) -> None:
    comma = re.compile(_CJK + r", " + _CJK)
    colon = re.compile(_CJK + r":")
    wrong = sorted(k for k, v in catalog(locale).items() if comma.search(v) or colon.search(v))
    assert not wrong, f"{locale}: write 、 between items and ： after Chinese text in: {wrong}"


def test_simplified_catalog_never_uses_hong_kong_si_yan() -> None:
    law = "《个人资料（私隐）条例》"  # Hong Kong's ordinance keeps its own name
    wrong = sorted(
        key
        for key, text in catalog("zh_Hans").items()
        if "私隱" in text.replace(law, "") or "私隐" in text.replace(law, "")
    )
    assert not wrong, f"zh_Hans uses 私隱 (write 隐私) in: {', '.join(wrong)}"


@pytest.mark.parametrize(
    ("language_code", "locale"),
    [
        ("zh-hans", "zh_Hans"),
        ("zh-cn", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh-hant", "zh_Hant"),
        ("zh-hk", "zh_Hant"),
        ("zh-tw", "zh_Hant"),
        ("en", "en"),
        ("fr", "en"),
        (None, "en"),
    ],
)
def test_locale_for_maps_telegram_language_codes(language_code: str | None, locale: str) -> None:
    assert locale_for(language_code) == locale


@pytest.mark.parametrize("locale", LOCALES)
def test_receipt_formats_with_its_placeholders(locale: str) -> None:
    values = {
        "purpose": "PURPOSE-X",
        "decision": "DECISION-X",
        "version": "2026-11",
        "time": "2026-11-29 12:00",
        "ref": "REF-123",
    }
    text = Translator(locale)("consent.receipt", **values)
    assert all(value in text for value in values.values()), text
    assert "{" not in text, text
    assert "}" not in text, text
    if locale != "en":
        assert text != Translator("en")("consent.receipt", **values)


@pytest.mark.parametrize(
    ("locale", "word"), [("en", "backup"), ("zh_Hans", "备份"), ("zh_Hant", "備份")]
)
def test_the_erasure_warning_speaks_of_database_backups_and_key_backups_apart(
    locale: str, word: str
) -> None:
    # Keys live apart from the data: database backups turn unreadable at once, the
    # key store's own backups only when they expire; each message says its part.
    translate = Translator(locale)
    assert word in translate("rights.erase.explain")
    assert word in translate("rights.erase.backups", duration="35")
