"""prometheus.yml: the compose file passes `promtool check config`, and so does any other setup."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoppulse.monitoring.exceptions import MonitoringError
from shoppulse.monitoring.prometheus_config import (
    COLLECTOR_JOB,
    COMPOSE,
    WORKERS_JOB,
    PrometheusSetup,
    prometheus_config,
    prometheus_yml,
)
from tests.monitoring.conftest import REPO_ROOT, run

CONFIG = Path("deploy/prometheus/prometheus.yml")


def check_config(promtool: str, path: Path) -> str:
    done = run(promtool, "check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_repository_file_passes_promtool(promtool: str) -> None:
    """Relative rule paths resolve beside the file, as in the container's /etc/prometheus."""
    out = check_config(promtool, REPO_ROOT / CONFIG)
    assert "SUCCESS: 2 rule files found" in out
    assert "shoppulse-alerts.yml" in out
    assert "shoppulse-recording.yml" in out


def test_repository_file_is_the_compose_setup() -> None:
    config = yaml.safe_load((REPO_ROOT / CONFIG).read_text(encoding="utf-8"))
    assert config == prometheus_config(COMPOSE)
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {WORKERS_JOB: ["worker-1:9108", "worker-2:9108"], COLLECTOR_JOB: ["collector:8080"]}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert config["rule_files"] == ["rules/*.yml"]


def test_loopback_setup_with_absolute_rules_passes_promtool(
    promtool: str, generated: Path, tmp_path: Path
) -> None:
    """What the local demo does: loopback targets, its own rules folder, short intervals."""
    rules = tmp_path / "rules"
    shutil.copytree(generated / "deploy/prometheus/rules", rules)
    setup = PrometheusSetup(
        workers=["127.0.0.1:9108"],
        collectors=["127.0.0.1:8080"],
        rule_files=[rules / "*.yml"],
        alertmanagers=["127.0.0.1:9093"],
        scrape_interval=timedelta(seconds=1),
        evaluation_interval=timedelta(seconds=2),
    )
    path = tmp_path / "elsewhere" / "prometheus.yml"
    path.parent.mkdir()
    path.write_text(prometheus_yml(setup), encoding="utf-8")
    assert "SUCCESS: 2 rule files found" in check_config(promtool, path)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "2s"}
    assert config["rule_files"] == [str(rules / "*.yml")]


def test_minimal_setup_has_no_alerting_and_no_collector_job(promtool: str, tmp_path: Path) -> None:
    setup = PrometheusSetup(workers=("localhost:9108",), rule_files=())
    config = prometheus_config(setup)
    assert "alerting" not in config
    jobs = config["scrape_configs"]
    assert isinstance(jobs, list)
    assert [job["job_name"] for job in jobs] == [WORKERS_JOB]
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus_yml(setup), encoding="utf-8")
    check_config(promtool, path)


def test_setup_stores_tuples() -> None:
    setup = PrometheusSetup(workers=["a:1"], rule_files=[Path("/r/x.yml")], alertmanagers=["[::1]:9093"])
    assert setup.workers == ("a:1",)
    assert setup.rule_files == ("/r/x.yml",)
    assert setup.alertmanagers == ("[::1]:9093",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": ()}, "at least one worker"),
        ({"workers": "worker-1:9108"}, "not the string"),
        ({"workers": ("worker-1",)}, "is not host:port"),
        ({"workers": ("worker-1:0",)}, "is not host:port"),
        ({"workers": ("worker-1:70000",)}, "is not host:port"),
        ({"workers": ("http://worker-1:9108",)}, "is not host:port"),
        ({"workers": ("w:1", "w:1")}, "repeat"),
        ({"collectors": ("collector",)}, "collector target"),
        ({"alertmanagers": ("alertmanager:x",)}, "alertmanager target"),
        ({"rule_files": "rules/*.yml"}, "list of paths"),
        ({"rule_files": ("",)}, "empty"),
        ({"scrape_interval": timedelta(0)}, "scrape_interval"),
        ({"evaluation_interval": timedelta(milliseconds=1500)}, "evaluation_interval"),
    ],
)
def test_invalid_setups_fail_fast(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"workers": ("worker-1:9108",), **changes}
    with pytest.raises(MonitoringError, match=message):
        PrometheusSetup(**arguments)
