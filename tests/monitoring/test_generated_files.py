"""The generated files in the repository are exactly what the generator writes today."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoppulse.cli import app
from shoppulse.monitoring.generate import generate, render_all
from shoppulse.monitoring.policy import Timings
from tests.monitoring.conftest import REPO_ROOT

EXPECTED_FILES = {
    "dashboards/shoppulse-overview.json",
    "dashboards/shoppulse-smart-home.json",
    "dashboards/shoppulse-party-favors.json",
    "dashboards/shoppulse-operations.json",
    "deploy/prometheus/prometheus.yml",
    "deploy/prometheus/rules/shoppulse-recording.yml",
    "deploy/prometheus/rules/shoppulse-alerts.yml",
    "deploy/prometheus/tests/shoppulse-alerts.test.yml",
    "deploy/prometheus/tests/shoppulse-changes.test.yml",
    "deploy/alertmanager/alertmanager.yml",
    "deploy/grafana/provisioning/datasources/shoppulse.yml",
    "deploy/grafana/provisioning/dashboards/shoppulse.yml",
    "deploy/grafana/provisioning/alerting/shoppulse-alerts.yml",
    "docs/runbooks.md",
}


def test_generate_writes_the_expected_files(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert {path.relative_to(tmp_path).as_posix() for path in written} == EXPECTED_FILES
    assert all(path.stat().st_size > 0 for path in written)


# Folders that `shoppulse generate` owns: every file in them must be one it writes, so a
# renamed dashboard or rules file cannot leave its old name behind for the compose stack
# to mount (it mounts these folders whole). docs/ is not owned: only runbooks.md is generated.
GENERATED_FOLDERS = ("dashboards", "deploy/prometheus", "deploy/alertmanager", "deploy/grafana/provisioning")


def files_in_generated_folders(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for folder in GENERATED_FOLDERS
        for path in (root / folder).rglob("*")
        if path.is_file()
    }


def test_generated_folders_hold_every_generated_file_but_the_runbooks(tmp_path: Path) -> None:
    written = {path.relative_to(tmp_path).as_posix() for path in generate(tmp_path)}
    outside = written - files_in_generated_folders(tmp_path)
    assert outside == {"docs/runbooks.md"}, f"{outside}: a new generated folder belongs in GENERATED_FOLDERS"


def test_repository_files_are_current(tmp_path: Path) -> None:
    generated = {path.relative_to(tmp_path).as_posix(): path.read_bytes() for path in generate(tmp_path)}
    stale = sorted(
        relative
        for relative, content in generated.items()
        if not (REPO_ROOT / relative).is_file() or (REPO_ROOT / relative).read_bytes() != content
    )
    assert stale == [], f"stale generated files {stale}: run `shoppulse generate` at the repository root"
    leftover = sorted(files_in_generated_folders(REPO_ROOT) - generated.keys())
    assert leftover == [], (
        f"files in generated folders that `shoppulse generate` does not write: {leftover}. Delete them "
        "(generating again does not remove old files), then run `shoppulse generate` at the repository root"
    )


def test_generation_is_deterministic() -> None:
    assert render_all(Timings()) == render_all(Timings())


def test_cli_generate_writes_the_same_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == len(EXPECTED_FILES)
    for relative in EXPECTED_FILES:
        assert (tmp_path / relative).read_bytes() == (REPO_ROOT / relative).read_bytes(), relative


def test_cli_generate_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["generate"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "deploy/prometheus/rules/shoppulse-alerts.yml").is_file()


def test_shorter_for_durations_change_only_the_timings(tmp_path: Path) -> None:
    from datetime import timedelta

    fast = render_all(Timings.uniform(timedelta(minutes=1)))
    shipped = render_all(Timings())
    alerts = Path("deploy/prometheus/rules/shoppulse-alerts.yml")
    assert "for: 1m\n" in fast[alerts]
    assert "for: 1m\n" not in shipped[alerts]
    assert (
        fast[Path("deploy/prometheus/rules/shoppulse-recording.yml")]
        == shipped[Path("deploy/prometheus/rules/shoppulse-recording.yml")]
    )
