"""The stores file: which stores exist, their vertical, currency and time zone.

A store is configured, not inferred: an event for a store missing here is rejected.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shoppulse.exceptions import validation_problems, yaml_problem
from shoppulse.schemas.currency import minor_unit_exponent
from shoppulse.schemas.events import STORE_ID_PATTERN
from shoppulse.schemas.exceptions import StoresFileError


class Vertical(StrEnum):
    SMART_HOME = "smart_home"
    PARTY_FAVORS = "party_favors"


class Store(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
    vertical: Vertical
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    timezone: str = "UTC"

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        minor_unit_exponent(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @property
    def minor_unit_exponent(self) -> int:
        return minor_unit_exponent(self.currency)


class Stores(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stores: Annotated[list[Store], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Stores:
        seen: set[str] = set()
        for store in self.stores:
            if store.id in seen:
                raise ValueError(f"store {store.id!r} is listed twice")
            seen.add(store.id)
        return self

    def by_id(self) -> dict[str, Store]:
        return {store.id: store for store in self.stores}


def load_stores(path: str | Path) -> Stores:
    """Read and validate a stores file; raise StoresFileError with a readable message."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoresFileError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise StoresFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise StoresFileError(f"{path}: {yaml_problem(exc)}") from exc
    try:
        return Stores.model_validate(raw)
    except ValidationError as exc:
        raise StoresFileError(f"{path}: {validation_problems(exc)}") from exc
