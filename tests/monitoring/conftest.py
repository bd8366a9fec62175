from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shoppulse.monitoring.generate import generate

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_HINT = "run scripts/setup-system.sh as root (it installs prometheus, promtool, alertmanager and amtool)"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {SETUP_HINT}", pytrace=False)
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_tool("amtool")


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh generation with the shipped settings."""
    root = tmp_path_factory.mktemp("generated")
    generate(root)
    return root
