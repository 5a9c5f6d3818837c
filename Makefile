# Two commands on a fresh machine: `make run` and `make test`.
# (No make on the office PC? README, "On the office PC", installs with plain python and pip.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
endif
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
DB ?= gym.db
# Portable stand-ins for test -f, touch and rm -rf (the same on every shell make may use).
TOUCH = $(BIN)/python -c "import sys; open(sys.argv[1], 'a').close()"

.PHONY: run test bench screenshots demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` installs gymconsole and what it needs, not the test tools.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@$(TOUCH) $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(TOUCH) $(RUN_STAMP)
	@$(TOUCH) $(TEST_STAMP)

demo: $(RUN_STAMP)
	@$(BIN)/python -c "import os, subprocess, sys; sys.exit(0 if os.path.exists('$(DB)') else subprocess.call(['$(BIN)/gymconsole', 'init', '--demo', '--db', '$(DB)']))"

run: demo
	$(BIN)/gymconsole --db $(DB)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(TEST_STAMP)
	$(BIN)/python -m gymconsole.bench

screenshots: $(TEST_STAMP)
	$(BIN)/python -m gymconsole.tui.screenshots screenshots

clean:
	$(PYTHON) -c "import glob, shutil; [shutil.rmtree(p, ignore_errors=True) for p in ['$(VENV)', 'build', *glob.glob('*.egg-info')]]"
