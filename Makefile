# The front door: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EVENTS ?= 50000
# tiny (smoke, ~3 min), small (fits a shared laptop, ~25 min), full (the issue's run, hours)
BENCH_SIZE ?= small

.PHONY: install demo bench test test-unit test-integration check format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip uv >/dev/null 2>&1 || true
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install --python $(BIN)/python -e ".[dev]"; \
	else \
		$(BIN)/python -m pip install -e ".[dev]"; \
	fi
	@touch $@

demo: install
	$(BIN)/lakehouse demo --events $(EVENTS)

bench: install
	$(BIN)/python -m bench --size $(BENCH_SIZE)

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

test-integration: install
	$(BIN)/python -m pytest -m integration

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf lakehouse_data checkpoints outputs/*.json outputs/*.md spark-warehouse
