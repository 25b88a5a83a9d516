# Set-up and entry points. `make repro` runs the pipeline, `make test` the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock

.PHONY: install repro test lint format lock bench

# The stamp is a copy of the lock it was installed from: a changed lock reinstalls.
$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	cp requirements.lock $(STAMP)

install: $(STAMP)

repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve requirements.in into a fresh lock (needs the package index).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -r requirements.in
	.venv-lock/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .venv-lock

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONPATH=src $(BIN)/python bench/train_speed.py
