"""The generated files in the repository are exactly what the generator writes today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shoppulse.cli import app
from shoppulse.monitoring.alerts import RUNBOOKS
from shoppulse.monitoring.generate import generate, render_all
from shoppulse.monitoring.policy import Timings
from tests.monitoring.conftest import REPO_ROOT

RUNBOOK_BASE_URL_VARIABLE = "SHOPPULSE_RUNBOOK_BASE_URL"
# The files holding runbook_url annotations: the rules, their Grafana twins, the rule tests.
WITH_RUNBOOK_URLS = {
    "deploy/prometheus/rules/shoppulse-alerts.yml",
    "deploy/grafana/provisioning/alerting/shoppulse-alerts.yml",
    "deploy/prometheus/tests/shoppulse-alerts.test.yml",
    "deploy/prometheus/tests/shoppulse-changes.test.yml",
}

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


def test_cli_generate_writes_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNBOOK_BASE_URL_VARIABLE, raising=False)  # the committed form has no base
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


def runbook_urls(data: Any) -> list[str]:
    if isinstance(data, dict):
        own = [data["runbook_url"]] if "runbook_url" in data else []
        return own + [url for value in data.values() for url in runbook_urls(value)]
    if isinstance(data, list):
        return [url for item in data for url in runbook_urls(item)]
    return []


def test_committed_runbook_urls_are_repository_relative() -> None:
    anchors = (REPO_ROOT / "docs/runbooks.md").read_text()
    for relative in WITH_RUNBOOK_URLS:
        urls = runbook_urls(yaml.safe_load((REPO_ROOT / relative).read_text()))
        assert urls, relative
        for url in urls:
            page, anchor = url.split("#")
            assert page == RUNBOOKS, (relative, url)
            assert f'<a id="{anchor}"></a>' in anchors, (relative, url)


@pytest.mark.parametrize(
    "base",
    ["https://github.com/acme/shoppulse/blob/v1.4.0", "https://github.com/acme/shoppulse/blob/v1.4.0/"],
)
def test_a_runbook_base_url_makes_every_runbook_url_absolute_and_changes_nothing_else(base: str) -> None:
    plain = render_all(Timings())
    based = render_all(Timings(), base)
    changed = {path.as_posix() for path in plain if plain[path] != based[path]}
    assert changed == WITH_RUNBOOK_URLS
    page = "https://github.com/acme/shoppulse/blob/v1.4.0/docs/runbooks.md"
    for relative in WITH_RUNBOOK_URLS:
        before = runbook_urls(yaml.safe_load(plain[Path(relative)]))
        after = runbook_urls(yaml.safe_load(based[Path(relative)]))
        assert after == [url.replace(RUNBOOKS, page) for url in before], relative
        # Nothing but the URLs moved.
        assert based[Path(relative)].replace(page, RUNBOOKS) == plain[Path(relative)], relative


def test_cli_takes_the_runbook_base_url_from_the_flag_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = "https://git.example.com/shop/shoppulse/-/blob/main"
    rules = "deploy/prometheus/rules/shoppulse-alerts.yml"
    monkeypatch.delenv(RUNBOOK_BASE_URL_VARIABLE, raising=False)
    flag = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "flag"), "--runbook-base-url", base])
    assert flag.exit_code == 0, flag.output
    monkeypatch.setenv(RUNBOOK_BASE_URL_VARIABLE, base)
    env = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "env")])
    assert env.exit_code == 0, env.output
    text = (tmp_path / "flag" / rules).read_text()
    assert f"runbook_url: {base}/docs/runbooks.md#worker-down\n" in text
    assert (tmp_path / "env" / rules).read_text() == text


@pytest.mark.parametrize(
    "base", ["github.com/acme/shoppulse", "ftp://example.com/x", "https://example.com/x?ref=main", "https://"]
)
def test_cli_refuses_a_runbook_base_url_that_is_no_absolute_http_url(tmp_path: Path, base: str) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--runbook-base-url", base])
    assert result.exit_code == 2, result.output
    assert "absolute http(s) URL" in result.output
    assert not any(tmp_path.iterdir())  # nothing half-written
