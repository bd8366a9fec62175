"""The `shoppulse` command. Thin: each sub-command parses flags and calls one function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="shoppulse",
    help="Live e-commerce KPIs: storefront events in, benchmarked KPIs out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

schema_app = typer.Typer(help="The event contract as JSON Schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("export")
def schema_export(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the JSON Schemas into.")],
) -> None:
    """Write one JSON Schema per event type, and one for the union of all types."""
    from shoppulse.schemas.jsonschema import write_schemas

    for path in write_schemas(out_dir):
        typer.echo(path)


if __name__ == "__main__":  # pragma: no cover
    app()
