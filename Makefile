# fraudcases: `make demo` runs everything locally; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
export WEB_PORT
# The demo's own settings (web, worker and beat default to production; see docs/deployment.md).
DEMO_SETTINGS := fraudcases.settings.local
# What every lock is resolved for (the machines this project runs on).
LOCK_PYTHON := 3.11
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --universal \
	--python-version $(LOCK_PYTHON) --index-url https://pypi.org/simple

.PHONY: demo test test-fast check-deploy smoke chaos assets lock install install-dev lint format migrate \
	seed run clean bench layering deadcode

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs are hash-checked from the locks (what CI tests is what users install); the locks are
# made from requirements*.txt by `make lock`, and tests/project/test_requirements_lock.py fails when a
# pin in requirements*.txt is missing from them.
$(VENV)/.installed: requirements.lock $(VENV)/bin/activate
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

lock: install-dev
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

migrate: install
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-$(DEMO_SETTINGS)} $(PY) manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-$(DEMO_SETTINGS)} $(PY) manage.py collectstatic --noinput --verbosity 0

seed: migrate
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-$(DEMO_SETTINGS)} $(PY) manage.py seed_demo

demo: seed
	@echo
	@echo "================================================================"
	@echo " fraudcases demo: http://127.0.0.1:$(WEB_PORT)/"
	@echo " Logins: investigator, supervisor, admin, auditor"
	@echo " Password: $${DEMO_PASSWORD:-$$(cat $${FRAUDCASES_VAR_DIR:-var}/demo-password 2>/dev/null)}"
	@echo " Database: $${DATABASE_URL:-SQLite (var/fraudcases.sqlite3)}"
	@echo " Broker:   $${CELERY_BROKER_URL:-embedded filesystem broker (var/broker)}"
	@echo " Stop with Ctrl-C."
	@echo "================================================================"
	@echo
	LOG_FORMAT=$${LOG_FORMAT:-plain} ALERTS_BASE_URL=$${ALERTS_BASE_URL:-http://127.0.0.1:$(WEB_PORT)} \
	  $(VENV)/bin/honcho start -f Procfile $(DEMO_PROCESSES)  # Procfile: demo settings

# The demo's processes; the Redis Streams consumer only when a Redis is configured (the
# embedded broker has none, and honcho stops everything when one process exits).
DEMO_PROCESSES = web worker beat feed alerts $(if $(or $(STREAM_REDIS_URL),$(filter redis://% rediss://%,$(CELERY_BROKER_URL))),stream)

# Everything but smoke and chaos (those start whole deployments: make smoke, make chaos).
test: install-dev
	$(PY) manage.py check --fail-level WARNING
	$(MAKE) --no-print-directory check-deploy
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory layering
	$(MAKE) --no-print-directory deadcode
	$(PY) -m pytest -m "not smoke and not chaos"

# The developer loop: no real worker, no browser, no model training (under a minute on this
# 2-core machine). One test process per core (pytest-xdist; tests/xdist_dirs.py gives each its
# own var dir), bytecode kept between runs (this machine's environment turns it off), and
# without the pytest plugins only the other lanes use (API fuzzing, async tests, Faker's fixture)
# or the folders whose every test is in another lane (the markers still decide the rest).
FAST_PLUGINS := -p tests.xdist_dirs -p no:schemathesis -p no:anyio -p no:faker
FAST_SKIP := $(addprefix --ignore=tests/,browser e2e smoke chaos)
test-fast: install-dev
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -n auto $(FAST_PLUGINS) $(FAST_SKIP) \
	  -m "not e2e and not browser and not slow and not smoke and not chaos"

# Django's deployment checks (and drf-spectacular's schema warnings) with the production
# settings, given throwaway values for what production requires.
check-deploy: install-dev
	DJANGO_SETTINGS_MODULE=fraudcases.settings.production \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	AUDIT_HMAC_KEY="$$($(PY) -c 'import secrets; print(secrets.token_hex(32))')" \
	DATABASE_URL="$${DATABASE_URL:-postgres://fraudcases@127.0.0.1:5432/fraudcases}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-fraudcases.example.com}" \
	$(PY) manage.py check --deploy --fail-level WARNING

# requirements.lock in a fresh venv, gunicorn + worker + beat with production settings on the
# local PostgreSQL and Redis, one batch end to end (tests/smoke/test_smoke.py).
smoke: install-dev
	$(PY) -m pytest -m smoke tests/smoke -p no:cacheprovider

# Faults injected on purpose into a throwaway deployment with its own PostgreSQL and Redis
# servers (other ports; the machine's are never touched): worker SIGKILL mid-scoring, Redis
# restart, PostgreSQL stop, champion file corrupted/deleted, one batch from 8 clients at once.
# tests/chaos, docs/reliability.md; figures in var/chaos-results.json. (owned by "obs")
chaos: install-dev
	$(PY) -m pytest -m chaos tests/chaos -p no:cacheprovider -v

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory layering

# The layout stays a map (pyproject.toml): import contracts (the engine imports no Django;
# layers alerts > fraudcases > scoring > core; no cycles between a package's modules) and no
# copy-pasted block of 6+ lines in the apps (pylint's duplicate-code, migrations aside).
layering: install-dev
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pylint core fraudcases scoring alerts

# Unused functions, classes and attributes (vulture, in `make test`; what Django, Celery or the
# tests find by name is in pyproject.toml and tests/vulture_whitelist.py, each entry with where).
deadcode: install-dev
	$(VENV)/bin/vulture

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Rebuild the vendored chart library and map outlines from the pinned npm packages.
assets:
	bash assets/build.sh

bench: install-dev
	$(PY) -m pytest bench -q -s -p no:cacheprovider

clean:
	rm -rf var/broker var/celerybeat-schedule* var/test.sqlite3*
