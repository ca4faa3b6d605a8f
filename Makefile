# Two entry points, both safe on a fresh clone: the first run creates .venv and installs.
#   make compare   run the headline comparison (coin sets) and print its table
#   make test      run the test suite (what CI runs); installs headless Chromium if missing
#   make report    write report/ (index.html, report.md, results.json): every scenario
#   make bench     the benchmarks (issue 6): tables on stdout, benchmarks/results.json; 15-25
#                  minutes on a quiet machine (`$(BIN)/python -m benchmarks --quick` checks it in a few)

PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: compare test browser report bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "emtwin needs Python >= 3.12; found " + sys.version.split()[0] + ". Set PYTHON=/path/to/python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

compare: $(STAMP)
	$(BIN)/emtwin compare coin-sets

# pytest-xdist: one worker per core (both of a 2-core machine). A module's tests stay on one
# worker (loadscope), so each compiles its models once; tests/conftest.py says in what order.
TEST_WORKERS ?= auto
test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The report tests open the page in headless Chromium, as a reader would. Installed here
# (Debian's chromium, as root or with passwordless sudo) where it is missing; otherwise one
# line says what to run. The lock timeout lets two installs at once wait for each other.
APT := env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; }; then \
	    SUDO=$$([ "$$(id -u)" -eq 0 ] || echo "sudo -n"); \
	    echo "make test: installing headless Chromium for the report tests (Debian package chromium) ..." >&2; \
	    $$SUDO $(APT) update >/dev/null && $$SUDO $(APT) install -y --no-install-recommends chromium >/dev/null; \
	  fi; \
	  command -v chromium >/dev/null 2>&1 || { \
	    echo "make test: headless Chromium is needed for the report tests; install it (Debian/Ubuntu:" \
	         "sudo apt-get install chromium) and run make test again." >&2; exit 1; }; }

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
