# Mandat: `make run` serves the product on http://127.0.0.1:8000, `make test` runs every test.
# Both start from a fresh Debian/Ubuntu machine with Python 3.11+: OS packages, the Python
# environment from the lock file, a project-local PostGIS cluster, migrations and reference data.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANDAT := $(BIN)/mandat
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-pooled test-failover browser-setup setup os-packages env db lint typecheck lock bench clean-db messages vendor

# The whole product in one command: the server and the scheduler (stopped together), links in
# e-mails to the address served, e-mails readable at /dev/mail; `demo seed` prints the demo's
# Espace Pro sign-in. MANDAT_ENV=development lets them sign with a key derived from this
# machine's database URL when MANDAT_SECRET_KEY is not set (never outside development).
run: setup
	MANDAT_ENV=development $(MANDAT) demo seed --if-empty --agencies 2000 --property-sales 100000 --leads 300 --addresses
	MANDAT_ENV=development MANDAT_PUBLIC_URL=http://$(HOST):$(PORT) sh -c \
	  '$(MANDAT) scheduler & trap "kill $$! 2>/dev/null" EXIT INT TERM; $(MANDAT) serve --host $(HOST) --port $(PORT)'

# Every test, then, last and on its own so that nothing else loads the machine meanwhile, a
# failover under purchases on a pg_auto_failover pair the test forms on loopback (about three
# minutes; `make test-failover` runs it alone).
test: browser-setup setup
	$(BIN)/pytest -q -p no:cacheprovider -m "not failover" $(PYTEST_ARGS)
	$(BIN)/pytest -q -p no:cacheprovider -m failover tests/faults

# The e2e suite again through PgBouncer in transaction mode, as production runs
# (docs/operations.md): CI runs it as a job of its own after `make test` (.ci/run). With
# DATABASE_URL set there is no local PgBouncer: the pass is skipped, saying so.
test-pooled: browser-setup setup
	@if [ -z "$$DATABASE_URL" ]; then \
	  $(MANDAT) db start --pooler && \
	  MANDAT_TEST_POOLER=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e; \
	else echo "DATABASE_URL is set: no local PgBouncer, the pooled e2e pass is skipped"; fi

test-failover: browser-setup setup
	$(BIN)/pytest -q -p no:cacheprovider -m failover tests/faults

setup: os-packages env db

# Debian's Chromium (never a downloaded browser) and axe-core from the npm registry, pinned by
# tests/browser/package-lock.json.
browser-setup:
	@WITH_BROWSER=1 sh scripts/os-packages.sh
	@[ -f tests/browser/node_modules/axe-core/axe.min.js ] || npm ci --prefix tests/browser --no-audit --no-fund --silent

os-packages:
	@sh scripts/os-packages.sh

# Espace Pro's front-end library, committed as one file: htmx from the npm registry, pinned by
# api/pro/vendor/package-lock.json (version and integrity). Run after changing the pin, then
# update HTMX in api/pro/pages.py and api/pro/vendor/htmx.sha256; nothing runs at serve time.
HTMX_VERSION := $(shell sed -n 's/.*"htmx.org": "\(.*\)".*/\1/p' api/pro/vendor/package.json)
vendor:
	npm ci --prefix api/pro/vendor --no-audit --no-fund --silent
	cp api/pro/vendor/node_modules/htmx.org/dist/htmx.min.js api/pro/static/htmx-$(HTMX_VERSION).min.js
	cd api/pro/static && sha256sum htmx-$(HTMX_VERSION).min.js > ../vendor/htmx.sha256

env: $(VENV)/.installed

# The development environment: what production installs (requirements.lock) plus the test
# stack (requirements-dev.lock, pinned to the same versions).
$(VENV)/.installed: requirements.lock requirements-dev.lock requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --require-hashes -r requirements-nodeps.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# With DATABASE_URL set, that database is used and no local cluster is started.
db: env
	@if [ -z "$$DATABASE_URL" ]; then $(MANDAT) db start; fi
	$(MANDAT) migrate
	$(MANDAT) geodata load

# Also the layering (import contracts in pyproject.toml: engine imports neither Litestar, uvicorn,
# api nor mandat) and no function in engine/ or api/ above grade C of cyclomatic complexity.
lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@complex="$$($(BIN)/radon cc -n D -s engine api)"; if [ -n "$$complex" ]; then \
	  echo "$$complex"; echo "radon cc: functions above grade C, split them"; exit 1; fi

typecheck: env
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/matching.py

# Re-pin every dependency (needs the package registry).
# requirements.lock is what production installs (requirements.in only: no test stack);
# requirements-dev.lock adds the test and lint tools, with the shared packages at the same pins.
lock:
	uv pip compile requirements.in -o requirements.lock --python-version 3.11 --no-header --generate-hashes
	uv pip compile requirements-dev.in -c requirements.lock -o requirements-dev.lock --python-version 3.11 --no-header --generate-hashes

# The pages' wording (Espace Pro, the homeowner's and public pages): new sentences of the
# templates go into each language's catalogue (then translate the empty French ones in
# api/pro/locale/fr/LC_MESSAGES/messages.po).
messages: env
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output -o api/pro/locale/messages.pot .
	$(BIN)/pybabel -q update -i api/pro/locale/messages.pot -d api/pro/locale --no-fuzzy-matching --ignore-obsolete

clean-db:
	-$(MANDAT) db stop
	rm -rf .mandat
