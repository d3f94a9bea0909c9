# The two commands: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_SIM := hardware/watchdog/sim
AXE := tests/axe

.PHONY: setup system-deps demo test bench lint format clean screens lock

setup: system-deps $(STAMP) $(NODE_SIM)/node_modules/.installed $(AXE)/node_modules/.installed

system-deps:
	@./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m device.kiosk.i18n && $(BIN)/python -m sync_server.i18n
	touch $(STAMP)

# MicroPython under Node, to test the watchdog firmware; versions pinned by package-lock.json.
$(NODE_SIM)/node_modules/.installed: $(NODE_SIM)/package.json $(NODE_SIM)/package-lock.json
	cd $(NODE_SIM) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# axe-core, injected into Chromium by the contrast checks; version pinned by package-lock.json.
$(AXE)/node_modules/.installed: $(AXE)/package.json $(AXE)/package-lock.json
	cd $(AXE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/dcs-demo

test: setup lint
	$(BIN)/pytest -n 2 --dist loadgroup

bench: setup
	$(BIN)/python -m bench

# The station's runtime dependencies pinned with hashes (docs/updates.md); run after editing
# pyproject.toml's dependencies (tests/test_release.py says when).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--quiet -o requirements/station.lock

# Screenshots of every kiosk screen into docs/screens/ (needs pcscd free: not during tests),
# and the screens the browser tests take (without DCS_SCREENS they go to a temp directory).
SCREEN_TESTS = tests/test_kiosk_accessibility.py tests/test_kiosk_bills.py \
	tests/test_kiosk_checkups_notices.py tests/test_kiosk_counter.py \
	tests/test_kiosk_eid_everyone.py tests/test_notices.py tests/test_rollout_pages.py
screens: setup
	$(BIN)/python -m tests.kiosk_screens
	$(BIN)/python -m tests.server_screens
	DCS_SCREENS=1 $(BIN)/pytest -q -p no:xdist $(SCREEN_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache $(NODE_SIM)/node_modules $(AXE)/node_modules
