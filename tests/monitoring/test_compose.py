"""docker-compose.yml and the Dockerfile, checked without Docker: services, commands, mounts, addresses.

There is no Docker engine where the tests run, so these read the files and compare them with
what the other generated files expect (Prometheus targets, Grafana's datasource and dashboards
path). `docker compose up` itself is documented in docs/deploy.md.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import pytest
import yaml

from shoppulse.monitoring import grafana
from tests.monitoring.conftest import REPO_ROOT

STORES = "/etc/shoppulse/stores.yaml"
SHOPPULSE_SERVICES = ("worker-1", "worker-2", "collector", "simulator")
COMMANDS = {
    "worker-1": f"worker --stores {STORES} --broker kafka:9092 --metrics-port 9108",
    "worker-2": f"worker --stores {STORES} --broker kafka:9092 --metrics-port 9108",
    "collector": (
        f"collector --stores {STORES} --broker kafka:9092 --port 8080 --host 0.0.0.0 --idempotence on"
    ),
    "simulator": (
        f"simulate --stores {STORES} --broker kafka:9092 --rate 50 --duration 86400 --profile typical"
    ),
}
SERVICES = {*COMMANDS, "kafka", "kafka-init", "prometheus", "alertmanager", "grafana"}
PROVISIONING = PurePosixPath("/etc/grafana/provisioning")


class Mount(NamedTuple):
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith(("./", "../", "/")) or self.source == "."


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def service(name: str) -> dict[str, Any]:
    found = compose()["services"][name]
    assert isinstance(found, dict)
    return found


def command(name: str) -> list[str]:
    value = service(name)["command"]
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def mounts(name: str) -> list[Mount]:
    """Short-syntax volumes (`source:target[:mode]`), the only form the file uses."""
    found = []
    for entry in service(name).get("volumes", []):
        assert isinstance(entry, str), f"{name}: use the short volume syntax, got {entry!r}"
        source, target, *mode = entry.split(":")
        found.append(Mount(source, target, mode == ["ro"]))
    return found


def option(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} once in {argv}"
    return argv[argv.index(flag) + 1]


def container_ports(name: str) -> set[int]:
    """Ports the service listens on, from its command line or its published ports."""
    argv = command(name) if "command" in service(name) else []
    ports = {int(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg in ("--port", "--metrics-port")}
    ports |= {int(str(p).rsplit(":", 1)[-1]) for p in service(name).get("ports", [])}
    return ports


def test_every_service_is_there() -> None:
    assert set(compose()["services"]) == SERVICES


@pytest.mark.parametrize(("name", "expected"), sorted(COMMANDS.items()))
def test_shoppulse_commands(name: str, expected: str) -> None:
    assert command(name) == expected.split()


@pytest.mark.parametrize("name", SHOPPULSE_SERVICES)
def test_shoppulse_services_use_the_image_built_here_and_wait_for_the_topics(name: str) -> None:
    spec = service(name)
    assert spec["build"] == "."
    assert (REPO_ROOT / "Dockerfile").is_file()
    assert "entrypoint" not in spec, "the image's entrypoint is `shoppulse`"
    assert spec["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}
    assert Mount("./shoppulse/samples/stores.yaml", STORES, True) in mounts(name)


def test_only_the_simulator_is_in_the_demo_profile() -> None:
    profiled = {name: spec["profiles"] for name, spec in compose()["services"].items() if "profiles" in spec}
    assert profiled == {"simulator": ["demo"]}


def test_collector_is_published_on_8080() -> None:
    assert "8080:8080" in service("collector")["ports"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_bind_mounted_host_paths_exist_in_the_repository(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for mount in mounts(name):
        if mount.is_bind:
            assert not mount.source.startswith("/"), f"{name}: {mount.source} is outside the repository"
            host = (REPO_ROOT / mount.source).resolve()
            assert host.is_relative_to(REPO_ROOT), f"{name}: {mount.source} is outside the repository"
            assert host.exists(), f"{name} mounts {mount.source}, which does not exist"
        else:
            assert mount.source in declared, f"{name}: named volume {mount.source} is not declared"
        assert PurePosixPath(mount.target).is_absolute(), mount


def prometheus_yml() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def scrape_targets() -> dict[str, list[str]]:
    return {
        job["job_name"]: [target for static in job["static_configs"] for target in static["targets"]]
        for job in prometheus_yml()["scrape_configs"]
    }


def test_prometheus_scrapes_every_worker_and_the_collector() -> None:
    targets = {target for listed in scrape_targets().values() for target in listed}
    assert targets == {"worker-1:9108", "worker-2:9108", "collector:8080"}


@pytest.mark.parametrize(
    "target", sorted({target for listed in scrape_targets().values() for target in listed})
)
def test_scrape_targets_are_compose_services_listening_there(target: str) -> None:
    host, port = target.rsplit(":", 1)
    assert host in compose()["services"], f"{target}: no such service"
    assert int(port) in container_ports(host), f"{host} does not listen on {port}"


def test_prometheus_sends_alerts_to_the_alertmanager_service() -> None:
    (target,) = prometheus_yml()["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    host, port = target.rsplit(":", 1)
    assert host == "alertmanager"
    assert int(port) in container_ports("alertmanager")


def test_prometheus_mounts_its_config_and_rules() -> None:
    argv = command("prometheus")
    config_file = next(arg.split("=", 1)[1] for arg in argv if arg.startswith("--config.file="))
    by_target = {m.target: m for m in mounts("prometheus")}
    assert by_target[config_file].source == "./deploy/prometheus/prometheus.yml"
    config_dir = PurePosixPath(config_file).parent
    for pattern in prometheus_yml()["rule_files"]:
        folder = config_dir / PurePosixPath(pattern).parent
        assert by_target[str(folder)].source == "./deploy/prometheus/rules", pattern
    assert "9090:9090" in service("prometheus")["ports"]


def test_alertmanager_mounts_the_generated_config() -> None:
    argv = command("alertmanager")
    config_file = PurePosixPath(next(a.split("=", 1)[1] for a in argv if a.startswith("--config.file=")))
    by_target = {m.target: m for m in mounts("alertmanager")}
    source = by_target[str(config_file.parent)].source
    assert (REPO_ROOT / source / config_file.name) == REPO_ROOT / "deploy/alertmanager/alertmanager.yml"
    assert "9093:9093" in service("alertmanager")["ports"]


def test_grafana_mounts_datasources_and_dashboards_but_not_alerting() -> None:
    by_target = {PurePosixPath(m.target): m.source for m in mounts("grafana")}
    assert by_target[PROVISIONING / "datasources"] == "./deploy/grafana/provisioning/datasources"
    assert by_target[PROVISIONING / "dashboards"] == "./deploy/grafana/provisioning/dashboards"
    assert by_target[PurePosixPath(grafana.DASHBOARDS_PATH)] == "./dashboards"
    # Alertmanager is the engine: Grafana-managed rules would notify a second time.
    assert PROVISIONING not in by_target
    assert PROVISIONING / "alerting" not in by_target
    assert not any("alerting" in source for source in by_target.values())
    assert "3000:3000" in service("grafana")["ports"]


def test_grafana_is_12_or_later_and_its_datasource_is_the_prometheus_service() -> None:
    image = service("grafana")["image"]
    match = re.fullmatch(r"grafana/grafana:(\d+)\.\d+\.\d+", image)
    assert match is not None, image
    assert int(match[1]) >= 12, image
    provisioned = yaml.safe_load(
        (REPO_ROOT / "deploy/grafana/provisioning/datasources/shoppulse.yml").read_text(encoding="utf-8")
    )
    url = provisioned["datasources"][0]["url"]
    assert url == "http://prometheus:9090"
    host, port = url.removeprefix("http://").split(":")
    assert host in compose()["services"]
    assert int(port) in container_ports(host)


def test_home_dashboard_exists() -> None:
    home = PurePosixPath(service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == PurePosixPath(grafana.DASHBOARDS_PATH)
    assert json.loads((REPO_ROOT / "dashboards" / home.name).read_text(encoding="utf-8"))["title"]


def test_kafka_is_one_kraft_node_without_zookeeper() -> None:
    env = {key: str(value) for key, value in service("kafka")["environment"].items()}
    assert "zookeeper" not in json.dumps(compose()["services"]).lower()
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["CLUSTER_ID"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert service("kafka")["image"].startswith("apache/kafka:")
    assert "healthcheck" in service("kafka")


def topic_creations() -> dict[str, int]:
    script = command("kafka-init")[-1]
    created = {}
    for line in script.splitlines():
        argv = shlex.split(line)
        if argv and argv[0].endswith("kafka-topics.sh") and "--create" in argv:
            assert option(argv, "--bootstrap-server") == "kafka:9092"
            assert "--if-not-exists" in argv
            created[option(argv, "--topic")] = int(option(argv, "--partitions"))
    return created


def test_kafka_init_creates_the_topics() -> None:
    created = topic_creations()
    assert set(created) == {"storefront.events", "storefront.events.dlq"}
    assert created["storefront.events"] == 8
    spec = service("kafka-init")
    assert spec["depends_on"]["kafka"] == {"condition": "service_healthy"}
    assert spec["restart"] == "no"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in lines if not line.lstrip().startswith("#")))
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.strip().partition(" ") for line in logical.splitlines() if line.strip())
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_dockerfile_entrypoint_is_shoppulse() -> None:
    (entrypoint,) = [args for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["shoppulse"]


def test_dockerfile_runs_python_311_slim_as_a_non_root_user() -> None:
    steps = dockerfile_instructions()
    assert all(args.split()[0] == "python:3.11-slim" for keyword, args in steps if keyword == "FROM")
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage sets USER"
    assert users[-1] not in {"root", "0"}


def test_dockerfile_installs_dependencies_before_copying_the_code() -> None:
    steps = dockerfile_instructions()
    copies = [i for i, (keyword, _) in enumerate(steps) if keyword == "COPY"]
    pyproject = next(i for i in copies if steps[i][1].startswith("pyproject.toml"))
    code = next(i for i in copies if steps[i][1].startswith("shoppulse"))
    runs = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "RUN"]
    dependencies = next(i for i, args in runs if "pip install -r /tmp/requirements.txt" in args)
    package = next(i for i, args in runs if "pip install --no-deps ." in args)
    assert pyproject < dependencies < code < package
    assert not any(" -e " in args or "--editable" in args for _, args in runs)


def test_dockerignore_keeps_what_the_build_needs() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines
    assert {"!pyproject.toml", "!README.md", "!shoppulse/"} <= set(lines)
