# Two entry points: `make app` and `make test`. Both create .venv (once, and again when
# pyproject.toml changes), install the project with its dev extra, and check system tools.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: app test system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	@sh scripts/system-deps.sh

app: $(STAMP) system-deps
	$(PY) -m resnet_inspect.serve --server.headless true

test: $(STAMP) system-deps
	$(PY) -m pytest -n 2

clean:
	rm -rf $(VENV) .pytest_cache
