"""The one root of every error ShopPulse raises on purpose."""


class ShopPulseError(Exception):
    """Base class: catch this to handle any ShopPulse failure."""
