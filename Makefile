# hq-sync: `make demo` starts the sandboxes and Airflow with the demo tenants; `make test` runs all
# tests. Both create the virtual environment on first use (Python 3.11 is the only prerequisite).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install constraints stop-demo clean demo-distributed stop-demo-distributed bench

install: $(STAMP)

# Reinstall when the pins change. The constraints file is our own `pip freeze` of a green run
# (the official Airflow constraints URL is not reachable from here).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

# Regenerate constraints.txt from the current environment (after a green `make test`).
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^hq-sync' > constraints.txt

clean:
	rm -rf $(VENV) .airflow .airflow-distributed .data
