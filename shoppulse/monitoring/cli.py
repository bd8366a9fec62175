"""The `shoppulse generate` and `shoppulse dashboards push` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dashboards_app = typer.Typer(help="Grafana dashboards.", no_args_is_help=True)


def generate_command(
    out: Annotated[
        Path, typer.Option("--out", help="Repository root to write dashboards/, deploy/ and docs/ under.")
    ] = Path("."),
    runbook_base_url: Annotated[
        str | None,
        typer.Option(
            "--runbook-base-url",
            envvar="SHOPPULSE_RUNBOOK_BASE_URL",
            help="URL the repository's files are served from (e.g. https://github.com/ORG/REPO/blob/REF):"
            " runbook_url annotations become URL/docs/runbooks.md#anchor. Without it they stay"
            " repository-relative, as committed.",
        ),
    ] = None,
) -> None:
    """Write dashboards, Prometheus rules and tests, Alertmanager and Grafana files, and runbooks."""
    from shoppulse.monitoring.exceptions import MonitoringError
    from shoppulse.monitoring.generate import generate

    try:
        written = generate(out, runbook_base_url=runbook_base_url or None)
    except MonitoringError as exc:
        raise typer.BadParameter(str(exc), param_hint="--runbook-base-url") from exc
    for path in written:
        typer.echo(path)


@dashboards_app.command("push")
def push_command(
    grafana_url: Annotated[str, typer.Option("--grafana-url", help="Grafana's base URL.")],
    token: Annotated[str, typer.Option("--token", help="Service-account token.", envvar="GRAFANA_TOKEN")],
) -> None:
    """Create or overwrite the ShopPulse dashboards in an existing Grafana."""
    from shoppulse.monitoring.exceptions import GrafanaPushError
    from shoppulse.monitoring.push import push_dashboards

    try:
        urls = push_dashboards(grafana_url, token)
    except GrafanaPushError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for url in urls:
        typer.echo(url)


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to the `shoppulse` command."""
    app.command("generate")(generate_command)
    app.add_typer(dashboards_app, name="dashboards")
