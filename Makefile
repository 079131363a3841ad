# hq-sync: `make demo` starts the sandboxes and Airflow with the demo tenants; `make test` runs all
# tests. Both create the virtual environment on first use (Python 3.11 is the only prerequisite).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install constraints stop-demo clean demo-distributed stop-demo-distributed

install: $(STAMP)

# Reinstall when the pins change. The constraints files are our own `pip freeze` of a green run
# (the official Airflow constraints URL is not reachable from here): constraints.txt holds the
# runtime set (what the production image installs), constraints-test.txt what the tests add.
# The venv gets both, the product (hq_sync) and the sandboxes (a separate distribution).
$(STAMP): requirements.txt requirements-test.txt constraints.txt constraints-test.txt pyproject.toml packaging/sandboxes/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt -r requirements-test.txt -c constraints-test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . -e packaging/sandboxes
	touch $(STAMP)

# Two pytest-xdist workers (the machines have 2 cores): the shared Airflow's tests form one group,
# tests marked `serial` run alone (tests/conftest.py). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Code health (issue 13): lint, formatting and strict typing, configured in pyproject.toml.
LINT_PATHS := src dags plugins
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

# The benchmark of issue #12 (not a test): requests, memory and time per pipeline at 1x and 10x the
# demo data, PASS/MISS per target (docs/benchmarks.md). BENCH_ARGS="--quick" or "--scale 1 --source awork".
bench: $(STAMP)
	$(BIN)/python tools/bench.py $(BENCH_ARGS)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/demo.py start

stop-demo:
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/demo.py stop

# The production shape natively: CeleryExecutor, Redis, PostgreSQL, two Celery workers (docs/deployment.md).
demo-distributed: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/hq_sync_cluster.py start

stop-demo-distributed:
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/hq_sync_cluster.py stop

# Regenerate constraints.txt (runtime) and constraints-test.txt from the current environment
# (after a green `make test`): the runtime set is what requirements.txt alone resolves to.
constraints: $(STAMP)
	$(BIN)/python tools/constraints.py

clean:
	rm -rf $(VENV) .airflow .airflow-distributed .data
