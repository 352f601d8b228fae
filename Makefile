# The two commands the README promises: `make dev` runs the service, `make test` tests it.
# Each creates .venv on first use and installs again only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra arguments: `make test ARGS="-x -k signing"`, `make dev ARGS="--port 8001"`,
# `make bench ARGS=--quick`.
ARGS ?=

.PHONY: dev test lint format clean bench

dev: $(VENV)/.dev-installed
	$(BIN)/webhooks dev $(ARGS)

test: $(VENV)/.test-installed
	$(BIN)/pytest $(ARGS)

# Every benchmark, into bench/RESULTS.md: about 15 minutes; `make bench ARGS=--quick` about 3.
bench: $(VENV)/.test-installed
	$(BIN)/python -m bench $(ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .webhooks-dev .pytest_cache .mypy_cache .ruff_cache *.egg-info

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "webhooks needs Python >= 3.11; '$(PYTHON)' is not. Try: make PYTHON=python3.12 ..." >&2; \
	  exit 1; }
	@# Debian's python3 needs python3-venv for this; a half-made .venv must not stay behind.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "could not create $(VENV): on Debian/Ubuntu, apt-get install python3-venv" >&2; exit 1; }

# The stamps are the "installed" marks: newer than pyproject.toml means nothing to do.
# pip is brought up to date first: older ones give up on pins a current resolver settles.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

# The test install is a superset of the dev one, so it marks both.
$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet --editable '.[dev,test,otel]'
	touch $@ $(VENV)/.dev-installed
