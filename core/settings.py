"""Core settings, read from the environment (and a ``.env`` file, if present)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigurationError

__all__ = ["Settings", "allowed_url", "parse_agents", "parse_downstream", "public_https"]


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
    # Authorized agents (Data Rights Protocol 1.0): this shop's id in the directory
    # (PRIVACY_DRP_BUSINESS_ID) and the agents it accepts, each with the base64 of its
    # Ed25519 verify key (PRIVACY_DRP_AGENTS="AGENT_ID=<key>,..."). Off while unset.
    drp_business_id: str | None = None
    drp_agents: tuple[tuple[str, str], ...] = ()
    # Status callbacks to this machine (plain HTTP, loopback): for a development agent
    # only (PRIVACY_DRP_LOCAL_CALLBACKS=1); otherwise public https:// hosts only.
    drp_local_callbacks: bool = False
    # Where customers reach the bot's HTTP server from outside (PRIVACY_PUBLIC_URL,
    # else PRIVACY_WEBHOOK_URL): the base of the single-use links to their copy.
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PRIVACY_DATA_DIR") or "./data").resolve()
        url = env.get("PRIVACY_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'privacy.db'}"
        policy = env.get("PRIVACY_POLICY_FILE")
        business, agents = env.get("PRIVACY_DRP_BUSINESS_ID"), env.get("PRIVACY_DRP_AGENTS")
        if bool(business) != bool(agents):
            raise ConfigurationError(
                "set both PRIVACY_DRP_BUSINESS_ID and PRIVACY_DRP_AGENTS to accept authorized "
                "agents (Data Rights Protocol), or neither"
            )
        return cls(
            data_dir=data_dir,
            database_url=url,
            master_key=env.get("PRIVACY_MASTER_KEY") or None,
            policy_file=Path(policy) if policy else None,
            downstream=parse_downstream(env.get("PRIVACY_DOWNSTREAM") or ""),
            survey_file=Path(survey) if (survey := env.get("PRIVACY_SURVEY_FILE")) else None,
            keystore_url=env.get("PRIVACY_KEYSTORE_URL") or None,
            drp_business_id=_drp_business(business or ""),
            drp_agents=parse_agents(agents or ""),
            drp_local_callbacks=(env.get("PRIVACY_DRP_LOCAL_CALLBACKS") or "") in ("1", "true"),
            public_url=_public_url(env),
        )

    @property
    def drp_enabled(self) -> bool:
        return self.drp_business_id is not None and bool(self.drp_agents)

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
        if not allowed_url(url):
            raise ConfigurationError(f"PRIVACY_DOWNSTREAM: {name} needs an https:// URL")
        if name in systems:
            raise ConfigurationError(f"PRIVACY_DOWNSTREAM: {name} is listed twice")
        systems[name] = url
    return tuple(systems.items())


def allowed_url(url: str) -> bool:
    """Where the shop may send events: HTTPS, or plain HTTP to this machine only."""
    return url.startswith("https://") or url.startswith(_LOOPBACK)


def public_https(url: str) -> bool:
    """An https:// URL whose host is a name or a public address: where a third party
    (an authorized agent) may have the bot post, never into the shop's own network."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".local"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name (where it points is the agent's directory entry's business)
    return address.is_global


_DIRECTORY_ID = re.compile(r"^[A-Z_]{1,64}$")


def _drp_business(raw: str) -> str | None:
    raw = raw.strip()
    if raw and not _DIRECTORY_ID.match(raw):
        raise ConfigurationError(
            "PRIVACY_DRP_BUSINESS_ID: expected the directory's id, capitals and _ only"
        )
    return raw or None


def parse_agents(raw: str) -> tuple[tuple[str, str], ...]:
    """``AGENT_ID=<base64 Ed25519 key>`` pairs, each key checked now, not at first use."""
    from core.crypto.signing import verify_key

    agents: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        agent, sep, key = (s.strip() for s in part.partition("="))
        if not sep or not _DIRECTORY_ID.match(agent):
            raise ConfigurationError(
                f"PRIVACY_DRP_AGENTS: expected AGENT_ID=<base64 key>, got {part[:24]!r}"
            )
        try:
            verify_key(key)
        except ConfigurationError:
            raise ConfigurationError(
                f"PRIVACY_DRP_AGENTS: {agent}'s key is not the base64 of a 32-byte Ed25519 key"
            ) from None
        if agent in agents:
            raise ConfigurationError(f"PRIVACY_DRP_AGENTS: {agent} is listed twice")
        agents[agent] = key
    return tuple(agents.items())


def _public_url(env: Mapping[str, str]) -> str | None:
    url = (env.get("PRIVACY_PUBLIC_URL") or env.get("PRIVACY_WEBHOOK_URL") or "").rstrip("/")
    if url and not allowed_url(url):
        raise ConfigurationError("PRIVACY_PUBLIC_URL must be an https:// URL")
    return url or None
