# Two entry points for a fresh clone: `make demo` (set up, then the main job) and
# `make test` (set up, then the whole test suite). Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup browser postgres bench

demo: $(STAMP)
	$(BIN)/lrlab demo

test: $(STAMP) browser postgres
	LRLAB_TEST_POSTGRES=$(PG_URL)$$(pg_lsclusters -h | awk 'NR==1 {print $$3}')/$(PG_DB) \
		$(BIN)/pytest -q

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The browser tests drive Debian's chromium; install it when it is missing. They check the
# page's accessibility with axe-core (npm, into the ignored node_modules; the page never loads it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }
	@[ -f node_modules/axe-core/axe.min.js ] || \
		npm install --no-save --no-audit --no-fund --silent axe-core@4.14.1

# The store's tests run on PostgreSQL too: Debian's server, installed when missing, its first
# cluster started with pg_ctlcluster, and a role and database of their own for the tests.
PG_ROLE := lrlab
PG_DB := lrlab_test
PG_URL := postgresql+psycopg://$(PG_ROLE):$(PG_ROLE)@127.0.0.1:
AS_ROOT = $$( [ "$$(id -u)" = 0 ] || echo sudo )
AS_PG = $$( [ "$$(id -u)" = 0 ] && echo runuser -u postgres -- || echo sudo -u postgres )
postgres:
	@pg_lsclusters -h 2>/dev/null | grep -q . || { \
		export DEBIAN_FRONTEND=noninteractive; \
		$(AS_ROOT) apt-get update -qq && $(AS_ROOT) apt-get install -y -qq postgresql; }
	@set -- $$(pg_lsclusters -h | head -n 1); \
	[ "$$4" = online ] || $(AS_ROOT) pg_ctlcluster "$$1" "$$2" start; \
	psql="$(AS_PG) psql -q -p $$3 -v ON_ERROR_STOP=1"; \
	$$psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$(PG_ROLE)'" | grep -q 1 || \
		$$psql -c "CREATE ROLE $(PG_ROLE) LOGIN PASSWORD '$(PG_ROLE)'"; \
	$$psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$(PG_DB)'" | grep -q 1 || \
		$$psql -c "CREATE DATABASE $(PG_DB) OWNER $(PG_ROLE)"

bench: $(STAMP)
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/regimes.py
	$(BIN)/python benchmarks/suggest.py
	$(BIN)/python benchmarks/web.py
