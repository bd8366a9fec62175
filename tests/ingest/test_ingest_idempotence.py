"""Idempotence auto, on, off against Tansu, which refuses InitProducerId (UnknownError).

auto (the default) falls back to a plain acks=all producer and says so once; off never
asks; on refuses to write (503) and says why in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from aiokafka.errors import UnknownError
from ingest_support import CollectorProcess, count_ids, events_on_topic, post_events, request, visit
from typer.testing import CliRunner

import shoppulse.ingest.server
from shoppulse.broker import EmbeddedBroker
from shoppulse.cli import app
from shoppulse.ingest.config import CollectorSettings
from shoppulse.ingest.exceptions import BrokerUnavailable
from shoppulse.ingest.kafka import EventWriter

REFUSED = "refused InitProducerId (UnknownError"
GAUGE = "shoppulse_collector_idempotent_producer"
UNIT_TOPIC = "idempotence-unit"  # not the events topic other tests read
SAMPLE_STORES = Path(__file__).parents[2] / "shoppulse" / "samples" / "stores.yaml"


def gauge_lines(collector: CollectorProcess) -> list[str]:
    metrics = request(collector.url, "GET", "/metrics").body.decode()
    return [line for line in metrics.splitlines() if line.startswith(GAUGE)]


@pytest.fixture
def start(
    broker: EmbeddedBroker, ingest_files: tuple[Path, Path], tmp_path: Path
) -> Iterator[Callable[..., CollectorProcess]]:
    """Start collector processes with the given options (no tokens) on the session's broker."""
    stores, _ = ingest_files
    with ExitStack() as running:

        def started(*options: str) -> CollectorProcess:
            collector = CollectorProcess.start(stores, broker.bootstrap, folder=tmp_path, options=options)
            return running.enter_context(collector)

        yield started


def test_the_default_collector_writes_to_tansu_once_and_says_why_not_idempotent(
    start: Callable[..., CollectorProcess], broker: EmbeddedBroker
) -> None:
    collector = start()  # no idempotence flag: auto
    batch = [visit(), visit()]
    ids = [event["event_id"] for event in batch]
    assert post_events(collector.url, batch, token=None).status == 200
    assert post_events(collector.url, batch, token=None).status == 200  # a retry: duplicates
    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)
    assert gauge_lines(collector)[-1] == f"{GAUGE} 0.0"
    log = collector.log_text()
    assert "(idempotence auto)" in log  # the start line
    assert log.count(REFUSED) == 1, log  # one warning, not one per request
    assert "not idempotent, acks=all (idempotence auto)" in log


def test_idempotence_off_writes_without_asking(
    start: Callable[..., CollectorProcess], broker: EmbeddedBroker
) -> None:
    collector = start("--idempotence", "off")
    event = visit()
    assert post_events(collector.url, [event], token=None).status == 200
    assert count_ids(events_on_topic(broker.bootstrap), [event["event_id"]]) == {event["event_id"]: 1}
    assert gauge_lines(collector)[-1] == f"{GAUGE} 0.0"
    assert "InitProducerId" not in collector.log_text()


def test_idempotence_on_answers_503_and_logs_why(
    start: Callable[..., CollectorProcess], broker: EmbeddedBroker
) -> None:
    collector = start("--idempotence", "on")
    event = visit()
    answer = post_events(collector.url, [event], token=None)
    assert answer.status == 503
    assert answer.json()["error"] == "broker_unavailable"
    assert request(collector.url, "GET", "/readyz").status == 503  # it cannot write
    assert gauge_lines(collector) == []  # no producer has started
    log = collector.log_text()
    assert "cannot start the Kafka producer" in log
    assert "UnknownError" in log
    assert "refused InitProducerId, and idempotence is 'on'" in log
    assert count_ids(events_on_topic(broker.bootstrap), [event["event_id"]]) == {event["event_id"]: 0}


def test_event_writer_asks_for_idempotence_first_then_falls_back(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # aiokafka 0.14 keeps the settings in private attributes: acks "all" is -1 in the
    # sender, and idempotence is a transaction manager (None when off).
    async def scenario() -> None:
        auto = EventWriter(broker.bootstrap, UNIT_TOPIC)
        asked = auto._new_producer(idempotent=True)
        assert asked._sender._acks == -1
        assert asked._txn_manager is not None
        await asked.stop()

        assert auto.idempotent is None
        assert await auto.write([(b"store-a", b"[]")]) == [None]
        assert REFUSED in caplog.text  # the idempotent producer was tried, and refused
        assert auto.idempotent is False
        assert auto._producer is not None
        assert auto._producer._sender._acks == -1
        assert auto._producer._txn_manager is None
        await auto.close()

        on = EventWriter(broker.bootstrap, UNIT_TOPIC, idempotence="on", timeout=5)
        with pytest.raises(BrokerUnavailable) as refused:
            await on.write([(b"store-a", b"[]")])
        assert isinstance(refused.value.__cause__, UnknownError)
        assert on.idempotent is None
        await on.close()

        caplog.clear()
        off = EventWriter(broker.bootstrap, UNIT_TOPIC, idempotence="off")
        assert await off.write([(b"store-a", b"[]")]) == [None]
        assert off._producer is not None
        assert off._producer._txn_manager is None
        assert "InitProducerId" not in caplog.text
        await off.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "env", "mode"),
    [
        ([], {}, "auto"),
        (["--idempotence", "on"], {}, "on"),
        (["--idempotence", "OFF"], {}, "off"),
        (["--no-idempotence"], {}, "off"),  # the former switch
        ([], {"SHOPPULSE_KAFKA_IDEMPOTENCE": "off"}, "off"),
        ([], {"SHOPPULSE_KAFKA_IDEMPOTENCE": "false"}, "off"),  # the former switch's values
        ([], {"SHOPPULSE_KAFKA_IDEMPOTENCE": "1"}, "on"),
        (["--no-idempotence"], {"SHOPPULSE_KAFKA_IDEMPOTENCE": "on"}, "off"),
    ],
)
def test_the_idempotence_setting_from_flags_and_environment(
    options: list[str], env: dict[str, str], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[CollectorSettings] = []
    monkeypatch.setattr(shoppulse.ingest.server, "serve", seen.append)  # settings only, nothing served
    monkeypatch.delenv("SHOPPULSE_KAFKA_IDEMPOTENCE", raising=False)
    result = CliRunner().invoke(app, ["collector", "--stores", str(SAMPLE_STORES), *options], env=env)
    assert result.exit_code == 0, result.output
    assert [settings.idempotence for settings in seen] == [mode]


def test_help_offers_one_spelling_and_the_former_switch_stays_hidden() -> None:
    """--no-idempotence still works (above) but is left out of --help on purpose (cli.py)."""
    result = CliRunner().invoke(app, ["collector", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "--idempotence" in result.output
    assert "auto|on|off" in result.output
    assert "--no-idempotence" not in result.output


def test_an_unknown_idempotence_setting_is_refused() -> None:
    result = CliRunner().invoke(app, ["collector", "--stores", str(SAMPLE_STORES), "--idempotence", "maybe"])
    assert result.exit_code == 2
    assert "auto, on or off" in result.output
    with pytest.raises(ValueError, match="idempotence"):
        EventWriter("127.0.0.1:9", idempotence="yes")  # type: ignore[arg-type]
