"""Where a worker's settings come from: a flag given, else its SHOPPULSE_* variable, else
the settings model's default (docs/streaming.md, "Settings")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoppulse.cli import app, worker_settings

STORES = Path("stores.yaml")
NO_FLAGS: dict[str, object] = {"partitions": None, "state_store": None, "exactly_once": None}


def test_without_flags_or_variables_the_models_defaults_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPPULSE_PARTITIONS", "SHOPPULSE_STATE_STORE", "SHOPPULSE_EXACTLY_ONCE"):
        monkeypatch.delenv(name, raising=False)
    settings = worker_settings(STORES, NO_FLAGS)
    assert (settings.partitions, settings.state_store, settings.exactly_once) == (8, "rocksdb://", False)


def test_a_variable_holds_where_no_flag_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPPULSE_PARTITIONS", "4")
    monkeypatch.setenv("SHOPPULSE_STATE_STORE", "memory://")
    monkeypatch.setenv("SHOPPULSE_EXACTLY_ONCE", "true")
    settings = worker_settings(STORES, NO_FLAGS)
    assert (settings.partitions, settings.state_store, settings.exactly_once) == (4, "memory://", True)


def test_a_flag_given_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPPULSE_PARTITIONS", "4")
    monkeypatch.setenv("SHOPPULSE_EXACTLY_ONCE", "true")
    settings = worker_settings(STORES, {**NO_FLAGS, "partitions": 2, "exactly_once": False})
    assert (settings.partitions, settings.exactly_once) == (2, False)


def test_help_names_each_flags_variable_and_the_models_default() -> None:
    shown = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"}).output
    for variable in (
        "SHOPPULSE_BROKER",
        "SHOPPULSE_PARTITIONS",
        "SHOPPULSE_STATE_STORE",
        "SHOPPULSE_DATA_DIR",
    ):
        assert variable in shown
    assert "rocksdb://" in shown
    assert ".data/worker" in shown
