# Astara's two entry points: `make run` (single-host mode, in the foreground)
# and `make test` (lint, type checks and every test tier). Both install what
# they need first and are safe to run again.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       ?= .venv
STATE_DIR  ?= $(CURDIR)/state
INSTALLED  := $(VENV)/.astara-installed
PYTEST_ARGS ?=

.PHONY: run test deps lint typecheck unit integration e2e bench clean

## deps: Debian packages, the virtualenv and the project in editable mode
deps: $(INSTALLED)

$(INSTALLED): pyproject.toml scripts/install-system-deps.sh
	./scripts/install-system-deps.sh
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

## test: ruff, mypy, then unit, integration, e2e and neutron tests
test: deps
	./scripts/ensure-services.sh
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests

lint: deps
	$(VENV)/bin/ruff check src tests bench

typecheck: deps
	$(VENV)/bin/mypy

unit: deps
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/unit

integration: deps
	./scripts/ensure-services.sh
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/integration

e2e: deps
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/e2e

## run: Astara in single-host mode, in the foreground (Ctrl-C stops it)
run: deps
	$(VENV)/bin/astara-orchestrator --single-host --state-dir $(STATE_DIR)

## bench: every benchmark, each printing RESULT lines
bench: deps
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
