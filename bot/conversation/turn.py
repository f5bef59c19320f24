"""One turn of a conversation: the customer, their saved state, and reply helpers.

Button payloads carry a token naming the keyboard they came from. Tokens live in
the customer's own conversation state with the actions their keyboards offered, so
a forged payload, a payload copied from someone else's chat, one from a long-gone
keyboard, or a token of one keyboard sent with another keyboard's action finds
nothing and is refused without touching anything.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.conversation.events import Button, Incoming, Outcome, Reply
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import Customer
from core.domain.survey import Survey
from core.storage import UnitOfWork

__all__ = [
    "MAX_KEYBOARDS",
    "Dialog",
    "Press",
    "Turn",
    "accept_keyboard",
    "merged_state",
    "parse_press",
]

MAX_KEYBOARDS = 8
_PAYLOAD = re.compile(r"^([A-Za-z0-9_-]{8})\|([a-z]{1,4})\|([A-Za-z0-9_:.*-]{0,48})$")


@dataclass(frozen=True)
class Press:
    token: str
    action: str
    arg: str


def parse_press(data: str) -> Press | None:
    """A well-formed payload, or None; Telegram allows at most 64 bytes."""
    if len(data.encode()) > 64:
        return None
    match = _PAYLOAD.match(data)
    return Press(*match.groups()) if match else None


class Dialog:
    """Keyboard tokens and reply helpers, shared by customer and staff turns.

    The subclass (a dataclass) holds ``state`` (saved between turns), ``outcome``
    and ``_token``.
    """

    state: dict[str, Any]
    outcome: Outcome
    _token: str | None

    def button(self, label: str, action: str, arg: str = "") -> Button:
        """A button whose payload only this person's current keyboards accept, and only
        with an action those keyboards offered."""
        if self._token is None:
            self._token = secrets.token_urlsafe(6)
        tokens: list[str] = self.state.setdefault("kb", [])
        offered = {action, *_actions(tokens, self._token)}
        entry = f"{self._token}:{'.'.join(sorted(offered))}"
        tokens[:] = [t for t in tokens if t.partition(":")[0] != self._token] + [entry]
        del tokens[:-MAX_KEYBOARDS]
        data = f"{self._token}|{action}|{arg}"
        assert parse_press(data) is not None, data
        return Button(label, data)

    def knows(self, press: Press) -> bool:
        return press.action in _actions(self.state.get("kb", []), press.token)

    def say(self, text: str, *rows: tuple[Button, ...], edit: bool = False) -> None:
        self.outcome.replies.append(Reply(text=text, buttons=tuple(rows), edit=edit))
        if rows:
            # Kept (encrypted with the rest of the state) to offer again after a stale press.
            self.state["last_kb"] = [[[b.text, b.data] for b in row] for row in rows]

    def offer_last_keyboard(self, hint: str) -> bool:
        """After a press on an old keyboard: the newest keyboard again, under ``hint``."""
        rows = self.state.get("last_kb") or []
        buttons = tuple(tuple(Button(text, data) for text, data in row) for row in rows)
        press = parse_press(buttons[0][0].data) if buttons and buttons[0] else None
        if press is None or not self.knows(press):
            return False
        self.outcome.replies.append(Reply(text=hint, buttons=buttons))
        return True

    def reply(self, reply: Reply) -> None:
        self.outcome.replies.append(reply)

    def notify(self, text: str, *, alert: bool = False) -> None:
        self.outcome.notice, self.outcome.alert = text, alert


@dataclass
class Turn(Dialog):
    """A customer's turn. ``work`` is the turn's one unit of work, opened and committed
    by the flow engine; a turn built only to render a message (``compose``) has none."""

    core: PrivacyCore
    event: Incoming
    customer: Customer
    state: dict[str, Any]
    survey: Survey
    work: UnitOfWork | None = None
    outcome: Outcome = field(default_factory=Outcome)
    _token: str | None = None

    @property
    def uow(self) -> UnitOfWork:
        if self.work is None:
            raise RuntimeError("this turn only renders: it has no unit of work")
        return self.work

    @property
    def t(self) -> Translator:
        return Translator(self.customer.language)


def accept_keyboard(state: dict[str, Any], token: str, actions: Iterable[str]) -> None:
    """Accept presses of ``token`` with these actions: for a keyboard composed outside
    a turn (a follow-up, an incident notice), saved before it is sent."""
    tokens: list[str] = state.setdefault("kb", [])
    tokens.append(f"{token}:{'.'.join(sorted(set(actions)))}")
    del tokens[:-MAX_KEYBOARDS]


def _actions(tokens: list[str], token: str) -> set[str]:
    """The actions the keyboards of ``token`` offered (entries read "token:act.act")."""
    for entry in tokens:
        key, _, actions = entry.partition(":")
        if key == token:
            return set(actions.split(".")) if actions else set()
    return set()


def merged_state(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """The turn's changes (``base`` -> ``ours``) laid over a state written meanwhile
    (``theirs``, e.g. a follow-up's keyboard saved by the worker).

    A key the turn changed keeps the turn's value, any other takes ``theirs``;
    keyboard tokens are the turn's plus those added meanwhile (newest last).
    """
    state = {k: v for k, v in theirs.items() if k != "kb"}
    for key in (base.keys() | ours.keys()) - {"kb"}:
        if key not in ours:
            if key in base:
                state.pop(key, None)  # the turn removed it
        elif ours[key] != base.get(key):
            state[key] = ours[key]
    known = set(base.get("kb", []))
    added = [t for t in theirs.get("kb", []) if t not in known]
    tokens = [*ours.get("kb", []), *(t for t in added if t not in ours.get("kb", []))]
    if tokens:
        state["kb"] = tokens[-MAX_KEYBOARDS:]
    return state
