PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-compose test-sqlite test-postgres lint clean

# Translations: the .po files are committed, the .mo files compiled here (needs gettext's msgfmt).
PO     := $(wildcard listkeeper/locale/*/LC_MESSAGES/django.po)
MO     := $(PO:.po=.mo)

install: $(STAMP) $(MO)

listkeeper/locale/%/LC_MESSAGES/django.mo: listkeeper/locale/%/LC_MESSAGES/django.po $(STAMP)
	cd listkeeper && ../$(BIN)/django-admin compilemessages --locale $* --verbosity 0

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/listkeeper migrate --no-input
	$(BIN)/listkeeper import-aliases --if-empty postfix/virtual_aliases.cf
	$(BIN)/listkeeper createadmin --if-none
	$(BIN)/listkeeper serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The same suite on each database CI uses; DATABASE_URL picks the PostgreSQL one.
test-sqlite: install
	env -u DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/pytest $(PYTEST_ARGS)

# The compose deployment built and run in Docker (tests/compose/): needs root
# or a running engine, docker-compose and debootstrap.
test-compose: install
	$(BIN)/pytest -m compose tests/compose $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
