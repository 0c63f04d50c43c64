# The README's commands. Everything a newcomer needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
# PORT: 8000 for `make dev`; `make demo` takes the next free port when 8000 is taken,
# unless PORT is given, and prints the address it serves.
DEV_PORT := $(or $(PORT),8000)
DEV_STAMP := $(VENV)/.installed-dev
APP_STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# PYTEST_WORKERS: processes `make test` runs each pass on (pytest-xdist), each with its own
# test database; 0 runs the suite in pytest's own process, one test after another.
PYTEST_WORKERS ?= 2

.PHONY: demo prod dev test lint bench geography-data leaflet clean chromium weasyprint-libs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "python3 -m venv failed: installing Debian's python3-venv"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip

$(APP_STAMP): pyproject.toml | $(BIN)/python weasyprint-libs
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python weasyprint-libs
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(APP_STAMP)

## make demo: SQLite, French geography, real sites with eight weeks of slots, served by the
## production server (gunicorn, deploy/gunicorn.conf.py) on $(HOST); each step announced
demo: $(APP_STAMP)
	HOST=$(HOST) $(if $(PORT),PORT=$(PORT)) PYTHON=$(BIN)/python scripts/prod.sh --demo

## make prod: the production stack on this machine (docs/operations.md): PostgreSQL and
## Redis unless DATABASE_URL and REDIS_URL say where, gunicorn and the message worker
prod: $(APP_STAMP)
	HOST=$(HOST) $(if $(PORT),PORT=$(PORT)) PYTHON=$(BIN)/python scripts/prod.sh

## make dev: Django's development server (DEBUG, reloads on change), for development only
dev: $(APP_STAMP)
	DEBUG=1 CRENEAU_DEMO=1 PUBLIC_URL=http://$(HOST):$(DEV_PORT) $(BIN)/python manage.py migrate --no-input
	DEBUG=1 CRENEAU_DEMO=1 PUBLIC_URL=http://$(HOST):$(DEV_PORT) $(BIN)/python manage.py runserver $(HOST):$(DEV_PORT)

## make test: lint, migrations check, the whole suite on SQLite and on PostgreSQL
# DATABASE_CONNECT_TIMEOUT: the races open a hundred connections at once, beside the other
# worker's; on a loaded machine some take longer than the 3 s production allows.
test: $(DEV_STAMP) chromium
	$(MAKE) lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)
	DATABASE_CONNECT_TIMEOUT=30 scripts/with-postgres.sh $(BIN)/pytest -q -n $(PYTEST_WORKERS)

# Installs Debian's chromium when it is missing; fails loudly when it still is (no silent skip).
# `env` carries DEBIAN_FRONTEND through sudo, which would drop it.
chromium:
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) not found: installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "FATAL: $(CHROMIUM) is missing and could not be installed;" \
		"the browser tests (tests/browser) need Debian's chromium" >&2; exit 1; }

# WeasyPrint (letter batches as one PDF, creneau/outreach/letters.py) needs Debian's Pango,
# HarfBuzz's subsetting library and a font; installed when missing, as chromium is.
WEASYPRINT_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
weasyprint-libs:
	@dpkg -s $(WEASYPRINT_LIBS) >/dev/null 2>&1 || { \
		echo "installing Debian's $(WEASYPRINT_LIBS) for WeasyPrint"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(WEASYPRINT_LIBS); }

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

## make bench: the benchmarks in bench/, each prints its figures
bench: $(DEV_STAMP)
	$(BIN)/python bench/search.py

## make rush: the launch-morning rush (search, hold, book) through gunicorn on PostgreSQL, then SQLite
.PHONY: rush
rush: $(DEV_STAMP)
	$(BIN)/python bench/rush.py --both

## make geography-data: rebuild creneau/geography/data/geography.json.gz and outlines.json.gz from their sources
geography-data: $(APP_STAMP)
	rm -rf build/etalab && mkdir -p build/etalab
	cd build/etalab && npm pack --silent @etalab/decoupage-administratif@6.0.0 && tar xzf *.tgz
	DEBUG=1 $(BIN)/python manage.py geography_build --etalab build/etalab/package \
		--laposte $(or $(LAPOSTE_CSV),../shared/data/geo/laposte_hexasmal.csv)
	DEBUG=1 $(BIN)/python manage.py geography_outlines_build \
		--source $(or $(OUTLINES_GEOJSON),../shared/data/geo/departements-avec-outre-mer.geojson)

## make leaflet: fetch Leaflet from the npm registry into the static files (the optional tile map)
LEAFLET_VERSION = 1.9.4
leaflet:
	rm -rf build/leaflet && mkdir -p build/leaflet creneau/portal/static/vendor/leaflet
	cd build/leaflet && npm pack --silent leaflet@$(LEAFLET_VERSION) && tar xzf *.tgz
	cp -r build/leaflet/package/dist/leaflet.js build/leaflet/package/dist/leaflet.css \
		build/leaflet/package/dist/images build/leaflet/package/LICENSE \
		creneau/portal/static/vendor/leaflet/
	# No source map is shipped: the manifest storage would look for the file it names.
	sed -i '/sourceMappingURL/d' creneau/portal/static/vendor/leaflet/leaflet.js

clean:
	rm -rf $(VENV) db.sqlite3* build
