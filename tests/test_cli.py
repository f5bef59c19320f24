"""``privacy-bot`` as a person at a shell would use it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).with_name("privacy-bot")


def run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRIVACY_DATA_DIR": str(data_dir)}
    env.pop("PRIVACY_DATABASE_URL", None)
    env.pop("PRIVACY_MASTER_KEY", None)
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
        "import sys; from bot.cli import build_parser; build_parser().format_help(); "
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
        "import sys, bot.adapters.console, bot.flows, bot.cli; "
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


def test_run_without_a_token_says_what_is_missing(tmp_path: Path) -> None:
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
