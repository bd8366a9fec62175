"""The `shoppulse` command. Thin: each sub-command parses flags and calls one function."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shoppulse.exceptions import ShopPulseError
from shoppulse.ingest.cli import collector
from shoppulse.kpis.windows import Window
from shoppulse.monitoring.cli import register as register_monitoring
from shoppulse.streams.table_stores import StateStore

if TYPE_CHECKING:
    from shoppulse.config import WorkerSettings

app = typer.Typer(
    name="shoppulse",
    help="Live e-commerce KPIs: storefront events in, benchmarked KPIs out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Set by ``main``: this process runs one command and ends with it (not so when a test
# invokes ``app`` in-process).
_STANDALONE = False

app.command("collector")(collector)
register_monitoring(app)

schema_app = typer.Typer(help="The event contract as JSON Schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


def _window(label: str) -> Window:
    """``--window`` of the commands that show one window (report, demo). Typer passes the
    options' defaults, labels too, through it as well (hence their ``type: ignore``)."""
    try:
        return Window.parse(label)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@schema_app.command("export")
def schema_export(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the JSON Schemas into.")],
) -> None:
    """Write one JSON Schema per event type, and one for the union of all types."""
    from shoppulse.schemas.jsonschema import write_schemas

    for path in write_schemas(out_dir):
        typer.echo(path)


@app.command()
def report(
    events: Annotated[Path, typer.Argument(help="JSON-lines file of events ('-' for stdin).")],
    stores: Annotated[Path, typer.Option("--stores", help="The stores file (YAML).")],
    at: Annotated[
        str | None,
        typer.Option(help="Window end, RFC 3339. Default: end of the UTC hour of the latest event."),
    ] = None,
    window: Annotated[
        Window, typer.Option(parser=_window, metavar="WINDOW", help="1h, 24h, 7d or 30d.")
    ] = "30d",  # type: ignore[assignment]
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected lines here, with reason and path (JSON lines).")
    ] = None,
) -> None:
    """Every KPI of every store over one window, with its benchmark tier."""
    import contextlib
    import os
    import sys

    import orjson

    from shoppulse.report import open_events, open_rejects, read_lines, run_report
    from shoppulse.runtime import collector_paused, tune_gc
    from shoppulse.schemas.stores import load_stores

    tune_gc()
    try:
        moment = _parse_time(at) if at else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    configured = load_stores(stores)
    with contextlib.ExitStack() as files:
        source, size = open_events(events)
        files.callback(source.close)
        reject_file = files.enter_context(open_rejects(rejects)) if rejects else None
        lines = read_lines(source, size, progress=sys.stderr.isatty())
        with collector_paused():
            result = run_report(lines, configured, window=window, at=moment, rejects=reject_file)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        from rich.console import Console

        from shoppulse.render import kpi_table  # rich's tables: not imported for --json

        Console().print(
            kpi_table(
                result.kpis,
                configured,
                title=f"KPIs over {window.label} ending {result.at:%Y-%m-%d %H:%M} UTC",
            )
        )
        if result.rejected:
            typer.echo("rejected: " + ", ".join(f"{r} {n}" for r, n in sorted(result.rejected.items())))
    if _STANDALONE:
        # The report is written and its files are closed. Exit without freeing the
        # engine's state object by object: a third of a second per million events.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _worker_default(field: str) -> str:
    """A worker setting's default, for --help (``worker_defaults``, as the settings model)."""
    from shoppulse import worker_defaults

    return str(getattr(worker_defaults, field.upper()))


def _worker_option(field: str, help_text: str, *flags: str) -> typer.models.OptionInfo:
    """A flag for a worker setting. It defaults to None, so a flag not given leaves the
    setting to its ``SHOPPULSE_*`` variable, then to the model's default."""
    return typer.Option(
        *flags, envvar=f"SHOPPULSE_{field.upper()}", help=help_text, show_default=_worker_default(field)
    )


def worker_settings(stores: Path, flags: dict[str, object]) -> WorkerSettings:
    """The worker's settings: the flags given (not None), else SHOPPULSE_* variables,
    else the model's defaults."""
    from shoppulse.config import WorkerSettings

    given = {name: value for name, value in flags.items() if value is not None}
    return WorkerSettings(stores=stores, **given)  # type: ignore[arg-type]


