"""``privacy-bot run`` as real processes against the fake Telegram server, and what
the tests (and benchmarks) that run them share."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.http.purchase import sign
from core.app import PrivacyCore
from core.settings import Settings
from core.storage.tables import JobRow
from tests.chat_drivers import free_port
from tests.fake_telegram import FakeTelegram
from tests.followup_support import SECRET, purchase_body

ROOT = Path(__file__).resolve().parent.parent

PRIVACY_BOT = str(Path(sys.executable).parent / "privacy-bot")
WORKER_KINDS = ("followup", "notify", "export", "erasure", "incident_notice")


def shop_policy(tmp_path: Path) -> Path:
    """The default policy, with no quiet hours (the test must not depend on the hour)
    and exports approved by staff (so each export is a background job, as for a big
    customer)."""
    text = (ROOT / "core" / "policy" / "default.toml").read_text(encoding="utf-8")
    text = text.replace('start = "21:00"\nend = "09:00"', 'start = "00:00"\nend = "00:00"')
    text = text.replace(
        'approval_required = ["erasure", "rectification"]',
        'approval_required = ["erasure", "rectification", "portability"]',
    )
    assert 'start = "00:00"' in text, "default.toml changed: update this test"
    assert '"portability"]' in text, "default.toml changed: update this test"
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class BotProcess:
    """One ``privacy-bot run --framework ptb`` (PTB starts faster than aiogram)."""

    env: dict[str, str]
    workdir: Path
    name: str = "bot"
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    runs: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.runs += 1
        log = self.workdir / f"{self.name}-{self.runs}.log"
        env = {**self.env, "PRIVACY_HTTP_PORT": str(self.port)}
        with log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                PRIVACY_BOT, "run", "--framework", "ptb",
                env=env, cwd=str(self.workdir), stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                if self.process.returncode is not None:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise AssertionError(f"privacy-bot run exited early:\n{tail}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.base}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), 10) == -signal.SIGKILL
        self.process = None

    async def stop(self) -> None:
        """SIGTERM (a graceful stop), or SIGKILL if it does not end in time."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()
        self.process = None


def bot_env(fake: FakeTelegram, settings: Settings) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {
        **keep,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE": fake.api_base,
        "PRIVACY_DATA_DIR": str(settings.data_dir),
        "PRIVACY_DATABASE_URL": settings.database_url,
        "PRIVACY_KEYSTORE_URL": settings.key_store_url(),
        "PRIVACY_POLICY_FILE": str(settings.policy_file),
        "PRIVACY_WEBHOOK_SECRET": SECRET,
        "PRIVACY_FOLLOWUP_DELAY": "0",
    }


async def post_purchases(base: str, orders: list[tuple[str, int]]) -> None:
    """Signed callbacks, as the shop's order system sends them; each must schedule."""
    bought = datetime.now(UTC).isoformat()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for order, user in orders:
            raw = json.dumps(purchase_body(order, user, purchased_at=bought)).encode()
            headers = {
                "X-Privacy-Signature": sign(SECRET, raw, int(time.time())),
                "Content-Type": "application/json",
            }
            async with session.post(f"{base}/hooks/purchase", data=raw, headers=headers) as r:
                assert (r.status, await r.json()) == (202, {"status": "scheduled"}), order


async def let_time_pass(core: PrivacyCore, *, leases: bool) -> None:
    """What minutes of waiting would do: backoffs and approval polls come due, and (only
    while no bot runs) the leases of a killed process expire (a minute in production)."""
    async with core.uow() as uow:
        now = uow.now()
        due = update(JobRow).where(JobRow.state == "pending", JobRow.kind.in_(WORKER_KINDS))
        await uow.session.execute(due.values(run_after=now))
        if leases:
            held = update(JobRow).where(JobRow.state == "running")
            await uow.session.execute(held.values(lease_until=now - timedelta(seconds=1)))
        await uow.commit()


async def worker_jobs(core: PrivacyCore) -> list[JobRow]:
    async with core.uow() as uow:
        rows = list(await uow.session.scalars(select(JobRow).where(JobRow.kind.in_(WORKER_KINDS))))
        uow.session.expunge_all()
        return rows


async def until_all_jobs_finish(core: PrivacyCore, timeout: float) -> list[JobRow]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        jobs = await worker_jobs(core)
        open_jobs = [j for j in jobs if j.state not in ("done", "failed")]
        if not open_jobs:
            return jobs
        if time.monotonic() > deadline:
            shown = [(j.kind, j.state, j.attempts, j.last_error) for j in open_jobs[:10]]
            raise AssertionError(f"{len(open_jobs)} jobs still open: {shown}")
        await let_time_pass(core, leases=False)
        await asyncio.sleep(0.2)


@pytest.fixture
def shop_settings(tmp_path: Path, database_url: str, keystore_url: str | None) -> Settings:
    """A shop on the test's database, with ``shop_policy``'s policy."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        master_key=None,
        policy_file=shop_policy(tmp_path),
        keystore_url=keystore_url,
    )
