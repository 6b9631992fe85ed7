# Everything a newcomer needs: `make demo`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest browser bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps re-run pip only when pyproject.toml changes.
$(VENV)/.install-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.install-dev-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.install-stamp

install: $(VENV)/.install-stamp
install-dev: $(VENV)/.install-dev-stamp

demo: install
	$(BIN)/leadsync demo

lint: install-dev
	$(BIN)/ruff check connector adapters tests bench
	$(BIN)/ruff format --check connector adapters tests bench
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

# The HTML report's tests open it in Debian's headless Chromium (tests/report/browser.py).
# `make demo` needs no browser: it only writes the report.
CHROMIUM := /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then \
		echo "browser: $(CHROMIUM) is installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q --no-install-recommends chromium && test -x $(CHROMIUM); \
	else \
		echo "browser: $(CHROMIUM) is missing; as root run:" >&2; \
		echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2; \
		exit 1; \
	fi

pytest: install-dev browser
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/score.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache demo-output
