# Every target does its own set-up: `make test` on a fresh checkout creates .venv first.
# Installs are recorded in stamp files under .venv, so re-runs skip pip entirely until
# pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2
STAMP := $(VENV)/.installed

.PHONY: .venv test test-all demo bench docs lint clean
.PRECIOUS: $(VENV)/.installed-%

.venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-%: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,$*]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow and not gpu"

test-all: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS)

demo: $(STAMP)
	$(PY) examples/fit_mlp.py

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks

docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --strict

lint: $(VENV)/.installed-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf build dist site .pytest_cache .hypothesis .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
