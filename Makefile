# Everything a fresh machine needs: a venv with the project and its dev tools, and Azurite from npm.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench setup clean

demo: setup
	$(BIN)/mysql-drift demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/replay_bench.py

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
