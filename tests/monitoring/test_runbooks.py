"""docs/runbooks.md: a section per KPI and per event alert, with what it measures and what to do."""

from __future__ import annotations

from shoppulse.kpis.catalogue import CATALOGUE
from shoppulse.monitoring.alerts import all_alerts
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.runbook_text import CAUSES
from tests.monitoring.conftest import REPO_ROOT


def test_every_kpi_has_causes() -> None:
    assert set(CAUSES) == {kpi.key for kpi in CATALOGUE}


def test_every_alert_anchor_has_a_section() -> None:
    text = (REPO_ROOT / "docs/runbooks.md").read_text()
    anchors = {alert.anchor for alert in all_alerts(Timings())}
    assert len(anchors) == len(CATALOGUE) + 2 + 6  # per KPI, event flow, pipeline
    for anchor in anchors:
        assert text.count(f'<a id="{anchor}"></a>') == 1, anchor


def test_kpi_section_content() -> None:
    text = (REPO_ROOT / "docs/runbooks.md").read_text()
    section = text.split('<a id="party_favors-personalization_error_rate"></a>')[1].split("<a id=")[0]
    assert "Lower is better." in section
    assert "typical up to 5%, good up to 2%, exceptional up to 1%" in section
    assert "fewer than 200 personalised items checked" in section
    assert (
        "| `ShopPulsePersonalizationErrorRateFarAboveTypical` | critical | 7d value above 6% | 30m |"
        in section
    )
    assert "Use automated design validation to catch typos and layout errors." in section
    assert "A new operator, machine or supplier in production." in section
