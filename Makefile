# The two commands of the README:  `make book`  builds the site,  `make test`  runs every test.
# Both create the virtual environment .venv on first use (torch/torchvision versions from
# requirements/constraints.txt; the package itself keeps its runtime dependencies loose).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv assets book slides lint test test-fast test-nosite bench clean

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

# Build the whole book: every chapter executed from scratch, warnings are errors; then every chapter
# as a reveal.js slide deck (_build/html/slides/, from the notebooks the build executed).
book: assets
	rm -rf _build
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	$(MAKE) slides
	$(MAKE) figure-pack

slides: $(STAMP)
	$(BIN)/python tools/slides.py

# Every figure of the built site (images as built, plotly figures exported to PNG in headless
# Chromium), named by page and order, with an index and the CC BY 4.0 credits, zipped to
# _build/html/_downloads/gkl-figures.zip (linked from the teaching page); tools/figure_pack.py.
.PHONY: figure-pack
figure-pack: $(STAMP)
	$(BIN)/python tools/figure_pack.py

# Every built deck as a PDF, one 1280x720 page per slide (headless Chromium): _build/slides-pdf/.
.PHONY: slides-pdf
slides-pdf: $(STAMP)
	$(BIN)/python tools/slides.py --pdf

# Lint (ruff, configured in pyproject.toml): the package, tests, tools, benchmarks.
lint: $(STAMP)
	$(BIN)/ruff check gkl tests tools benchmarks book/_ext

# Every test, including the browser test of the freshly built site (lint first: it takes a second).
test: lint book
	$(BIN)/python -m pytest

# The inner loop (about a minute): no slow test (marked `slow`: the chapters run from the wheel, the
# GPU profiles on fake CIFAR, the device check's dry run, multi-process runs ...), no built site.
test-fast: lint
	$(BIN)/python -m pytest -m "not slow and not site"

# Every test that needs no built site, the slow ones included (about 5 minutes on 2 cores).
test-nosite: lint
	$(BIN)/python -m pytest -m "not site"

bench: $(STAMP)
	$(BIN)/python -m gkl bench --out benchmarks/results

clean:
	rm -rf _build .pytest_cache .hypothesis

# Mutation testing, on demand (not in CI, ~15 min on 2 cores): one-line bugs in the losses, the class
# prior, the attacks and the AT/KD objectives, each in a temporary copy of gkl/, must make the fast
# tests fail; prints killed/survived per mutant and the score (tools/mutants.py).
.PHONY: mutants
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

# The prepared GPU check (CUDA tests, loss benchmark on the device, one timed epoch of each GPU
# profile, AMP): one JSON under benchmarks/results/. `make device-check-dry` runs it on the CPU.
.PHONY: device-check device-check-dry
device-check: $(STAMP)
	$(BIN)/python tools/device_check.py --out benchmarks/results/device_check.json
device-check-dry: $(STAMP)
	$(BIN)/python tools/device_check.py --dry-run --out /tmp/gkl-device-check-dry.json

# The instructors' edition of the exercises (every exercise with its difficulty, time and solution,
# from the chapter sources) in _build/instructor/solutions.{html,md}: not part of the site, which,
# like the notebooks and slides, holds no solutions. Share it with instructors only.
.PHONY: instructor
instructor: $(STAMP)
	$(BIN)/python tools/solutions.py --out _build/instructor
