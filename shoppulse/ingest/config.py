"""The collector's settings: one frozen model, filled from the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shoppulse.ingest.kafka import EVENTS_TOPIC
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
    enable_idempotence: bool = True  # off for Tansu, which has no InitProducerId
    kafka_timeout_seconds: float = Field(10.0, gt=0)
    limits: Limits = Limits()
    dedupe_ttl_seconds: float = Field(3600.0, gt=0)
    dedupe_max_ids: int = Field(500_000, ge=1)

    @field_validator("broker")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        """Accept ``host:port`` lists, with or without a ``kafka://`` or ``tcp://`` scheme."""
        return ",".join(
            part.strip().split("://", 1)[-1].rstrip("/") for part in value.split(",") if part.strip()
        )
