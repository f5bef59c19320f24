"""Arrows point inward: core never depends on the bot or on a chat/HTTP framework."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
FORBIDDEN = frozenset({"bot", "aiogram", "telegram", "aiohttp"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every module an import statement names, relative imports resolved to absolute."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base = ".".join(parts[: len(parts) - (node.level - 1)])
            else:
                base = ""
            target = ".".join(p for p in (base, node.module or "") if p)
            if target:
                found.add(target)
            if node.module is None:
                found.update(".".join(p for p in (base, a.name) if p) for a in node.names)
    return found


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> set[str]:
    names = imported_modules(source, module, is_package=is_package)
    return {n for n in names if n.split(".")[0] in FORBIDDEN}


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_has_python_files_to_check() -> None:
    assert len(core_files()) > 20


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import aiogram", "core.a", {"aiogram"}),
        ("import telegram.ext as t", "core.a", {"telegram.ext"}),
        ("from aiohttp import web", "core.a", {"aiohttp"}),
        ("from bot.conversation import run", "core.a", {"bot.conversation"}),
        ("from ..bot import flows", "core.a", {"bot"}),
        ("from ...bot.conversation import run", "core.x.y", {"bot.conversation"}),
        ("from .. import bot", "core.a", {"bot"}),
    ],
)
def test_checker_spots_forbidden_imports(source: str, module: str, expected: set[str]) -> None:
    assert forbidden_imports(source, module) == expected


def test_checker_accepts_core_relative_imports() -> None:
    source = "from . import bot_helpers\nfrom .telegram import x"
    assert forbidden_imports(source, "core.a") == set()


def test_no_core_module_imports_the_bot_or_a_framework() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in core_files()
        if (
            found := forbidden_imports(
                path.read_text("utf-8"),
                module_name(path),
                is_package=path.name == "__init__.py",
            )
        )
    }
    assert offenders == {}


def test_importing_core_loads_no_framework() -> None:
    script = (
        "import json, sys\n"
        "import core.services, core.app, core.services.keys\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert "core" in loaded
    assert loaded & FORBIDDEN == set()
