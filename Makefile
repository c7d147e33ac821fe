# gamif developer entry points (GNU make).
#   make run    the whole system on its embedded defaults
#   make test   lint, types, tests, coverage (what CI runs)

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gamif run

test: $(STAMP)
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage build dist *.egg-info
	find . -name __pycache__ -type d -not -path './client/*' -prune -exec rm -rf {} +
