# The front door: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# where `make install` puts the JVM jars; the Python side reads the same variable
export JVM_JARS_DIR ?= $(abspath .jvm)
EVENTS ?= 50000
# days of the shop's past the demo streams first, so the daily panels have history
HISTORY_DAYS ?= 7
# the dashboard reads the warehouse the demo built (the fakesnow emulator's files by default)
WAREHOUSE_EMULATOR_PATH ?= warehouse_data
DASHBOARD_PORT ?= 8501
# the dashboard test drives Debian's chromium (Playwright's own browser download is blocked here)
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then echo sudo; fi)

# tiny (smoke, ~3 min), small (fits a shared laptop, ~25 min), full (the issue's run, hours)
BENCH_SIZE ?= small
# Airflow standalone with the project's DAG folder; AIRFLOW_HOME is .airflow/ (git-ignored)
AIRFLOW_PORT ?= 8080

.PHONY: install demo pipeline airflow dashboard screenshot browser bench docs test test-unit test-integration check format clean

install: $(VENV)/.installed $(JVM_JARS_DIR)/.fetched

# The JVM jars (Spark's Kafka connector, delta-spark, hadoop-aws, Apache Kafka), pinned in
# jvm/pom.xml and fetched once from Maven Central into .jvm/ (git-ignored); offline after
$(JVM_JARS_DIR)/.fetched: jvm/pom.xml jvm/spark/pom.xml jvm/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "error: Maven (mvn) is needed once to fetch the JVM jars into $(JVM_JARS_DIR): install Maven 3.8+ (e.g. apt-get install maven), then run make again"; exit 1; }
	@command -v java >/dev/null || { echo "error: Java 17+ is needed (Spark and the local Kafka broker run on it): install a JDK 17, then run make again"; exit 1; }
	@echo "Fetching the JVM jars into $(JVM_JARS_DIR) (once; about 700 MB, mostly the AWS SDK for s3a://)..."
	@rm -rf $(JVM_JARS_DIR)/spark $(JVM_JARS_DIR)/s3a $(JVM_JARS_DIR)/kafka
	@mkdir -p $(JVM_JARS_DIR)
	@mvn -B -Dstyle.color=never -f jvm/pom.xml package -Djvm.dir=$(JVM_JARS_DIR) \
		> $(JVM_JARS_DIR)/maven.log 2>&1 || { grep -E "ERROR|BUILD" $(JVM_JARS_DIR)/maven.log | head -20; \
		echo "error: Maven could not fetch the JVM jars (full log: $(JVM_JARS_DIR)/maven.log)"; exit 1; }
	@touch $@

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
	$(BIN)/lakehouse demo --events $(EVENTS) --history-days $(HISTORY_DAYS)

dashboard: install
	@echo "Dashboard: http://localhost:$(DASHBOARD_PORT)  (warehouse: $(WAREHOUSE_EMULATOR_PATH) unless SNOWFLAKE_* say otherwise; Ctrl-C stops it)"
	@WAREHOUSE_EMULATOR_PATH=$(WAREHOUSE_EMULATOR_PATH) $(BIN)/streamlit run dashboard/app.py \
		--server.port $(DASHBOARD_PORT) --server.headless true --browser.gatherUsageStats false

# the README's picture, from the warehouse `make demo` built (headless Chromium)
screenshot: install browser
	$(BIN)/python -m dashboard.screenshot --warehouse $(WAREHOUSE_EMULATOR_PATH)

# installs chromium only when it is missing (CI: root, no stdin)
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Debian's chromium for the dashboard test (apt-get)..."; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; \
	fi

bench: install
	$(BIN)/python -m bench --size $(BENCH_SIZE)

airflow: install
	$(BIN)/python -m mock.airflow_local --port $(AIRFLOW_PORT)

# the warehouse half on the current lake: freshness -> load -> dbt build -> daily CSV
pipeline: install
	$(BIN)/lakehouse pipeline

# the documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, a page
# missing from the nav or a reference behind the code (docs/hooks/generated.py) fails
docs: $(VENV)/.installed
	$(BIN)/mkdocs build --strict

test: install browser
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

test-integration: install browser
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
