"""Errors raised by the schemas package."""

from shoppulse.exceptions import ShopPulseError


class StoresFileError(ShopPulseError):
    """The stores file is missing, not YAML, or breaks the stores format."""
