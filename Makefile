# Everything a fresh machine needs: a venv with the project and its dev tools, and Azurite from npm.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench chaos setup clean chromium fixtures lock

demo: setup
	$(BIN)/mysql-drift demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/scan_bench.py
	$(BIN)/python bench/cold_scan_bench.py --runs 10
	$(BIN)/python bench/lean_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/export_bench.py
	$(BIN)/python bench/console_bench.py

# The official examples and specs, pinned by commit and checksum (tests/fixtures-sources.md,
# tests/fixtures.sha256), into .fixtures/ for a clone without ../shared/fixtures beside it.
fixtures:
	$(PYTHON) scripts/fetch_fixtures.py .fixtures

# Issue 9's chaos cases against the local stack: `make chaos ROUNDS=5 CASES="1 3"` for fewer.
ROUNDS ?=
CASES  ?=
chaos: setup
	$(BIN)/python bench/chaos.py $(if $(ROUNDS),--rounds $(ROUNDS)) $(foreach c,$(CASES),--case $(c))

CARDRENDER := tools/cardrender

setup: $(VENV)/.installed node_modules/.installed $(CARDRENDER)/node_modules/.installed chromium

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# requirements.txt is the lock the Function's remote build installs (hash-checked): the closure of
# pyproject.toml's ranges for Python 3.11 on Linux. tests/test_lock.py fails when the two disagree.
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --quiet --python-version 3.11 --python-platform linux --generate-hashes \
	  --custom-compile-command "make lock" -o requirements.txt

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Adaptive Card renderer (npm adaptivecards + playwright-core) drives Debian's Chromium:
# no browser is downloaded. Without root or apt, the card rendering tests skip and say why.
$(CARDRENDER)/node_modules/.installed: $(CARDRENDER)/package.json $(CARDRENDER)/package-lock.json
	npm ci --prefix $(CARDRENDER) --no-audit --no-fund --loglevel=error
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: card rendering tests will be skipped"; }

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
