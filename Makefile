# `make run` for the embedded default, `make test` for the suite on PostgreSQL.
PROJECT := tokenbilling
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
PORT ?= 8000
HOST ?= 127.0.0.1
TEST_DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/$(PROJECT))
PYTEST_ARGS ?=

.PHONY: run test test-sqlite fuzz serve bench bench-events bench-versus lint format clean

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/base.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

## run: the service with demo data and test payments on http://$(HOST):$(PORT) (SQLite unless DATABASE_URL is set)
## SITE_URL (Stripe's return addresses, CSRF's trusted origin) follows HOST and PORT unless set.
run: export SITE_URL := $(or $(SITE_URL),http://$(HOST):$(PORT))
run: $(VENV)/.base-installed
	DEBUG=$${DEBUG:-1} $(PYTHON) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PYTHON) manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(PYTHON) manage.py seed_demo_history
	export DEBUG=$${DEBUG:-1} PAYMENTS_TEST_MODE=$${PAYMENTS_TEST_MODE:-1} \
		WEBHOOK_ALLOW_PRIVATE_URLS=$${WEBHOOK_ALLOW_PRIVATE_URLS:-1}; \
	$(PYTHON) manage.py worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PYTHON) manage.py runserver $(HOST):$(PORT)

## test: ruff, then the whole suite on PostgreSQL
test: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/ensure_postgres.py
	scripts/ensure_debian_packages.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -n 2 $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-sqlite

## test-sqlite: the ledger, checkout and capture tests again, on a temporary SQLite file
test-sqlite: $(VENV)/.dev-installed
	@sqlite_dir=$$(mktemp -d) && trap 'rm -rf "$$sqlite_dir"' EXIT && \
	DATABASE_URL=sqlite:///$$sqlite_dir/db.sqlite3 $(BIN)/pytest -n 2 -m sqlite $(PYTEST_ARGS)

## fuzz: Schemathesis against the live server's OpenAPI schema, every check and phase, on
## PostgreSQL (its own database); FUZZ_SECONDS (default 300) bounds the run
fuzz: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/ensure_postgres.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/fuzz.py

## serve: production server (gunicorn); needs SECRET_KEY and DATABASE_URL
serve: $(VENV)/.base-installed
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py collectstatic --noinput --verbosity 0
	$(PYTHON) -m config.serve config.wsgi --config config/gunicorn.py --bind $(HOST):$(PORT)

## bench: load benchmarks against `make serve` on PostgreSQL (README: Benchmarks)
bench: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/ensure_postgres.py
	$(PYTHON) bench/run.py $(BENCH_ARGS)

## bench-events: 10,000 events to 3 endpoints on loopback through one worker (rate, memory)
bench-events: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/ensure_postgres.py
	$(PYTHON) bench/events_load.py $(BENCH_EVENTS)

## bench-versus: consume of this checkout beside an earlier commit's (BENCH_VERSUS, default
## 28314b3: before credit lots), each on its own database, A-B-B-A
bench-versus: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTHON) scripts/ensure_postgres.py
	$(PYTHON) bench/versus.py $(or $(BENCH_VERSUS),28314b3)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-* .pytest_cache test-artifacts
