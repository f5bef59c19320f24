"""Core settings, read from the environment (and a ``.env`` file, if present)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    master_key: str | None
    policy_file: Path | None

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
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
