# The front door: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EVENTS ?= 50000

.PHONY: install demo airflow pipeline test test-unit test-integration check format clean

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

# Airflow standalone with the project's DAG folder; AIRFLOW_HOME is .airflow/ (git-ignored)
AIRFLOW_PORT ?= 8080
airflow: install
	$(BIN)/python -m mock.airflow_local --port $(AIRFLOW_PORT)

# the warehouse half on the current lake: freshness -> load -> dbt build -> daily CSV
pipeline: install
	$(BIN)/lakehouse pipeline

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
