"""Errors raised by the monitoring generators and the Grafana push."""

from __future__ import annotations

from shoppulse.exceptions import ShopPulseError


class MonitoringError(ShopPulseError):
    """Base class for monitoring failures."""


class GrafanaPushError(MonitoringError):
    """Grafana refused or could not be reached while pushing dashboards."""
