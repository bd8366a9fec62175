"""Errors raised by the ingest package."""

from shoppulse.exceptions import ShopPulseError


class IngestError(ShopPulseError):
    """Base class of the ingest package's errors."""


class TokensFileError(IngestError):
    """The tokens file is missing, not YAML, or breaks the tokens format."""


class BrokerUnavailable(IngestError):
    """Kafka could not be reached, or did not acknowledge a write in time."""


class IdempotenceRefused(BrokerUnavailable):
    """Idempotence is 'on' and the broker refuses InitProducerId: a setting that does not
    fit the broker, which no retry mends (the collector still answers 503)."""


class RequestRefused(IngestError):
    """A whole request is refused: an HTTP status, a stable error code and prose."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class ProducerError(IngestError):
    """The Python producer gave up: a refused request, or retries exhausted."""
