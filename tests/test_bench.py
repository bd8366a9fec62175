"""The benchmark suite's pure parts, and the published figures against the measured ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402 - bench/ is a folder of scripts
import freshness  # noqa: E402
import quix_peer  # noqa: E402
import tables  # noqa: E402


def test_docs_show_the_latest_results() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "tables.py"), str(tables.LATEST), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_histogram_quantile_interpolates_within_the_bucket_of_the_increase() -> None:
    before = {0.1: 10.0, 1.0: 10.0, float("inf"): 10.0}
    after = {0.1: 10.0, 1.0: 110.0, float("inf"): 110.0}  # 100 new observations, all in (0.1, 1]
    assert freshness.histogram_quantile(before, after, 0.5) == pytest.approx(0.55)
    assert freshness.histogram_quantile(before, before, 0.5) is None


def test_memory_growth_is_told_apart_from_the_dedupe_index_and_rocksdbs_cache() -> None:
    mib = 1 << 20
    memory = [(0.0, 50 * mib), (60.0, 100 * mib), (600.0, 140 * mib)]
    # (t, dedupe ids, RocksDB bytes): a million new ids after warm-up, the cache +16 MiB
    holders = [(0.0, 0, 0), (60.0, 100_000, 16 * mib), (600.0, 1_100_000, 32 * mib)]
    grown = freshness.flatness(memory, 60.0, 2_000.0, dedupe_per_id=20.0, holders=holders)
    assert grown["rss_growth_after_warmup"] == pytest.approx(0.40)
    assert grown["dedupe_new_ids"] == 1_000_000
    assert grown["rss_growth_besides_dedupe"] == pytest.approx((40 * mib - 20e6) / (100 * mib), abs=1e-4)
    assert not grown["flat_besides_dedupe"]
    assert grown["rocksdb_growth_bytes"] == 16 * mib
    besides_both = (24 * mib - 20e6) / (100 * mib)
    assert grown["rss_growth_besides_dedupe_and_rocksdb"] == pytest.approx(besides_both, abs=1e-4)
    assert grown["flat_besides_dedupe_and_rocksdb"]
    # Without the gauges: one new id per event sent, and nothing said of RocksDB.
    older = freshness.flatness(memory, 60.0, 2_000.0, dedupe_per_id=20.0)
    assert older["dedupe_new_ids"] == 1_080_000
    assert "rocksdb_growth_bytes" not in older


def test_memory_is_flat_when_only_the_bounded_holders_grow() -> None:
    mib = 1 << 20
    memory = [(0.0, 50 * mib), (60.0, 100 * mib), (600.0, 140 * mib)]
    holders = [(0.0, 0, 0), (60.0, 100_000, 16 * mib), (600.0, 1_100_000, 32 * mib)]
    grown = freshness.flatness(memory, 60.0, 2_000.0, dedupe_per_id=20.0, holders=holders)
    fresh = {"freshness_p50_s": 0.3, "freshness_p99_s": 0.7, "load": {"rate": 2_000.0}, "memory": grown}
    summary = tables.summarise({"freshness": fresh})
    # +21 % besides the dedupe index, +5 % once RocksDB's cache (filling to its budget) is out too
    assert not grown["flat_besides_dedupe"]
    assert summary["targets"]["memory_flat"]["met"]
    leaking = freshness.flatness(
        [(0.0, 50 * mib), (60.0, 100 * mib), (600.0, 160 * mib)], 60.0, 2_000.0, 20.0, holders
    )
    assert not tables.summarise({"freshness": fresh | {"memory": leaking}})["targets"]["memory_flat"]["met"]


def test_the_memory_step_beside_the_soak_is_read_from_its_last_line() -> None:
    import run

    printed = 'print("not json"); print(\'{"bytes_per_customer": 90}\')'

    def python(code: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    result = run.memory_result(python(printed))
    assert result == {"bytes_per_customer": 90, "beside_soak_niceness": run.MEMORY_NICENESS}
    with pytest.raises(RuntimeError, match="exited with 3"):
        run.memory_result(python("raise SystemExit(3)"))


def test_the_memory_step_beside_the_soak_leaves_the_throughput_step_all_but_the_soak() -> None:
    import run

    plan = run.Plan(quick=False)
    full = run.seconds_after_throughput(plan, list(run.STEPS))
    assert full == plan.soak_seconds + 40  # nothing reserved for the memory step
    assert plan.budget_seconds - full >= 230  # report, single and batched with 2 and 4 workers
    assert run.seconds_after_throughput(plan, ["throughput", "memory"]) == 50
    assert run.seconds_after_throughput(plan, ["throughput"]) == 0


def test_work_ends_with_the_last_busy_stretch_not_the_commit_burst() -> None:
    # 0.1 s samples of (time, CPU seconds): busy until 1.0 s, idle, a 0.2 s commit burst at 2 s
    cpu, samples = 0.0, []
    for step in range(31):
        t = step / 10
        busy = t <= 1.0 or 2.0 < t <= 2.2
        cpu += 0.09 if busy and step else 0.0
        samples.append((t, cpu))
    assert common.last_busy(samples) == pytest.approx(1.0)


def test_batched_messages_hold_one_store_each() -> None:
    events = [("a", b'{"n":1}'), ("b", b'{"n":2}'), ("a", b'{"n":3}')]
    assert common.messages(events, 2) == [(b"a", b'[{"n":1},{"n":3}]'), (b"b", b'[{"n":2}]')]
    assert common.messages(events, 1)[1] == (b"b", b'{"n":2}')


def test_the_table_renders_a_partial_run() -> None:
    results = tables.summarise(
        {
            "machine": {
                "cpu": "cpu", "architecture": "x86_64", "cores": 2, "ram_gib": 24, "python": "3.11",
                "os": "Linux", "broker": "tansu", "faust_streaming": "0.15.3", "aiokafka": "0.14",
                "load_average_at_start": [0.1, 0.1, 0.1],
            },
            "mode": "quick",
            "started_at": "2026-01-01T00:00:00+00:00",
            "run": {"seconds": 61, "other_processes_cores": 0.1},
            "report": {
                "events": 1000, "days": 30, "report_events_per_s": 120_000, "read_lines_per_s": 10**6,
                "read_and_validate_events_per_s": 300_000, "peak_rss_bytes": 2**27,
                "runs_events_per_s": [118_000, 120_000, 125_000],
            },
        }
    )  # fmt: skip
    assert results["targets"] == {
        "report_events_per_s": {"target": "≥ 100,000 events/s", "value": 120_000, "met": True}
    }
    text = tables.markdown(results)
    assert "| `shoppulse report` events/s, 1,000 events over 30 days | 120,000 |" in text
    assert "median of 3 runs (118,000, 120,000, 125,000)" in text  # a result of before the fastest counted
    assert "1 min 1 s" in text
    results["report"] |= {"report_events_per_s": 125_000, "report_events_per_s_median": 120_000}
    assert "fastest of 3 runs (118,000, 120,000, 125,000; median 120,000)" in tables.markdown(results)


def test_the_table_names_the_memory_steps_table_stores() -> None:
    def run(state: str, per_customer: int) -> dict:
        return {
            "idle_rss_bytes": 2**26, "steps": [{"customers": 10_000, "rss_bytes": 2**27, "seconds": 4.0}],
            "skipped": [], "bytes_per_customer": per_customer, "slope_from": "idle and one step",
            "dict_baseline_bytes_per_customer": 146, "state": state,
        }  # fmt: skip

    memory = {**run("rocksdb://", 250), "memory_tables": run("memory://", 900)}
    machine = {
        "cpu": "cpu", "architecture": "x86_64", "cores": 2, "ram_gib": 24, "python": "3.11", "os": "Linux",
        "broker": "tansu", "faust_streaming": "0.15.3", "aiokafka": "0.14",
        "load_average_at_start": [0.1] * 3,
    }  # fmt: skip
    results = tables.summarise(
        {
            "machine": machine,
            "mode": "quick",
            "started_at": "2026-01-01T00:00:00+00:00",
            "run": {"seconds": 61, "other_processes_cores": 0.1},
            "memory": memory,
        }
    )
    assert results["targets"]["bytes_per_customer"] == {"target": "≤ 300 bytes", "value": 250, "met": True}
    text = tables.markdown(results)
    assert "bytes per active customer, rocksdb:// tables (RSS: 10,000 → 128 MiB) | 250 |" in text
    assert "with memory:// tables 900 bytes per customer (RSS: 10,000 → 128 MiB)" in text


def test_the_table_tells_a_shortened_memory_step_and_the_marginal_slope() -> None:
    memory = {
        "idle_rss_bytes": 2**26, "skipped": [], "bytes_per_customer": 400, "slope_from": "steps",
        "marginal_bytes_per_customer": 180, "dict_baseline_bytes_per_customer": 146, "state": "rocksdb://",
        "steps": [
            {"customers": 10_000, "rss_bytes": 2**27, "seconds": 2.0},
            {"customers": 100_000, "rss_bytes": 2**28, "seconds": 14.0},
            {"customers": 300_000, "rss_bytes": 2**28 + 2**25, "seconds": 28.0, "shortened_from": 1_000_000},
        ],
    }  # fmt: skip
    text = tables.markdown(
        tables.summarise(
            {
                "machine": {
                    "cpu": "cpu",
                    "architecture": "x86_64",
                    "cores": 2,
                    "ram_gib": 24,
                    "python": "3.11",
                    "os": "Linux",
                    "broker": "tansu",
                    "faust_streaming": "0.15.3",
                    "aiokafka": "0.14",
                    "load_average_at_start": [0.1] * 3,
                },
                "mode": "quick",
                "started_at": "2026-01-01T00:00:00+00:00",
                "run": {"seconds": 61, "other_processes_cores": 0.1},
                "memory": memory,
            }
        )
    )
    assert "300,000 (instead of 1,000,000, for time) → 288 MiB" in text
    assert "from the second step on 180 bytes per customer" in text


def test_the_code_alone_counts_every_event_of_the_throughput_messages() -> None:
    import logic_only

    events = common.make_events(3_000)
    for per_message in (1, 100):
        result = logic_only.measure(common.messages(events, per_message), runs=1)
        assert result["events"] == 3_000
        stages = result["microseconds_per_event"]
        parts = stages["route"] + stages["joins"] + stages["totals"]
        assert stages["total"] == pytest.approx(parts, abs=0.05)
        assert result["events_per_s"] == pytest.approx(1e6 / stages["total"], rel=0.01)


def test_the_collector_bench_gives_the_worker_exactly_what_it_posted(tmp_path: Path) -> None:
    """A real collector on a real broker: every posted event is accepted once and read back."""
    import collector_throughput
    import orjson

    posted = common.messages(common.make_events(1_500), 100)
    warmup = common.messages(common.make_events(200, seed=1_000), 100)
    result = collector_throughput.run_collector(posted, warmup, tmp_path, concurrency=4)

    ids = [event["event_id"] for _, value in result["messages_written"] for event in orjson.loads(value)]
    want = [event["event_id"] for _, body in posted + warmup for event in orjson.loads(body)]
    assert sorted(ids) == sorted(want)  # each once, nothing else
    assert (result["events"], result["requests"]) == (1_500, len(posted))
    assert result["events_per_s"] == pytest.approx(1_500 / result["seconds"], rel=0.1)  # seconds to 1 ms


def test_instruction_counts_are_read_from_cachegrind_and_split_by_stage() -> None:
    import instructions

    summary = "==29601== \n==29601== I   refs:      4,072,049,854\n"
    assert instructions.instruction_count(summary) == 4_072_049_854
    with pytest.raises(ValueError, match="no cachegrind summary"):
        instructions.instruction_count("==29601== ERROR SUMMARY: 0 errors\n")
    counts = [1_000, 1_600, 2_500, 2_900]  # runs of the first 0, 1, 2 and 3 stages
    assert instructions.per_stage(counts, 10) == {"route": 60, "joins": 90, "totals": 40, "total": 190}


def test_the_code_alone_runs_only_the_stages_asked_for() -> None:
    import logic_only

    from shoppulse.schemas.stores import load_stores

    msgs = common.messages(common.make_events(500), 100)
    stores = load_stores(common.SAMPLES).by_id()
    assert set(logic_only.run_stages(msgs, stores, common.PARTITIONS, stages=1)) == {"events", "route_s"}
    two = logic_only.run_stages(msgs, stores, common.PARTITIONS, stages=2)
    assert two["events"] == 500
    assert set(two) == {"events", "route_s", "joins_s"}
    assert logic_only.run_stages(msgs, stores, common.PARTITIONS)["events"] == 500
    # stage three one message per batch, as inside a busy worker: the same events counted
    one_by_one = logic_only.run_stages(msgs, stores, common.PARTITIONS, totals_batch=1)
    assert one_by_one["events"] == 500
    assert one_by_one["totals_s"] > 0


def test_a_longer_first_run_leaves_time_for_the_runs_after_it() -> None:
    import worker_throughput

    overhead = worker_throughput.RUN_OVERHEAD
    # batched, 1, 2 and 4 workers: three runs of 15 s and two starts more
    assert worker_throughput.seconds_to_lengthen(15, [1, 2, 4], rocksdb=False) == 45 + 2 * overhead
    # single: the memory:// run, then rocksdb:// at about 1.5 times as long
    assert worker_throughput.seconds_to_lengthen(15, [1], rocksdb=True) == 37.5 + 1.5 * overhead
    assert worker_throughput.seconds_to_lengthen(15, [1], rocksdb=False) == 15


def test_the_soak_rate_is_half_the_rocksdb_rate_or_a_cautious_guess_of_it() -> None:
    import run

    measured = {"worker_events_per_s": 6_000, "worker_rocksdb_events_per_s": 5_000}
    assert run.soak_rate(measured, default=500.0) == 2_500
    skipped = {"worker_events_per_s": 6_000}  # the rocksdb:// run did not fit
    assert run.soak_rate(skipped, default=500.0) == 6_000 * run.ROCKSDB_SPEED_WHEN_UNMEASURED / 2
    assert run.soak_rate(None, default=500.0) == 500.0
    assert run.soak_rate({"worker_events_per_s": 60}, default=500.0) == 50.0


def test_the_report_step_stops_repeating_when_another_run_would_pass_its_time(tmp_path: Path) -> None:
    import report_throughput

    three = report_throughput.measure(2_000, tmp_path, runs=3, with_baselines=False)
    assert len(three["runs_events_per_s"]) == 3
    assert three["applied"] == 2_000
    one = report_throughput.measure(2_000, tmp_path, runs=3, with_baselines=False, max_seconds=0.0)
    assert len(one["runs_events_per_s"]) == 1
    assert one["applied"] == three["applied"]


def test_heap_growth_tells_the_dedupe_index_from_everything_else(tmp_path: Path) -> None:
    import tracemalloc

    import heap_growth

    from shoppulse.streams.joins import SeenIndex

    index, kept, files = SeenIndex(), [], []
    tracemalloc.start()
    try:
        for number in range(3):
            for count in range(20_000):
                index.add(f"event-{number}-{count}", 20_000)
            kept.append(bytearray(1_000_000))  # this line is the "leak"
            files.append(tmp_path / f"{number}.snapshot")
            tracemalloc.take_snapshot().dump(str(files[-1]))
    finally:
        tracemalloc.stop()
    grown = heap_growth.compare(files, every=60.0, warmup=120.0)
    assert [row["at_s"] for row in grown["snapshots"]] == [60.0, 120.0, 180.0]
    assert (grown["compared_from_s"], grown["compared_to_s"]) == (120.0, 180.0)
    # 20,000 more ids at 16 to 20 bytes each (arrays keep spare room), and one more bytearray
    assert 16 * 20_000 <= grown["index_growth_bytes"] <= 40 * 20_000
    assert 1_000_000 <= grown["rest_growth_bytes"] < 1_100_000
    top = grown["top_lines"][0]
    assert top["line"].startswith(__file__ + ":")
    assert top["growth_bytes"] >= 1_000_000


def test_freshness_by_minute_shows_a_worker_falling_behind_late_in_the_run() -> None:
    sent_at = [0.5, 30.0, 59.9, 60.0, 90.0, 125.0]
    latencies = [0.2, 0.4, 0.3, 2.0, 6.0, 18.0]
    assert freshness.by_minute(sent_at, latencies) == [
        {"minute": 0, "probes": 3, "p50_s": 0.3, "max_s": 0.4},
        {"minute": 1, "probes": 2, "p50_s": common.quantile([2.0, 6.0], 0.5), "max_s": 6.0},
        {"minute": 2, "probes": 1, "p50_s": 18.0, "max_s": 18.0},
    ]


def test_freshness_by_minute_tells_the_workers_cores_from_the_brokers() -> None:
    # Cumulative CPU seconds every 30 s: the worker steady at 0.6 of a core, the broker
    # growing from 0.2 to 0.9 (as Tansu does with the record batches it holds).
    cpu = [(0.0, 0.0, 0.0), (30.0, 18.0, 6.0), (60.0, 36.0, 15.0), (90.0, 54.0, 39.0), (120.0, 72.0, 66.0)]
    assert freshness.cores_by_minute(cpu) == {
        0: {"worker_cores": 0.6, "broker_cores": 0.25},
        1: {"worker_cores": 0.6, "broker_cores": 0.85},
    }
    rows = freshness.by_minute([10.0, 70.0], [0.3, 2.5], cpu)
    assert rows[1] == {
        "minute": 1,
        "probes": 1,
        "p50_s": 2.5,
        "max_s": 2.5,
        "worker_cores": 0.6,
        "broker_cores": 0.85,
    }
    assert freshness.cores(cpu, 1) == 0.6
    assert freshness.cores(cpu, 2) == 0.55
    assert freshness.cores(cpu[:1], 2) is None
    fresh = {"worker_cpu_share": 0.6, "broker_cpu_share": 0.55}
    assert tables._cores_note(fresh) == "; cores busy: worker 0.60, broker 0.55"
    assert tables._cores_note({"worker_cpu_share": 0.6}) == ""


def test_the_machine_line_names_the_interpreters_build_when_the_results_have_it() -> None:
    build = common.python_build()
    assert build.startswith(f"{sys.base_prefix}, libpython ")  # shared, or in the executable
    machine = {
        "cpu": "cpu", "architecture": "x86_64", "cores": 2, "ram_gib": 24, "python": "3.11.7", "os": "Linux",
        "broker": "tansu", "faust_streaming": "0.15.3", "aiokafka": "0.14",
    }  # fmt: skip
    assert "Python 3.11.7; Linux;" in tables.machine_line({"machine": machine})  # results before the field
    line = tables.machine_line({"machine": {**machine, "python_build": build}})
    assert f"Python 3.11.7 ({build}); Linux;" in line


def test_the_peer_must_run_on_the_workers_interpreter(tmp_path: Path) -> None:
    quix_peer.check_same_interpreter(Path(sys.executable))  # a virtualenv of it would pass too
    elsewhere = tmp_path / "python"
    elsewhere.write_text("#!/bin/sh\necho /opt/other-python 3.11.2\n")
    elsewhere.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"remove \.venv-quix and run `make bench`"):
        quix_peer.check_same_interpreter(elsewhere)
