# The two commands of the README:  `make book`  builds the site,  `make test`  runs every test.
# Both create the virtual environment .venv on first use (torch/torchvision versions from
# requirements/constraints.txt; the package itself keeps its runtime dependencies loose).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv assets book test test-fast bench clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[all]'
	touch $@

venv: $(STAMP)

# JavaScript for the offline site (MathJax, require.js, widget manager, plotly.js) into
# book/_static/vendor/ (git-ignored); downloads with npm once, then returns at once.
assets: $(STAMP)
	$(BIN)/python tools/vendor_assets.py

# Build the whole book: every chapter executed from scratch, warnings are errors.
book: assets
	rm -rf _build
	$(BIN)/jupyter-book build . --warningiserror --keep-going

# Every test, including the browser test of the freshly built site.
test: book
	$(BIN)/python -m pytest

# Tests that need no built site (seconds to minutes).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not site"

bench: $(STAMP)
	$(BIN)/python -m gkl.bench --out benchmarks/results

clean:
	rm -rf _build .pytest_cache .hypothesis
