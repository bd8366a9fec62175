# `make demo` and `make test` are the two commands the README starts with: each sets
# up what it needs (system packages when root, a virtualenv unless one is active).

PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
BIN := $(VENV)/bin

.PHONY: setup demo report test lint generate bench clean

$(BIN)/shoppulse: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/shoppulse
	@scripts/setup-system.sh

demo: setup
	$(BIN)/shoppulse demo

test: setup
	$(BIN)/ruff check shoppulse tests bench
	$(BIN)/ruff format --check shoppulse tests bench
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check shoppulse tests bench
	$(BIN)/ruff format --check shoppulse tests bench

bench: setup
	$(BIN)/python bench/report_throughput.py
	$(BIN)/python bench/worker_throughput.py
	$(BIN)/python bench/collector_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
