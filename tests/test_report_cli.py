"""`shoppulse report` as a user runs it: flags, rejects file, stdin, text output."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from shoppulse.report import run_report
from shoppulse.schemas.stores import load_stores
from tests.builders import PARTY_STORE, SMART_STORE, T0, event, minutes, order, write_jsonl
from tests.conftest import kpi

SHOPPULSE = [sys.executable, "-m", "shoppulse"]


def test_rejects_file_keeps_each_bad_line_with_reason(tmp_path: Path, stores_file: Path) -> None:
    good = orjson.dumps(order(SMART_STORE, T0))
    bad = orjson.dumps(event("visit", "unknown-store", T0, visit_id="v"))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([good, b"{oops", bad, b"", good]) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    done = subprocess.run(
        [
            *SHOPPULSE,
            "report",
            str(events),
            "--stores",
            str(stores_file),
            "--json",
            "--rejects",
            str(rejects),
        ],
        capture_output=True,
        check=True,
    )
    result = orjson.loads(done.stdout)
    assert result["rejected"] == {"invalid_json": 1, "unknown_store": 1}
    assert result["events"] == {"applied": 1, "duplicate": 1}
    kept = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(r["line"], r["reason"], r["path"]) for r in kept] == [
        (2, "invalid_json", ""),
        (3, "unknown_store", "store_id"),
    ]
    assert kept[1]["raw"] == bad.decode()


def test_at_ignores_events_from_its_moment_on(report: Callable[..., dict[str, Any]]) -> None:
    events = [order(SMART_STORE, T0 + minutes(i)) for i in range(10)]
    result = report(events, "--at", "2026-05-01T00:05:00+00:00", "--window", "1h")
    assert (result["at"], result["window"]) == ("2026-05-01T00:05:00Z", "1h")
    assert kpi(result, SMART_STORE, "aov")["denominator"] == 5
    assert result["events"] == {"after_at": 5, "applied": 5}


def test_null_value_when_denominator_is_zero(report: Callable[..., dict[str, Any]]) -> None:
    found = kpi(report([order(SMART_STORE, T0)]), PARTY_STORE, "on_time_delivery")
    assert found == {
        "store_id": PARTY_STORE,
        "vertical": "party_favors",
        "kpi": "on_time_delivery",
        "value": None,
        "numerator": 0,
        "denominator": 0,
        "tier": None,
    }


def test_reads_stdin_and_prints_a_table(tmp_path: Path, stores_file: Path) -> None:
    lines = write_jsonl(
        tmp_path / "e.jsonl",
        [
            order(
                SMART_STORE,
                T0,
                items=[{"sku": "H", "category": "hub", "quantity": 1, "unit_price": "249.00"}],
            )
        ],
    ).read_bytes()
    done = subprocess.run(
        [*SHOPPULSE, "report", "-", "--stores", str(stores_file)],
        input=lines,
        capture_output=True,
        check=True,
    )
    out = done.stdout.decode()
    assert "249.00 USD" in out
    assert "exceptional" in out


def test_bad_flags_are_usage_errors(tmp_path: Path, stores_file: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [])
    for flags in (["--window", "2h"], ["--at", "2026-05-01T00:00:00"], ["--at", "tomorrow"]):
        done = subprocess.run(
            [*SHOPPULSE, "report", str(events), "--stores", str(stores_file), *flags],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 2, flags
        assert b"Invalid value" in done.stderr, flags


def test_bad_stores_file_is_a_clear_error(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [])
    stores = tmp_path / "stores.yaml"
    stores.write_text("stores: [{id: x, vertical: garden, currency: USD}]\n")
    done = subprocess.run(
        [*SHOPPULSE, "report", str(events), "--stores", str(stores)], capture_output=True, check=False
    )
    assert done.returncode == 1
    assert b"vertical" in done.stderr
    assert b"Traceback" not in done.stderr


def test_an_unreadable_events_or_rejects_file_is_a_one_line_error(tmp_path: Path, stores_file: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [])
    cases = {
        "nothere.jsonl": (
            [str(tmp_path / "nothere.jsonl")],
            f"shoppulse: events file {tmp_path / 'nothere.jsonl'}: No such file or directory;"
            " pass a JSON-lines file of events, or - for stdin",
        ),
        "rejects in a missing directory": (
            [str(events), "--rejects", str(tmp_path / "no" / "rejects.jsonl")],
            f"shoppulse: rejects file {tmp_path / 'no' / 'rejects.jsonl'}: No such file or directory;"
            " pass --rejects a path in a writable directory",
        ),
    }
    for case, (args, message) in cases.items():
        done = subprocess.run(
            [*SHOPPULSE, "report", *args, "--stores", str(stores_file)], capture_output=True, check=False
        )
        assert (done.returncode, done.stderr.decode(), done.stdout) == (1, message + "\n", b""), case


def test_a_report_leaves_no_cyclic_garbage() -> None:
    """The CLI pauses the cyclic collector during a report (runtime.collector_paused): that
    is only sound while a report, rejected lines included, makes no reference cycle."""
    samples = Path(__file__).resolve().parents[1] / "shoppulse" / "samples"
    lines = (samples / "events.jsonl").read_bytes().splitlines()
    broken = [b"{oops", b"[1]", b'{"type": "visit"}']
    broken += [orjson.dumps(event("visit", "nowhere", T0, visit_id="v"))]  # unknown store
    broken += [orjson.dumps(order(SMART_STORE, T0, currency="EUR"))]  # not the store's currency
    stream = lines + broken + lines[:50]  # duplicates too
    gc.collect()
    gc.disable()
    try:
        result = run_report(iter(stream), load_stores(samples / "stores.yaml"), rejects=io.BytesIO())
        del result
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_line_ends_and_blank_lines_do_not_change_a_report(stores_file: Path) -> None:
    """Lines reach the validator as read (no stripped copy): CRLF ends, trailing blanks and
    whitespace-only lines must give the report of the same events on plain lines."""
    events = [orjson.dumps(order(SMART_STORE, T0 + minutes(i))) for i in range(5)]
    stores = load_stores(stores_file)
    plain = run_report(iter([line + b"\n" for line in events]), stores)
    messy = [b"  \t\r\n", events[0] + b"\r\n", b"\n", events[1] + b"   \n", b" "]
    messy += [line + b"\r\n" for line in events[2:]]
    result = run_report(iter(messy), stores)
    assert (result.rejected, result.outcomes) == ({}, plain.outcomes)
    assert result.as_json()["kpis"] == plain.as_json()["kpis"]
