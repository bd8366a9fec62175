"""Bearer tokens: which store a request may write for.

The tokens file holds SHA-256 hashes, never raw tokens, and may list several tokens
per store (rotation: add the new one, roll the storefronts, remove the old one)::

    tokens:
      - store: hometech-haven
        token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

Make a hash with ``printf %s "$TOKEN" | sha256sum``. A presented token is hashed and
compared with every known hash using ``hmac.compare_digest``, without stopping at the
first match, so the time taken does not depend on which hash (if any) matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shoppulse.exceptions import validation_problems, yaml_problem
from shoppulse.ingest.exceptions import TokensFileError
from shoppulse.schemas.events import STORE_ID_PATTERN


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
    token_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: Annotated[list[TokenEntry], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_hashes(self) -> TokensFile:
        seen: set[str] = set()
        for entry in self.tokens:
            if entry.token_sha256 in seen:
                raise ValueError(f"a token hash is listed twice (store {entry.store!r})")
            seen.add(entry.token_sha256)
        return self


def hash_token(token: str) -> str:
    """The hex SHA-256 of a raw token, as written in the tokens file."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Tokens:
    """Maps a presented bearer token to the one store it may write for."""

    def __init__(self, entries: Collection[TokenEntry]) -> None:
        self._entries = [(bytes.fromhex(e.token_sha256), e.store) for e in entries]

    @classmethod
    def from_raw(cls, tokens_by_store: dict[str, list[str]]) -> Tokens:
        """Build from raw tokens (tests, examples): ``{"store-a": ["secret"]}``."""
        entries = [
            TokenEntry(store=store, token_sha256=hash_token(token))
            for store, tokens in tokens_by_store.items()
            for token in tokens
        ]
        return cls(entries)

    @property
    def stores(self) -> set[str]:
        return {store for _, store in self._entries}

    def store_for(self, token: str) -> str | None:
        """The store this token writes for, or None for an unknown token."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: str | None = None
        for known, store in self._entries:
            if hmac.compare_digest(digest, known):
                found = store
        return found


def load_tokens(path: str | Path, known_stores: Collection[str]) -> Tokens:
    """Read a tokens file; every store it names must be in the stores file."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokensFileError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise TokensFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise TokensFileError(f"{path}: {yaml_problem(exc)}") from exc
    try:
        parsed = TokensFile.model_validate(raw)
    except ValidationError as exc:
        raise TokensFileError(f"{path}: {validation_problems(exc)}") from exc
    unknown = sorted({e.store for e in parsed.tokens} - set(known_stores))
    if unknown:
        raise TokensFileError(f"{path}: tokens for stores not in the stores file: {', '.join(unknown)}")
    return Tokens(parsed.tokens)
