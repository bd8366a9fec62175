"""The collector's settings: one frozen model, filled from the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shoppulse.ingest.kafka import EVENTS_TOPIC, IDEMPOTENCE_MODES, Idempotence
from shoppulse.ingest.limits import Limits


class CollectorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stores_file: Path
    broker: str = "127.0.0.1:9092"
    tokens_file: Path | None = None  # None: no authentication (development only)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: tuple[str, ...] = ()
    topic: str = EVENTS_TOPIC
    # auto: idempotent unless the broker refuses InitProducerId (Tansu does); on; off.
    idempotence: Idempotence = "auto"
    kafka_timeout_seconds: float = Field(10.0, gt=0)
    limits: Limits = Limits()
    dedupe_ttl_seconds: float = Field(3600.0, gt=0)
    dedupe_max_ids: int = Field(500_000, ge=1)

    @field_validator("idempotence", mode="before")
    @classmethod
    def _idempotence(cls, value: object) -> object:
        return parse_idempotence(value) if isinstance(value, str | bool) else value

    @field_validator("broker")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        """Accept ``host:port`` lists, with or without a ``kafka://`` or ``tcp://`` scheme."""
        return ",".join(
            part.strip().split("://", 1)[-1].rstrip("/") for part in value.split(",") if part.strip()
        )


# Every accepted spelling: the three modes, and those of the former on/off switch (a
# boolean flag and environment variable).
_SPELLINGS: dict[str, Idempotence] = {
    **{mode: mode for mode in IDEMPOTENCE_MODES},
    **dict.fromkeys(("true", "t", "1", "yes", "y"), "on"),
    **dict.fromkeys(("false", "f", "0", "no", "n"), "off"),
}


def parse_idempotence(value: str | bool) -> Idempotence:
    """``auto``, ``on`` or ``off``; a boolean (or ``true``, ``0``...) means ``on`` or ``off``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    try:
        return _SPELLINGS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"idempotence is auto, on or off, not {value!r}") from None
