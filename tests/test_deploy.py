"""The deployment the README describes is the one shipped under deploy/."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bot.cli.commands import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def unit_commands(name: str) -> list[list[str]]:
    """The privacy-bot command lines a systemd unit runs."""
    text = (ROOT / "deploy" / name).read_text(encoding="utf-8")
    lines = re.findall(r"^Exec\w+=\+?(\S*privacy-bot) (.+)$", text, flags=re.MULTILINE)
    return [shlex.split(args) for _, args in lines]


def test_every_deploy_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"`(deploy/[\w.-]+)`", README))
    assert named, "the README names no deploy/ file"
    assert {p for p in named if not (ROOT / p).is_file()} == set()


def test_every_shipped_deploy_file_is_named_in_the_readme() -> None:
    shipped = {f"deploy/{p.name}" for p in (ROOT / "deploy").iterdir()}
    assert shipped <= set(re.findall(r"`(deploy/[\w.-]+)`", README))


@pytest.mark.parametrize("unit", ["privacy-bot.service", "privacy-bot-backup.service"])
def test_the_units_run_commands_privacy_bot_knows(unit: str) -> None:
    commands = unit_commands(unit)
    assert commands
    for argv in commands:
        build_parser().parse_args(argv)  # exits (SystemExit) on an unknown command


def test_the_environment_file_sets_only_documented_settings() -> None:
    text = (ROOT / "deploy" / "privacy-bot.env").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", README, flags=re.MULTILINE))
    pairs = re.findall(r"^\| `([A-Z_]+)` / `([A-Z_]+)`", README, flags=re.MULTILINE)
    documented |= {name for pair in pairs for name in pair}
    assert names
    assert names - documented == set()


def test_the_proxy_passes_the_paths_the_bot_serves() -> None:
    from bot.http.app import WEBHOOK_PATH
    from bot.http.purchase import PURCHASE_PATH

    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    for path in (WEBHOOK_PATH, PURCHASE_PATH):
        assert f"location = {path} {{" in text
