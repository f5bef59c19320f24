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
    # Where customers' data keys live, apart from the database (PRIVACY_KEYSTORE_URL;
    # default: keys/keys.db in the data folder, for a SQLite database only).
    keystore_url: str | None = None

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
            keystore_url=env.get("PRIVACY_KEYSTORE_URL") or None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def key_store_url(self) -> str:
        """The key store's URL: never the database's own (a copy of one must not
        carry the other)."""
        if self.keystore_url:
            if _same_database(self.keystore_url, self.database_url):
                raise ConfigurationError(
                    "PRIVACY_KEYSTORE_URL names the database itself: the key store must be "
                    "a database of its own, or a backup of one carries the keys to the other"
                )
            return self.keystore_url
        if not self.is_sqlite:
            raise ConfigurationError(
                "PRIVACY_DATABASE_URL is PostgreSQL: set PRIVACY_KEYSTORE_URL to a database of "
                "its own for the key store (for example the same server's privacy_keys)"
            )
        return f"sqlite+aiosqlite:///{self.data_dir / 'keys' / 'keys.db'}"


def _same_database(a: str, b: str) -> bool:
    from sqlalchemy.engine import make_url

    ua, ub = make_url(a), make_url(b)
    return (ua.get_backend_name(), ua.host, ua.port, ua.database) == (
        ub.get_backend_name(),
        ub.host,
        ub.port,
        ub.database,
    )


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
