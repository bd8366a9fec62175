"""Recording and alerting rules: promtool accepts them, and the generated rule tests pass."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from shoppulse.kpis.catalogue import BY_KEY
from shoppulse.monitoring import alerts as a
from shoppulse.monitoring import recording
from shoppulse.monitoring.generate import generate
from shoppulse.monitoring.policy import POLICIES, Timings
from shoppulse.schemas.stores import Vertical
from tests.monitoring.conftest import run

RULES = Path("deploy/prometheus/rules")
TESTS = Path("deploy/prometheus/tests")
SH, PF = Vertical.SMART_HOME, Vertical.PARTY_FAVORS


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def prometheus_alerts(root: Path) -> dict[tuple[str, str], dict]:
    """(alert name, vertical or "") -> rule."""
    rules = [
        rule for group in load(root / RULES / "shoppulse-alerts.yml")["groups"] for rule in group["rules"]
    ]
    return {(rule["alert"], rule["labels"].get("vertical", "")): rule for rule in rules}


def test_promtool_check_rules(generated: Path, promtool: str) -> None:
    done = run(promtool, "check", "rules", *(str(p) for p in sorted((generated / RULES).glob("*.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(a.all_alerts(Timings()))} rules found" in done.stdout
    recorded = sum(len(group.rules) for group in recording.RECORDING_GROUPS)
    assert f"SUCCESS: {recorded} rules found" in done.stdout
    assert len(a.all_alerts(Timings())) == 3 * 14 + 2 + 6  # per KPI, event flow, pipeline


def test_promtool_rule_tests_pass(generated: Path, promtool: str) -> None:
    files = sorted((generated / TESTS).glob("*.test.yml"))
    assert len(files) == 2
    done = run(promtool, "test", "rules", *(str(p) for p in files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == 2


def test_promtool_rule_tests_pass_with_short_for_durations(tmp_path: Path, promtool: str) -> None:
    generate(tmp_path, timings=Timings.uniform(timedelta(minutes=1)))
    assert {rule["for"] for rule in prometheus_alerts(tmp_path).values()} == {"1m"}
    done = run(promtool, "test", "rules", *(str(p) for p in sorted((tmp_path / TESTS).glob("*.test.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rule_tests_pass_with_a_runbook_base_url(tmp_path: Path, promtool: str) -> None:
    generate(tmp_path, runbook_base_url="https://github.com/acme/shoppulse/blob/main")
    urls = {rule["annotations"]["runbook_url"] for rule in prometheus_alerts(tmp_path).values()}
    assert all(
        url.startswith("https://github.com/acme/shoppulse/blob/main/docs/runbooks.md#") for url in urls
    )
    done = run(promtool, "test", "rules", *(str(p) for p in sorted((tmp_path / TESTS).glob("*.test.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr


def _copy(generated: Path, tmp_path: Path) -> Path:
    shutil.copytree(generated / "deploy", tmp_path / "deploy")
    return tmp_path


def test_rule_tests_catch_a_wrong_threshold(generated: Path, tmp_path: Path, promtool: str) -> None:
    root = _copy(generated, tmp_path)
    path = root / RULES / "shoppulse-alerts.yml"
    text = path.read_text()
    rule = 'kpi="consultation_conversion", window="7d"} >= 40) < 0.25\n'
    assert rule in text
    path.write_text(text.replace(rule, rule.replace("< 0.25", "< 0.2")))
    done = run(promtool, "test", "rules", str(root / TESTS / "shoppulse-alerts.test.yml"))
    assert done.returncode != 0
    assert "ShopPulseConsultationConversionBelowTypical" in done.stderr


def test_rule_tests_catch_an_averaged_ratio(generated: Path, tmp_path: Path, promtool: str) -> None:
    root = _copy(generated, tmp_path)
    path = root / RULES / "shoppulse-recording.yml"
    data = load(path)
    ratio = next(rule for rule in data["groups"][0]["rules"] if rule["record"].endswith(":ratio"))
    ratio["expr"] = "avg by (store, vertical, kpi, window) (shoppulse_kpi_value)"
    path.write_text(yaml.safe_dump(data))
    done = run(promtool, "test", "rules", str(root / TESTS / "shoppulse-alerts.test.yml"))
    assert done.returncode != 0
    # sum/sum of (1/10, 50/100) is 51/110 = 0.4636; the average of the two ratios is 0.3.
    assert "4.636E-01" in done.stderr
    assert (
        'got: {kpi="consultation_conversion", store="handoff", vertical="smart_home", window="7d"} 3E-01'
        in done.stderr
    )


def test_every_alert_is_shown_firing_and_not_firing(generated: Path) -> None:
    checks = [
        check
        for path in sorted((generated / TESTS).glob("*.test.yml"))
        for group in load(path)["tests"]
        for check in group.get("alert_rule_test", [])
    ]
    names = {name for name, _ in prometheus_alerts(generated)}
    assert {c["alertname"] for c in checks if c["exp_alerts"]} == names
    assert {c["alertname"] for c in checks if not c["exp_alerts"]} == names


def test_rule_tests_feed_only_the_contract(generated: Path) -> None:
    """Worker series from workers, collector series from the collector, `up` from either."""
    from shoppulse.export.contract import UP, collector_metric_names, exported_metric_names

    series = [
        s["series"]
        for path in sorted((generated / TESTS).glob("*.test.yml"))
        for group in load(path)["tests"]
        for s in group["input_series"]
    ]
    worker = 'instance="worker-', 'job="shoppulse"'
    collector = 'instance="collector:', 'job="shoppulse-collector"'
    for text in series:
        name = text.split("{")[0]
        scraped_from = [all(part in text for part in target) for target in (worker, collector)]
        if name in exported_metric_names():
            assert scraped_from == [True, False], text
        elif name in collector_metric_names():
            assert scraped_from == [False, True], text
        else:
            assert name == UP, text
            assert any(scraped_from), text


@pytest.mark.parametrize(
    ("vertical", "kpi", "op", "floor", "critical", "minimum", "window"),
    [
        (SH, "aov", "<", "100", "80", 30, "7d"),
        (SH, "consultation_conversion", "<", "0.25", "0.2", 40, "7d"),
        (SH, "repeat_purchase_retention", "<", "0.65", "0.52", 29, "30d"),
        (SH, "installation_uptake", "<", "0.3", "0.24", 34, "7d"),
        (SH, "support_satisfaction", "<", "0.85", "0.68", 67, "7d"),
        (SH, "content_engagement", "<", "0.05", "0.04", 200, "7d"),
        (SH, "cross_sell", "<", "0.2", "0.16", 50, "7d"),
        (PF, "aov", "<", "30", "24", 30, "7d"),
        (PF, "personalization_conversion", "<", "0.15", "0.12", 67, "7d"),
        (PF, "repeat_customer_rate", "<", "0.2", "0.16", 50, "30d"),
        (PF, "tool_time_per_visit", "<", "120", "96", 50, "7d"),
        (PF, "personalization_error_rate", ">", "0.05", "0.06", 200, "7d"),
        (PF, "customer_satisfaction", "<", "0.7", "0.56", 34, "7d"),
        (PF, "on_time_delivery", "<", "0.85", "0.68", 67, "7d"),
    ],
)
def test_kpi_alert_thresholds(
    generated: Path,
    vertical: Vertical,
    kpi: str,
    op: str,
    floor: str,
    critical: str,
    minimum: int,
    window: str,
) -> None:
    rules = prometheus_alerts(generated)
    name = "ShopPulse" + "".join(part.capitalize() for part in kpi.split("_"))
    word = "Above" if op == ">" else "Below"
    below = rules[(f"{name}{word}Typical", vertical.value)]
    far = rules[(f"{name}Far{word}Typical", vertical.value)]
    change = rules[(f"{name}Sudden{'Rise' if op == '>' else 'Drop'}", vertical.value)]
    assert below["expr"].endswith(f") {op} {floor}")
    assert far["expr"].endswith(f") {op} {critical}")
    # Lower is better: an absolute rise of a quarter of the floor; higher: a ratio to a week earlier.
    assert change["expr"].endswith(f") {op} {'0.0125' if op == '>' else '0.75'}")
    assert (" - on(" if op == ">" else " / on(") in change["expr"]
    for rule in (below, far):
        assert f'kpi="{kpi}", window="{window}"' in rule["expr"]
        assert f">= {minimum})" in rule["expr"]
        assert f"at least {minimum} " in rule["annotations"]["description"]
    assert "offset 1w" in change["expr"]
    assert (below["labels"]["severity"], far["labels"]["severity"], change["labels"]["severity"]) == (
        "warning",
        "critical",
        "warning",
    )


def test_alert_conventions(generated: Path) -> None:
    runbooks = (generated / "docs/runbooks.md").read_text()
    for (name, _), rule in prometheus_alerts(generated).items():
        assert re.fullmatch(r"ShopPulse(?:[A-Z][a-z]+)+", name), name
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        page, anchor = rule["annotations"]["runbook_url"].split("#")
        assert page == "docs/runbooks.md"
        assert f'<a id="{anchor}"></a>' in runbooks, anchor
        minutes = int(timedelta_of(rule["for"]).total_seconds() // 60)
        assert minutes >= 10, f"{name} would page on a blip"


def test_descriptions_carry_units_and_bands(generated: Path) -> None:
    rules = prometheus_alerts(generated)
    conversion = rules[("ShopPulseConsultationConversionBelowTypical", "smart_home")]["annotations"]
    assert "{{ $value | humanizePercentage }}" in conversion["description"]
    assert "typical from 25%, good from 35%, exceptional from 40%" in conversion["description"]
    aov = rules[("ShopPulseAovBelowTypical", "party_favors")]["annotations"]
    assert '{{ $value | printf "%.2f" }} {{ $labels.currency }}' in aov["description"]
    assert "typical from 30, good and exceptional from 80, in the store's currency" in aov["description"]
    tool = rules[("ShopPulseToolTimePerVisitFarBelowTypical", "party_favors")]["annotations"]
    assert "{{ $value | humanizeDuration }}" in tool["description"]
    assert "below 96 s" in tool["description"]
    errors = rules[("ShopPulsePersonalizationErrorRateAboveTypical", "party_favors")]["annotations"]
    assert "typical up to 5%, good up to 2%, exceptional up to 1%" in errors["description"]


def test_every_catalogue_kpi_has_a_policy() -> None:
    assert {policy.kpi.key for policy in POLICIES} == set(BY_KEY)


def timedelta_of(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return timedelta(seconds=sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", text)))
