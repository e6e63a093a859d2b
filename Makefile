# fraudcases: `make demo` runs everything locally; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
export WEB_PORT

.PHONY: demo test install install-dev lint format migrate seed run clean bench

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

seed: migrate
	$(PY) manage.py seed_demo

demo: seed
	@echo
	@echo "================================================================"
	@echo " fraudcases demo: http://127.0.0.1:$(WEB_PORT)/"
	@echo " Logins: investigator, supervisor, admin, auditor"
	@echo " Password: $${DEMO_PASSWORD:-$$(cat var/demo-password 2>/dev/null)}"
	@echo " Database: $${DATABASE_URL:-SQLite (var/fraudcases.sqlite3)}"
	@echo " Broker:   $${CELERY_BROKER_URL:-embedded filesystem broker (var/broker)}"
	@echo " Stop with Ctrl-C."
	@echo "================================================================"
	@echo
	$(VENV)/bin/honcho start -f Procfile

test: install-dev
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) -m pytest bench -q -p no:cacheprovider

clean:
	rm -rf var/broker var/celerybeat-schedule* var/test.sqlite3*
