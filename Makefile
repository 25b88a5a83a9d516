# Set-up and entry points. `make repro` runs the pipeline, `make test` the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock

.PHONY: install repro test test-fast lint format lock bench docs-pictures vega

# The stamp is a copy of the lock it was installed from: a changed lock reinstalls.
# Every file is checked against the lock's hashes; then the project itself is installed
# (editable, no dependencies: they all come from the lock) for `mnist-gan` and
# `python -m mnist_gan`.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	cp requirements.lock $(STAMP)

install: $(STAMP)

repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

# The edit-test loop: every test not marked slow (the unit tests and one small run of
# every stage; slow are the real-dvc end-to-end tests and every test over 2 s here,
# mostly real stage and CLI processes). CI runs `make test`.
test-fast: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow"

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Resolve pyproject.toml's dependencies (and the dev extra) into requirements.lock with
# every file's sha256 (needs the package index). Versions already in the lock are kept
# unless pyproject.toml rules them out; `make lock UPGRADE=--upgrade` takes the newest.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet pip-tools==7.6.2
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev \
		--strip-extras --no-emit-index-url --no-emit-find-links $(UPGRADE) \
		-o requirements.lock pyproject.toml
	rm -rf .venv-lock

bench: install
	PYTHONPATH=src $(BIN)/python bench/train_speed.py
	PYTHONPATH=src $(BIN)/python bench/metrics_speed.py

# README pictures of a `dvc plots diff` between two revisions or experiments:
#   make docs-pictures REVS="exp-a exp-b"
# vl-convert renders Vega-Lite offline; it lives in .venv-docs, not in the lock.
docs-pictures: install
	test -x .venv-docs/bin/python || $(PYTHON) -m venv .venv-docs
	.venv-docs/bin/python -m pip install --quiet vl-convert-python==1.9.0.post1 pillow==13.0.0
	mkdir -p dvc_plots
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc plots diff $(REVS) --json -o dvc_plots/static > dvc_plots/diff.json
	.venv-docs/bin/python docs/render_plots.py dvc_plots/diff.json docs

# Refetch Vega, Vega-Lite and vega-embed from npm (checked against the integrity hashes
# in .dvc/vega/README.md) and rebuild .dvc/vega/offline.html, the page with them inlined
# that .dvc/config gives `dvc plots show` / `dvc plots diff`.
vega:
	.dvc/vega/fetch.sh
