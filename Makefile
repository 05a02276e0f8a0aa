# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test dev bench

run: $(VENV)/.installed
	$(BIN)/stigma-insights run

test: $(VENV)/.installed
	$(BIN)/pytest

# Benchmark on generated data (never part of the tests): make bench SIZE=100000 [STAGES=...]
SIZE ?= 10000
STAGES ?= ingest_ndjson,ingest_documents,dbt,labels,fact,checks,aggregates
bench: $(VENV)/.installed
	$(BIN)/python bench/run_benchmark.py --size $(SIZE) --stages $(STAGES)

# dagster_home/dagster.yaml limits the warehouse pool to one step at a time across runs.
dev: $(VENV)/.installed
	DAGSTER_HOME=$(CURDIR)/dagster_home PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -w workspace.yaml

# torch first and alone: pinned exactly, pip takes the machine's local CPU build (see STACK.md).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@
