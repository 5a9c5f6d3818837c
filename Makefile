# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
endif
STAMP := $(VENV)/.installed
DB ?= gym.db

.PHONY: run test bench screenshots demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@test -f $(DB) || $(BIN)/gymconsole init --demo --db $(DB)

run: demo
	$(BIN)/gymconsole --db $(DB)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m gymconsole.bench

screenshots: $(STAMP)
	$(BIN)/python -m gymconsole.tui.screenshots screenshots

clean:
	rm -rf $(VENV) build *.egg-info
