# eql: the two entry points of README.md. Both install what is missing first (scripts/install.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONWARNINGS ?= ignore

.PHONY: install demo test test-fast lint clean

install:
	bash scripts/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q tests -m "not slow"

lint: install
	$(VENV)/bin/black -l 100 --check eql tools tests datasets benchmarks
	$(VENV)/bin/isort --check-only eql tools tests datasets benchmarks
	$(VENV)/bin/flake8 eql tools tests datasets benchmarks

clean:
	rm -rf output
