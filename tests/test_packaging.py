"""A non-editable install (a wheel) carries every file the product reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [built] = out.glob("privacy_bot-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.parametrize("locale", ["en", "zh_Hans", "zh_Hant"])
def test_the_wheel_carries_every_message_catalog(wheel: zipfile.ZipFile, locale: str) -> None:
    assert f"bot/render/locales/{locale}/LC_MESSAGES/messages.po" in wheel.namelist()


def test_the_wheel_carries_the_policies_and_the_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "core" / "policy").glob("*.toml")}
    versions = (ROOT / "core" / "storage" / "migrations" / "versions").glob("*.py")
    shipped |= {p.relative_to(ROOT).as_posix() for p in versions}
    assert shipped <= names
