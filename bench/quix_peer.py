"""The peer: Quix Streams doing a tumbling-window sum and count on the worker's messages.

    python bench/quix_peer.py --broker HOST:PORT --messages N [--batched]   # needs .venv-quix

Quix Streams runs in its own virtualenv (``.venv-quix``, made by ``make bench`` from the
``bench`` extra in pyproject.toml): quixstreams 3.28 caps pydantic below 2.14 and
pydantic-settings below 2.16, and the worker must be measured with the project's own
versions, not with older ones forced on it by the peer.

Per event: a one-hour tumbling window by event time, per store (the message key),
counting events and summing order value (quantity x unit price); windows emit when they
close. Batched messages (a JSON array) are expanded into their events first. Timed from
the first message processed until the last one is, plus Quix's final checkpoint commit.

Quix Streams on Tansu needs (see docs/benchmarks.md):

* ``retention.ms`` and ``retention.bytes`` set explicitly on the input topic: Tansu's
  DescribeConfigs returns only explicit configs and Quix copies them onto its changelog
  topics (``KeyError: 'retention.ms'`` otherwise). The bench creates every topic that way.
* a short consumer session (``session.timeout.ms``): Tansu holds a JoinGroup for about
  half the session timeout, so librdkafka's 45 s default means a 22 s start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


SESSION_MS = 2000


def child(args: argparse.Namespace) -> None:
    """Runs in .venv-quix: prints one JSON line with the timings."""
    import logging

    from quixstreams import Application
    from quixstreams.dataframe.windows import Count, Sum
    from quixstreams.models import TopicConfig

    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    seen = 0
    first: float | None = None
    last: float | None = None

    def on_processed(topic: str, partition: int, offset: int) -> None:
        nonlocal seen, first, last
        if first is None:
            first = time.perf_counter()
        seen += 1
        if seen >= args.messages:
            last = time.perf_counter()
            app.stop()

    consumer_config = (
        {"session.timeout.ms": args.session_ms, "heartbeat.interval.ms": min(500, args.session_ms // 3)}
        if args.session_ms
        else {}
    )
    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
        on_message_processed=on_processed,
        consumer_extra_config=consumer_config,
        processing_guarantee=args.guarantee,
    )
    topic = app.topic(
        args.topic,
        value_deserializer="json",
        key_deserializer="str",
        # Only used if Quix creates the topic; the bench creates it (with retention) first.
        config=TopicConfig(
            num_partitions=args.partitions,
            replication_factor=1,
            extra_config={"retention.ms": "-1", "retention.bytes": "-1"},
        ),
    )
    sdf = app.dataframe(topic)
    if args.batched:
        sdf = sdf.apply(lambda events: events, expand=True)
    sdf = sdf.set_timestamp(lambda event, key, timestamp, headers: _millis(event["ts"]))
    sdf = sdf.apply(_order_value)
    sdf = sdf.tumbling_window(duration_ms=3_600_000).agg(events=Count(), value=Sum(column="value")).final()
    started = time.perf_counter()
    app.run()
    stopped = time.perf_counter()
    print(
        json.dumps(
            {
                "messages": seen,
                "start_s": (first or stopped) - started,
                "processing_s": stopped - (first or stopped),
                "last_message_s": (last or stopped) - (first or stopped),
            }
        ),
        flush=True,
    )


def _millis(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def _order_value(event: dict) -> dict:
    value = 0.0
    for item in event.get("items") or ():
        value += item["quantity"] * float(item["unit_price"])
    return {"value": value}


def check_same_interpreter(peer_python: Path) -> None:
    """Refuse a peer on another interpreter than the worker's: a faster build of the same
    Python speeds either up by about a tenth (docs/benchmarks.md, "The interpreter's
    build"), so the two would not be compared evenly."""
    interpreter = "import sys; print(sys.base_prefix, sys.version)"
    done = subprocess.run([str(peer_python), "-c", interpreter], capture_output=True, text=True, timeout=60)
    peer, ours = done.stdout.strip(), f"{sys.base_prefix} {sys.version}"
    if peer != ours:
        raise RuntimeError(
            f"the peer's Python ({peer_python}: {peer or done.stderr.strip()!r}) is not the worker's"
            f" ({ours!r}): remove .venv-quix and run `make bench`, which makes it from the worker's"
        )


def measure(
    bootstrap: str, messages: int, batched: bool, tmp: Path, group: str, topic: str = "storefront.events"
) -> dict[str, float]:
    """Run the peer on the messages already on ``topic``; seconds from its first message."""
    from common import PARTITIONS, QUIX_PYTHON

    if not QUIX_PYTHON.exists():
        raise RuntimeError(f"{QUIX_PYTHON} is missing: run `make bench` (it makes .venv-quix)")
    check_same_interpreter(QUIX_PYTHON)
    command = [
        str(QUIX_PYTHON), __file__, "--child", "--broker", bootstrap, "--topic", topic,
        "--messages", str(messages), "--group", group, "--state-dir", str(tmp / f"quix-{group}"),
        "--partitions", str(PARTITIONS), *(["--batched"] if batched else []),
    ]  # fmt: skip
    with (tmp / f"{group}.log").open("wb") as log:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, timeout=900)
    if done.returncode != 0 or not done.stdout.strip():
        text = (tmp / f"{group}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Quix Streams peer failed ({done.returncode}): {text}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", default="storefront.events")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--group", default=f"quix-bench-{int(time.time())}")
    parser.add_argument("--state-dir", default="bench/results/tmp/quix-state")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--batched", action="store_true")
    parser.add_argument("--session-ms", type=int, default=SESSION_MS)
    parser.add_argument("--guarantee", default="at-least-once")
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        print(json.dumps(measure(args.broker, args.messages, args.batched, Path(args.state_dir), args.group)))


if __name__ == "__main__":
    main()
