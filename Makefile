# Two commands set everything up on a fresh machine (Python, pip and gcc only):
#   make demo   - create .venv, install the core and the [cli,plot] extras only, run the main
#                 job on real data every machine has (the standard library's sources)
#   make test   - create .venv, install every extra (and torch), run the default test suite
# One .venv, two stamps: the demo's install is a subset of the tests', so either order works.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
DEMO_EXTRAS := cli,plot
# tested versions (constraints/README.md); the package's own ranges stay loose for users
CONSTRAINTS := constraints/test.txt
TEST_EXTRAS := cli,plot,dev,dask,linalg,learned
TORCH_PINS := "torch==2.13.0" "transformers==5.24.0"

.PHONY: constraints demo test test-slow bench bench-robust bench-learned bench-dask bench-cli bench-linalg lint clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[$(TEST_EXTRAS)]"
	# the CPU wheel of torch (pinned: an unpinned torch pulls a multi-GB CUDA build)
	$(PIP) install --quiet -c $(CONSTRAINTS) $(TORCH_PINS)
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[$(DEMO_EXTRAS)]"
	touch $(DEMO_STAMP)

venv: $(STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/sketchkit demo

test: $(STAMP)
	SKETCHKIT_TEST_ALL_EXTRAS=1 $(PY) -m pytest -q -n 2 -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -n 2 -m slow

bench: $(STAMP)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[bench]"
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
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[bench]"
	$(PY) benchmarks/bench_learned.py
	$(PY) benchmarks/learned_report.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

# Re-resolve every test dependency without pins and write the tested versions (review the diff,
# run `make clean test`, commit both together).
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip
	.venv-constraints/bin/pip install --quiet -e ".[$(TEST_EXTRAS)]" $(TORCH_PINS)
	{ sed -n '1,3p' $(CONSTRAINTS); .venv-constraints/bin/pip freeze --exclude-editable | grep -v '@ file' | sed 's/+cpu$$//'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
