"""``privacy-bot`` as a person at a shell would use it."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli.requests import requests_command
from bot.cli.retention import retention_command
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.customer import IdentityKind
from core.domain.requests import RequestKind, RequestState
from core.errors import InvalidTransition, PolicyDenied
from core.services.customers import RegisterCustomer, register_customer
from core.services.outreach.purchases import RememberSignature, remember_signature
from core.services.requests import OpenRequest, open_request
from core.storage.tables import NonceRow
from tests.chat_drivers import free_port

BIN = Path(sys.executable).with_name("privacy-bot")


def run(
    data_dir: Path, *args: str, stdin: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRIVACY_DATA_DIR": str(data_dir)}
    for name in ("PRIVACY_DATABASE_URL", "PRIVACY_MASTER_KEY", "PRIVACY_KEYSTORE_URL"):
        env.pop(name, None)
    env.update(settings)
    return subprocess.run(
        [str(BIN), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_the_commands_without_importing_a_chat_framework() -> None:
    code = (
        "import sys; from bot.cli.commands import build_parser; build_parser().format_help(); "
        "import bot.cli; bot.cli.main.__call__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiogram', 'telegram')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    shown = run(Path("/nonexistent"), "--help")
    assert shown.returncode == 0
    for command in ("chat", "run", "db", "audit", "keys", "staff"):
        assert command in shown.stdout


def test_the_console_chat_does_not_load_a_chat_framework() -> None:
    code = (
        "import sys, bot.channels.console, bot.conversation, bot.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiogram', 'telegram')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_chat_reads_a_pipe_and_ends_at_end_of_input(tmp_path: Path) -> None:
    result = run(tmp_path, "chat", stdin="/start\n2\n")
    assert result.returncode == 0, result.stderr
    assert "Privacy notice" in result.stdout
    assert "Receipt" in result.stdout
    assert "[1]" in result.stdout


def test_db_upgrade_creates_the_sqlite_database_in_wal_mode(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "privacy.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


def test_audit_verify_says_ok_then_names_a_tampered_entry(tmp_path: Path) -> None:
    run(tmp_path, "chat", stdin="/start\n2\n3\n")
    ok = run(tmp_path, "audit", "verify")
    assert ok.returncode == 0
    assert ok.stdout.startswith("OK")
    with sqlite3.connect(tmp_path / "privacy.db") as conn:
        conn.execute("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 3")
    broken = run(tmp_path, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 3" in broken.stdout
    assert "edited" in broken.stdout


def test_audit_tail_shows_pseudonymous_entries(tmp_path: Path) -> None:
    run(tmp_path, "chat", stdin="/start\n2\n")
    result = run(tmp_path, "audit", "tail", "-n", "2")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "consent.given" in result.stdout


def test_keys_rotate_keeps_the_chat_working(tmp_path: Path) -> None:
    run(tmp_path, "chat", stdin="/start\n2\n")
    rotated = run(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "rewrapped" in rotated.stdout
    again = run(tmp_path, "chat", stdin="/privacy\n")
    assert "☑ Offers and news" in again.stdout


def test_a_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    run(tmp_path, "chat", stdin="/start\n2\n")
    (tmp_path / "master.key").unlink()
    result = run(tmp_path, "audit", "verify")
    assert result.returncode == 2
    assert "no master key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("version = \n", encoding="utf-8")
    env_result = subprocess.run(
        [str(BIN), "db", "upgrade"],
        env={**os.environ, "PRIVACY_DATA_DIR": str(tmp_path), "PRIVACY_POLICY_FILE": str(policy)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert env_result.returncode == 2
    assert str(policy) in env_result.stderr
    assert "Traceback" not in env_result.stderr


@pytest.mark.parametrize("role", ["admin", "agent", "auditor"])
def test_staff_add_list_remove(tmp_path: Path, role: str) -> None:
    assert run(tmp_path, "staff", "add", "424242", "--role", role).returncode == 0
    listed = run(tmp_path, "staff", "list")
    assert f"424242\t{role}" in listed.stdout
    assert run(tmp_path, "staff", "remove", "424242").returncode == 0
    assert "424242" not in run(tmp_path, "staff", "list").stdout
    assert "staff.added" in run(tmp_path, "audit", "tail").stdout


def test_run_with_no_messaging_app_configured_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    result = subprocess.run(
        [str(BIN), "run"],
        env={**env, "PRIVACY_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "WHATSAPP_" in result.stderr


def test_a_broken_survey_file_is_a_clear_error(tmp_path: Path) -> None:
    survey = tmp_path / "survey.toml"
    survey.write_text(
        'id = "x"\ntitle = "t"\n[[questions]]\nid = "q"\nkind = "wrong"\ntext = "t"\n'
    )
    result = subprocess.run(
        [str(BIN), "chat"],
        env={**os.environ, "PRIVACY_DATA_DIR": str(tmp_path), "PRIVACY_SURVEY_FILE": str(survey)},
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "questions[0].kind" in result.stderr
    assert "Traceback" not in result.stderr


async def _open_erasure(core: PrivacyCore) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(RegisterCustomer(IdentityKind.TELEGRAM, "5150"), uow)
        request = await open_request(OpenRequest(customer.ref, RequestKind.ERASURE), uow)
        await uow.commit()
    return request.ref


async def test_a_request_decided_at_the_cli_stays_decided(
    core: PrivacyCore, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = await _open_erasure(core)
    assert await requests_command("reject", ref, "identity not verified", core) == 0
    assert f"{ref}: rejected" in capsys.readouterr().out
    async with core.uow() as uow:
        request = await uow.requests.get(ref)
        entries = await uow.audit.tail(10)
    assert request.state is RequestState.REJECTED
    assert "request.rejected" in {e.action for e in entries}


async def test_the_cli_says_an_erasures_first_approval_waits_for_a_second_approver(
    core: PrivacyCore, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = await _open_erasure(core)
    assert await requests_command("approve", ref, "", core) == 0
    assert f"{ref}: first approval recorded" in capsys.readouterr().out
    with pytest.raises(PolicyDenied, match="second staff member"):
        await requests_command("approve", ref, "", core)
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.RECEIVED


async def test_a_decision_the_cli_refuses_is_audited(core: PrivacyCore) -> None:
    ref = await _open_erasure(core)
    assert await requests_command("reject", ref, "duplicate", core) == 0
    with pytest.raises(InvalidTransition, match="cannot be approved"):
        await requests_command("approve", ref, "", core)
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.REJECTED
        [denied] = [e for e in await uow.audit.tail(10) if e.outcome == "denied"]
    assert denied.action == "request.approve"


async def test_retention_run_at_the_cli_removes_and_reports(core: PrivacyCore) -> None:
    now = core.clock.now()
    core.clock = FixedClock(now - timedelta(hours=1))
    async with core.uow() as uow:
        await remember_signature(RememberSignature("0" * 64), uow)
        await uow.commit()
    core.clock = FixedClock(datetime.now(UTC))
    dry, real = io.StringIO(), io.StringIO()
    assert await retention_command(core, dry_run=True, out=dry) == 0
    assert await retention_command(core, dry_run=False, out=real) == 0
    assert "nothing was changed" in dry.getvalue()
    [line] = [x for x in real.getvalue().splitlines() if "signatures" in x]
    assert line.split()[-1] == "1"
    async with core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(NonceRow)) == 0


# --- a sentence, not a traceback, when the machine is not as the shop thinks -----------


def one_sentence(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [sentence] = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert sentence.startswith("privacy-bot: error: "), result.stderr
    for word in words:
        assert word in sentence


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Nobody may write in ``folder``, not even root (who ignores the mode bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode != 0:
        pytest.skip("running as root on a filesystem without chattr +i")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_the_database_and_its_folder_are_readable_by_the_shop_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "db", "upgrade").returncode == 0
    assert stat.S_IMODE((data / "privacy.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_read_only_data_folder_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "db", "upgrade").returncode == 0
    with read_only(data):
        for command in (["audit", "verify"], ["chat"]):
            one_sentence(run(data, *command, stdin="/help\n"), "privacy.db", "writable")


def test_a_data_folder_under_a_read_only_path_is_one_sentence() -> None:
    one_sentence(run(Path("/sys/privacy-bot"), "chat", stdin="/help\n"), "data folder")


def test_an_unreachable_key_store_is_one_sentence(tmp_path: Path) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/privacy_keys"
    result = run(tmp_path / "data", "db", "upgrade", PRIVACY_KEYSTORE_URL=nowhere)
    one_sentence(result, "cannot reach the key store", "PRIVACY_KEYSTORE_URL")


def test_an_unreachable_postgresql_database_is_one_sentence(tmp_path: Path) -> None:
    port = free_port()
    result = run(
        tmp_path / "data",
        "db",
        "upgrade",
        PRIVACY_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/privacy",
        PRIVACY_KEYSTORE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/privacy_keys",
    )
    one_sentence(result, "cannot reach the database", "PRIVACY_DATABASE_URL")


def test_postgresql_without_a_key_store_is_one_sentence(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/privacy"
    one_sentence(run(tmp_path, "db", "upgrade", PRIVACY_DATABASE_URL=url), "PRIVACY_KEYSTORE_URL")


def test_a_corrupt_key_store_file_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "db", "upgrade").returncode == 0
    (data / "keys" / "keys.db").write_bytes(b"overwritten by a careless copy " * 200)
    one_sentence(run(data, "audit", "verify"), "key store", "keys.db", "restore it from a backup")


@pytest.mark.slow
def test_a_database_another_program_holds_locked_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "db", "upgrade").returncode == 0
    holder = sqlite3.connect(data / "privacy.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        # The bot waits SQLite's busy timeout (30 s) before it gives up.
        one_sentence(run(data, "audit", "verify"), "privacy.db", "locked", "stop it")
    finally:
        holder.close()


def test_a_corrupt_database_file_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "privacy.db").write_bytes(b"this is not a database, it was overwritten" * 100)
    one_sentence(run(data, "audit", "verify"), "privacy.db", "restore it from a backup")


def test_a_data_dir_naming_a_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    one_sentence(run(tmp_path / "data", "chat", stdin="/help\n"), "is a file, not a folder")


def bot_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PRIVACY_", "TELEGRAM_"))}
    return subprocess.run(
        [str(BIN), "run"],
        env={**keep, "PRIVACY_DATA_DIR": str(tmp_path), **env},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_a_malformed_token_is_one_sentence(tmp_path: Path) -> None:
    one_sentence(bot_run(tmp_path, TELEGRAM_BOT_TOKEN="not a token"), "malformed")


def test_telegram_unreachable_at_start_is_retried_then_one_sentence(
    tmp_path: Path, framework: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = subprocess.run(
        [str(BIN), "run", "--framework", framework],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("PRIVACY_", "TELEGRAM_"))},
            "PRIVACY_DATA_DIR": str(tmp_path),
            "TELEGRAM_BOT_TOKEN": "123456:AAEabcdefghijklmnopqrstuvwxyz012345",
            "TELEGRAM_API_BASE": nobody,
            "TELEGRAM_START_TIMEOUT": "4",
            "PRIVACY_HTTP_PORT": str(free_port()),
        },
        capture_output=True, text=True, check=False, timeout=90,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    tries = [line for line in result.stderr.splitlines() if "trying again in" in line]
    assert [t.split("(attempt ")[1][0] for t in tries] == ["1", "2", "3"]  # waits 1, 2, 1 s
    assert "Telegram cannot be reached" in result.stderr.splitlines()[-1]
