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


def test_repository_files_are_current(tmp_path: Path) -> None:
    stale = [
        path.relative_to(tmp_path).as_posix()
        for path in generate(tmp_path)
        if not (REPO_ROOT / path.relative_to(tmp_path)).is_file()
        or (REPO_ROOT / path.relative_to(tmp_path)).read_bytes() != path.read_bytes()
    ]
    assert stale == [], f"stale generated files {stale}: run `shoppulse generate` at the repository root"


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
