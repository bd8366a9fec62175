# `make demo` and `make test` are the two commands the README starts with: each sets
# up what it needs (system packages when root, a virtualenv unless one is active).

PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
BIN := $(VENV)/bin
# The benchmark's peer, Quix Streams, in a virtualenv of its own (see pyproject.toml).
QUIX_VENV := .venv-quix

.PHONY: setup demo report test lint generate bench bench-quick profile instructions clean

$(BIN)/shoppulse: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# What makes an interpreter itself: two virtualenvs of one interpreter print the same.
INTERPRETER := import sys; print(sys.base_prefix, sys.version)

# PYTHON picks the interpreter of a new virtualenv only: asked for with another one in
# place, stop rather than run on the old one as if it were the one asked for.
setup: $(BIN)/shoppulse
ifeq ($(origin PYTHON),command line)
	@test "$$($(PYTHON) -c '$(INTERPRETER)')" = "$$($(BIN)/python -c '$(INTERPRETER)')" || { \
		echo "PYTHON=$(PYTHON) is not the interpreter of $(VENV), and PYTHON does not change" \
		"an existing virtualenv: remove it (make clean, or deactivate it) and run again" >&2; exit 1; }
endif
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

# The peer's virtualenv is made from the worker's interpreter, which bench/quix_peer.py
# checks: a faster build of Python speeds either up by about a tenth.
$(QUIX_VENV)/.installed: pyproject.toml $(BIN)/shoppulse
	@test -x $(QUIX_VENV)/bin/python || $(BIN)/python -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install -q --upgrade pip
	$(QUIX_VENV)/bin/python -m pip install -q $$($(BIN)/python -c 'import tomllib; \
		print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"]))')
	@touch $@

# The suite (bench/run.py): at most 14.5 minutes; writes bench/results/latest.{json,md,png}
# and the generated section of docs/benchmarks.md. bench-quick: about 3 minutes, for
# development; writes bench/results/tmp/quick.* only.
bench: setup $(QUIX_VENV)/.installed
	$(BIN)/python bench/run.py --write-docs

bench-quick: setup $(QUIX_VENV)/.installed
	$(BIN)/python bench/run.py --quick

# Where a worker's time goes (py-spy samples under the throughput load), for
# docs/benchmarks.md: about 2 minutes; writes bench/results/tmp/profile-*.
profile: setup
	$(BIN)/python -m pip install -q -e '.[dev,profile]'
	$(BIN)/python bench/profile_worker.py

# Instructions per event of the stages' code, counted by valgrind (the same from run to
# run, where time on a shared host is not), to compare two commits: about a minute.
instructions: setup
	@command -v valgrind >/dev/null || { test "$$(id -u)" -eq 0 && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends valgrind >/dev/null; } || \
		{ echo "instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
	$(BIN)/python bench/instructions.py

clean:
	rm -rf $(VENV) $(QUIX_VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
