# The two commands a newcomer needs are `make run` and `make test` (see README.md).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: setup run test lint bench clean

setup:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh

run: setup
	$(VENV)/bin/datasteward run

test: setup
	@VENV=$(VENV) bash scripts/test.sh

lint: setup
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/ruff format --check service workers tests
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/datasteward bench --quick

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
