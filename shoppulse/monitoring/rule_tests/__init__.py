"""`promtool test rules` files generated from the catalogue.

Every alert is shown firing and not firing, fed with the series a worker exports (the
contract's names and labels, plus the `instance` and `job` labels a scrape adds). The
expected annotations are rendered with the formatting Prometheus uses, so the tests
check an alert's words and numbers as well as its labels.

Two files, because promtool has one evaluation interval per file: tier, event-flow and
recording tests step every minute; week-on-week tests step every hour over eight days.
"""

from __future__ import annotations

from shoppulse.monitoring import alerts as a
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.recording import RECORDING_GROUPS
from shoppulse.monitoring.rule_tests.common import Json
from shoppulse.monitoring.rule_tests.flow import no_metrics_test, recording_test, silence_test
from shoppulse.monitoring.rule_tests.kpis import change_test, currency_test, tier_test
from shoppulse.monitoring.rule_tests.pipeline import pipeline_tests

RULE_FILES = ["../rules/shoppulse-recording.yml", "../rules/shoppulse-alerts.yml"]


def promtool_test_files(timings: Timings) -> dict[str, Json]:
    """File name -> promtool test file, for `deploy/prometheus/tests/`."""
    # Recording groups first: an alert must read the ratio recorded at the same evaluation.
    order = [group.name for group in RECORDING_GROUPS] + list(
        dict.fromkeys(x.group for x in a.all_alerts(timings))
    )
    header = {"rule_files": RULE_FILES, "group_eval_order": order}
    minute_tests = [
        recording_test(),
        tier_test(timings),
        currency_test(timings),
        silence_test(timings),
        no_metrics_test(timings),
        *pipeline_tests(timings),
    ]
    return {
        "shoppulse-alerts.test.yml": {**header, "evaluation_interval": "1m", "tests": minute_tests},
        "shoppulse-changes.test.yml": {
            **header,
            "evaluation_interval": "1h",
            "tests": [change_test(timings)],
        },
    }
