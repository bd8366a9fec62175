"""scripts/setup-system.sh (run by `make setup`) finds the commands its packages install.

Run on a PATH of stand-ins: a non-root `id`, and an `apt-get` that fails, so that a
wrong check shows as a complaint on stderr and never installs anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "setup-system.sh"
# What the tests run (tests/monitoring, tests/ingest): the names Debian's packages install.
INSTALLED = ("prometheus", "promtool", "prometheus-alertmanager", "amtool", "kcat", "curl")


def run_setup(tmp_path: Path, commands: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash is not None
    (bin_dir / "bash").symlink_to(bash)
    stand_ins = {name: "exit 0" for name in commands}
    stand_ins["id"] = "echo 1000"  # not root: the script only says what is missing
    stand_ins["apt-get"] = "echo apt-get ran >&2; exit 1"
    for name, body in stand_ins.items():
        path = bin_dir / name
        path.write_text(f"#!{bash}\n{body}\n")
        path.chmod(0o755)
    return subprocess.run(
        [bash, str(SCRIPT)],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_nothing_is_missing_when_the_packages_commands_are_installed(tmp_path: Path) -> None:
    done = run_setup(tmp_path, INSTALLED)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_missing_command_is_named(tmp_path: Path) -> None:
    done = run_setup(tmp_path, tuple(name for name in INSTALLED if name != "prometheus-alertmanager"))
    assert done.returncode == 0
    assert done.stderr.startswith("setup-system: missing prometheus-alertmanager;"), done.stderr
