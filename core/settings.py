"""Core settings, read from the environment (and a ``.env`` file, if present)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigurationError

__all__ = ["Settings", "parse_downstream"]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    master_key: str | None
    policy_file: Path | None
    # The shop's other systems told of erasures, corrections and restrictions (GDPR
    # Art. 19): PRIVACY_DOWNSTREAM="crm=https://crm.example/hook,eshop=https://...".
    downstream: tuple[tuple[str, str], ...] = ()
    # The shop's own preference survey (default: core/policy/survey.toml).
    survey_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PRIVACY_DATA_DIR") or "./data").resolve()
        url = env.get("PRIVACY_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'privacy.db'}"
        policy = env.get("PRIVACY_POLICY_FILE")
        return cls(
            data_dir=data_dir,
            database_url=url,
            master_key=env.get("PRIVACY_MASTER_KEY") or None,
            policy_file=Path(policy) if policy else None,
            downstream=parse_downstream(env.get("PRIVACY_DOWNSTREAM") or ""),
            survey_file=Path(survey) if (survey := env.get("PRIVACY_SURVEY_FILE")) else None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_SYSTEM = re.compile(r"^[a-z0-9_-]{1,32}$")
_LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]")


def parse_downstream(raw: str) -> tuple[tuple[str, str], ...]:
    """``name=url`` pairs; HTTPS only, except plain HTTP to this machine (tests, sidecars)."""
    systems: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, url = (s.strip() for s in part.partition("="))
        if not sep or not _SYSTEM.match(name):
            raise ConfigurationError(
                f"PRIVACY_DOWNSTREAM: expected name=https://url, got {part[:40]!r}"
            )
        if not (url.startswith("https://") or url.startswith(_LOOPBACK)):
            raise ConfigurationError(f"PRIVACY_DOWNSTREAM: {name} needs an https:// URL")
        if name in systems:
            raise ConfigurationError(f"PRIVACY_DOWNSTREAM: {name} is listed twice")
        systems[name] = url
    return tuple(systems.items())
