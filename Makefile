# Two entry points, both safe on a fresh clone: the first run creates .venv and installs.
#   make compare   run the headline comparison (coin sets) and print its table
#   make test      run the test suite (what CI runs)
#   make report    write report/ (index.html, report.md, results.json): every scenario
#   make bench     the benchmarks (issue 6): tables on stdout, benchmarks/results.json; 15-25
#                  minutes on a quiet machine (`$(BIN)/python -m benchmarks --quick` checks it in a few)

PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: compare test report bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "emtwin needs Python >= 3.12; found " + sys.version.split()[0] + ". Set PYTHON=/path/to/python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

compare: $(STAMP)
	$(BIN)/emtwin compare coin-sets

test: $(STAMP)
	$(BIN)/python -m pytest

report: $(STAMP)
	$(BIN)/emtwin report --all --out report

# scikit-learn to compare against and nutpie to sample with: the `bench` extra.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV)
