# Two entry points for a new user: `make run` (set up, index sources/, start the web chat)
# and `make test` (set up, run the tests). Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: setup run test test-fast bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: an unpinned torch would pull several GB of CUDA.
	$(PIP) install --quiet torch==2.13.0
	# Within the versions the results were measured with (constraints.txt): newer releases moved some figures.
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) app.py

# Two xdist workers, each taking whole files (module fixtures: apps, servers, Chromium), in the
# order tests/conftest.py collects them (the longest files first): docs/testing.md.
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The unit tests only: no model, no index, no server (about 35 s).
test-fast: setup
	$(PY) -m pytest -m unit

bench: setup
	$(PY) -m bench.retrieval.speed

clean:
	rm -rf $(VENV) index/current index/gen-* bench/out
