# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: run test test-fast test-scale lint typecheck dev bench bench-ui docs browser

# The CLI and the UI share one Dagster instance per warehouse (dagster_home/ for data/warehouse.duckdb, else
# <warehouse>_dagster_home/ beside it; DAGSTER_HOME overrides): what `make run` materialises shows in `make dev`.
run: $(VENV)/.installed
	$(BIN)/stigma-insights run

# Everything CI runs: lint, types, then the whole test suite (16 to 20 minutes on a fresh clone here, 2026-12-08).
test: lint browser $(VENV)/.installed
	$(BIN)/pytest

# The browser tests drive Debian's chromium through its chromedriver: installed where missing (CI: a clean machine).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The inner loop: every test but the slow ones (pipeline runs, dbt, training), and the property-based
# tests with fewer generated files (HYPOTHESIS_PROFILE=fast); about a minute.
test-fast: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fast $(BIN)/pytest -m "not slow"

# The scale-out end-to-end tests only: the sample on DuckLake with a PostgreSQL catalog and S3 data, their
# servers (pgserver, moto's S3) started by the tests on loopback. `make test` runs them too.
test-scale: $(VENV)/.installed
	$(BIN)/pytest -m scale

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

# mypy checks the installed layout: the flow's folders are sub-packages of stigma_insights only once installed.
typecheck: $(VENV)/.installed
	rm -rf build/typecheck
	$(PIP) --no-deps --no-build-isolation --target build/typecheck .
	$(BIN)/mypy build/typecheck/stigma_insights

# Benchmark on generated data (never part of the tests): make bench SIZE=100000 [STAGES=...]
SIZE ?= 10000
STAGES ?= ingest_ndjson,ingest_documents,dbt,labels,fact,checks,aggregates,upkeep
bench: $(VENV)/.installed
	$(BIN)/python bench/run_benchmark.py --size $(SIZE) --stages $(STAGES)

# A run as the UI launches it (dagster job execute) against make run's, on the sample: make bench-ui [REPEAT=3]
REPEAT ?= 1
bench-ui: $(VENV)/.installed
	$(BIN)/python bench/ui_vs_cli.py --repeat $(REPEAT)

# dagster_home/dagster.yaml limits the warehouse pool to one step at a time across runs.
# exec: make's SIGTERM reaches the command itself, which stops every Dagster process it started.
dev: $(VENV)/.installed
	exec $(BIN)/stigma-insights dev

# torch first and alone: pinned exactly, pip takes the machine's local CPU build (docs/stack.md).
# The rest from constraints.txt (the tested versions); then dbt parses the project for Dagster.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -c constraints.txt -e '.[dev]'
	$(BIN)/stigma-insights prepare
	touch $@

# A static dbt docs site (one self-contained HTML file) of the models, their columns and lineage;
# after `make run` (it reads the warehouse's catalog and the taxonomy table the labels asset writes).
docs: $(VENV)/.installed
	cd dbt_project && ../$(BIN)/dbt docs generate --static --quiet
	@echo "dbt docs: dbt_project/target/static_index.html"