@app.command()
def worker(
    stores: Annotated[Path, typer.Option("--stores", help="The stores file (YAML).")],
    broker: Annotated[str | None, _worker_option("broker", "Kafka bootstrap host:port.", "--broker")] = None,
    metrics_port: Annotated[
        int | None, _worker_option("metrics_port", "Port of /metrics.", "--metrics-port")
    ] = None,
    partitions: Annotated[
        int | None,
        _worker_option("partitions", "Partitions of the topics the worker creates.", "--partitions"),
    ] = None,
    state: Annotated[
        StateStore | None, _worker_option("state_store", "Table store: rocksdb:// or memory://.", "--state")
    ] = None,
    data_dir: Annotated[
        Path | None, _worker_option("data_dir", "Where rocksdb keeps local table state.", "--data-dir")
    ] = None,
    exactly_once: Annotated[
        bool | None,
        _worker_option(
            "exactly_once",
            "Kafka transactions (real Kafka only; Tansu cannot).",
            "--exactly-once/--no-exactly-once",
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning",
) -> None:
    """Run a stream worker: storefront.events in, KPIs on /metrics.

    Flags not given come from SHOPPULSE_* variables (docs/streaming.md)."""
    from shoppulse.schemas.stores import load_stores
    from shoppulse.streams.worker import run_worker

    load_stores(stores)  # a bad stores file is a clear error before Faust starts
    flags = {
        "broker": broker,
        "metrics_port": metrics_port,
        "partitions": partitions,
        "state_store": state,
        "data_dir": data_dir,
        "exactly_once": exactly_once,
    }
    settings = worker_settings(stores, flags)
    run_worker(settings, loglevel=loglevel)


PROFILES = ("typical", "exceptional", "failing")
SAMPLE_STORES = Path(__file__).parent / "samples" / "stores.yaml"


@app.command()
def simulate(
    stores: Annotated[Path, typer.Option("--stores", help="The stores file (YAML).")],
    rate: Annotated[float, typer.Option(help="Events per second, all stores together.")],
    duration: Annotated[float, typer.Option(help="Seconds of live traffic.")],
    broker: Annotated[
        str, typer.Option("--broker", envvar="SHOPPULSE_BROKER", help="Kafka bootstrap host:port.")
    ] = "127.0.0.1:9092",
    profile: Annotated[str, typer.Option(help="typical, exceptional or failing.")] = "typical",
    history: Annotated[float, typer.Option(help="Hours of past traffic to send first, at once.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same events).")] = 1,
    retried: Annotated[
        float, typer.Option(min=0, max=1, help="Share of events sent twice (a retry, the same event id).")
    ] = 0.005,
    delayed: Annotated[
        float, typer.Option(min=0, max=1, help="Share of events sent up to 20 minutes after their time.")
    ] = 0.01,
) -> None:
    """Send realistic storefront traffic whose KPIs land in the chosen benchmark tier.

    Some events are sent twice and some late, as storefronts do; the KPIs are those of the
    events, each counted once."""
    import asyncio
    from datetime import timedelta

    from shoppulse.schemas.stores import load_stores
    from shoppulse.simulation.live import simulate as send
    from shoppulse.simulation.network import Network

    if profile not in PROFILES:
        raise typer.BadParameter(f"use one of {', '.join(PROFILES)}", param_hint="--profile")
    count = asyncio.run(
        send(
            load_stores(stores),
            broker,
            rate=rate,
            duration=duration,
            profile=profile,
            history=timedelta(hours=history),
            seed=seed,
            network=Network(retried=retried, delayed=delayed),
        )
    )
    typer.echo(f"sent {count:,} events to {broker}")


@app.command()
def demo(
    stores: Annotated[Path, typer.Option("--stores", help="The stores file.")] = SAMPLE_STORES,
    rate: Annotated[float, typer.Option(help="Simulated events per second.")] = 20.0,
    profile: Annotated[str, typer.Option(help="typical, exceptional or failing.")] = "typical",
    window: Annotated[
        Window,
        typer.Option(parser=_window, metavar="WINDOW", help="Window shown in the table: 1h, 24h, 7d or 30d."),
    ] = "24h",  # type: ignore[assignment]
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Broker, worker, simulator (and Prometheus when installed), with a live KPI table."""
    from shoppulse.demo import run_demo
    from shoppulse.schemas.stores import load_stores

    if profile not in PROFILES:
        raise typer.BadParameter(f"use one of {', '.join(PROFILES)}", param_hint="--profile")
    run_demo(stores, load_stores(stores), rate=rate, profile=profile, duration=duration, window=window.label)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback).")] = 9092,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu; memory only) until Ctrl-C."""
    import signal

    from shoppulse.broker import EmbeddedBroker

    def on_sigterm(*_: object) -> None:
        # Only raise: stopping from inside the handler would wait on the broker while the
        # interrupted wait() below still holds the subprocess's lock.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)  # before the broker exists: no window to orphan it
    embedded = EmbeddedBroker(port=port)
    try:
        embedded.start()
        typer.echo(f"Kafka-compatible broker on {embedded.bootstrap} (data in memory; Ctrl-C stops it)")
        embedded.wait()
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


def _parse_time(text: str) -> datetime:
    from pydantic import AwareDatetime, TypeAdapter

    try:
        return TypeAdapter(AwareDatetime).validate_python(text)
    except ValueError:
        raise ValueError(f"--at must be an RFC 3339 time with an offset, got {text!r}") from None


def main() -> None:
    """Entry point: a ShopPulse error is a one-line message and exit status 1, not a traceback."""
    global _STANDALONE
    _STANDALONE = True
    try:
        app()
    except ShopPulseError as exc:
        typer.echo(f"shoppulse: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
