"""``shoppulse collector``: run the HTTP collector in front of Kafka."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def _idempotence(value: str) -> str:
    from shoppulse.ingest.config import parse_idempotence

    try:
        return parse_idempotence(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def collector(
    stores: Annotated[
        Path, typer.Option("--stores", help="The stores file (YAML).", exists=True, dir_okay=False)
    ],
    broker: Annotated[
        str,
        typer.Option("--broker", envvar="SHOPPULSE_BROKER", help="Kafka bootstrap, host:port[,host:port]."),
    ] = "127.0.0.1:9092",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0 for all).")
    ] = "127.0.0.1",
    tokens: Annotated[
        Path | None,
        typer.Option(
            "--tokens", help="Tokens file (YAML); without it, no authentication.", exists=True, dir_okay=False
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Browser origin allowed to post (repeat; '*' for any)."),
    ] = None,
    idempotence: Annotated[
        str,
        typer.Option(
            "--idempotence",
            envvar="SHOPPULSE_KAFKA_IDEMPOTENCE",
            metavar="auto|on|off",
            parser=_idempotence,
            help="Idempotent Kafka producer. auto: idempotent unless the broker refuses it"
            " (Tansu, the embedded broker, does); on: required; off: never.",
        ),
    ] = "auto",
    # Hidden on purpose: the spelling of the former on/off switch, kept so that scripts
    # written for it still run. --help offers one way to choose, --idempotence
    # auto|on|off, which also has "auto"; docs/ingest.md lists both spellings.
    no_idempotence: Annotated[
        bool,
        typer.Option("--no-idempotence", hidden=True, help="The same as --idempotence off."),
    ] = False,
) -> None:
    """Run the HTTP collector: POST /v1/events → validated → Kafka topic storefront.events."""
    from shoppulse.exceptions import ShopPulseError
    from shoppulse.ingest.config import CollectorSettings
    from shoppulse.ingest.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = CollectorSettings(
        stores_file=stores,
        broker=broker,
        tokens_file=tokens,
        host=host,
        port=port,
        cors_origins=tuple(cors_origin or ()),
        idempotence="off" if no_idempotence else idempotence,
    )
    try:
        serve(settings)
    except ShopPulseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
