# Two commands set everything up on a fresh machine (Python, pip and gcc only):
#   make demo   - create .venv, install, run the main job on embedded real data
#   make test   - create .venv, install with test extras, run the default test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
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

venv: $(STAMP)

demo: $(STAMP)
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
