# Two entry points: `make app` and `make test`. Both create .venv (once, and again when
# pyproject.toml changes), install the project with its dev extra, and check system tools.
# `make test` runs the checks (ruff, mypy) and the tests but those marked slow; `make test-all` runs
# every test; `make check` the checks alone.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: app test test-all check system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	@sh scripts/system-deps.sh

app: $(STAMP) system-deps
	$(PY) -m resnet_inspect.serve --server.headless true

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The type check runs beside the tests (one process; the tests leave a core idle at times) and is
# waited for at the end: either failing fails the target. Its report is printed when it fails, so
# that pytest's summary stays the last line of a passing run.
test: $(STAMP) system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy > $(VENV)/mypy.log 2>&1 & mypy=$$!; \
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"; tests=$$?; \
	if ! wait $$mypy; then cat $(VENV)/mypy.log; echo "mypy failed (make check runs it alone)"; exit 1; fi; \
	exit $$tests

test-all: check system-deps
	RESNET_INSPECT_ALL_TESTS=1 $(PY) -m pytest -n $(PYTEST_WORKERS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
