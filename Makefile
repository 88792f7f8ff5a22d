# The verbs a person types. Needs only Python 3.11 and make: the first target that needs the
# environment bootstraps uv into .tools/ and installs the locked dependencies into .venv/.
PYTHON ?= python3.11
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
TIER ?= S

export DAGSTER_HOME := $(CURDIR)/.dagster
export UV_PYTHON_DOWNLOADS := never
export PYTHONUNBUFFERED := 1
# A run over a date range records one "planned" event per asset instead of one per asset and day
# (3,650 SQLite writes, about 3 minutes, before a two-year backfill's first step). Dagster's
# trade-off: if such a run fails, its days show as missing rather than failed in the UI.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := 1

.PHONY: install run test test-slow ui bench lint format docs clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

## run: install, generate the sample data if missing, materialize every asset, print the segments
run: install
	$(BIN)/python -m pipelines.run

## test: install and run the test suite (scale tests marked `slow` are left out)
test: install
	$(BIN)/pytest

test-slow: install
	$(BIN)/pytest -m slow

## ui: the Dagster UI on http://127.0.0.1:3000, with the runs `make run` made
ui: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## bench: time the pipeline against the floor (make bench TIER=S|M|L [BENCH_ARGS=--days-only])
bench: install
	$(BIN)/python -m bench --tier $(TIER) $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## docs: dbt docs (data/docs/dbt/index.html) and Great Expectations Data Docs (data/docs/)
docs: install
	cd dbt_project && WAREHOUSE_PATH=$(CURDIR)/data/warehouse.duckdb ../$(BIN)/dbt docs generate --target-path $(CURDIR)/data/docs/dbt

clean:
	rm -rf data/incoming data/sample_truth data/warehouse.duckdb data/exports data/reports data/docs data/alerts data/models
