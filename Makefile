# Two commands set everything up on a fresh machine (Python, pip and gcc only):
#   make demo   - create .venv, install, run the main job on embedded real data
#   make test   - create .venv, install with test extras, run the default test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench bench-robust bench-learned bench-dask bench-cli bench-linalg lint clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e ".[cli,plot,dev,dask,linalg,learned]"
	# the CPU wheel of torch (pinned: an unpinned torch pulls a multi-GB CUDA build)
	$(PIP) install --quiet "torch==2.13.0" "transformers==5.24.0"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sketchkit demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -n 2 -m slow

bench: $(STAMP)
	$(PIP) install --quiet -e ".[bench]"
	$(PY) benchmarks/bench_core.py

bench-robust: $(STAMP)
	$(PY) benchmarks/bench_robust.py

bench-dask: $(STAMP)
	$(PY) benchmarks/bench_dask.py

bench-cli: $(STAMP)
	$(PY) benchmarks/bench_cli.py --sizes-mb 256

bench-linalg: $(STAMP)
	$(PY) benchmarks/bench_linalg.py --json docs/benchmarks/linalg.json

bench-learned: $(STAMP)
	$(PY) benchmarks/bench_learned.py
	$(PY) benchmarks/learned_report.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
