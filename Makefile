# eql: the two entry points of README.md. Both install what is missing first (scripts/install.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONWARNINGS ?= ignore

.PHONY: install demo test test-fast lint clean

install:
	bash scripts/install.sh

demo: install
	$(PY) tools/demo.py

# The tests run in parallel, one worker a core (at most 4), each torch process on one thread:
# torch processes of several threads each on shared cores spin-wait, 10-20x slower.
PYTEST := OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -n auto --maxprocesses 4 \
	--dist worksteal --durations 15

test: install
	$(PYTEST) tests

test-fast: install
	$(PYTEST) tests -m "not slow"

lint: install
	$(VENV)/bin/black -l 100 --check eql tools tests datasets benchmarks
	$(VENV)/bin/isort --check-only eql tools tests datasets benchmarks
	$(VENV)/bin/flake8 eql tools tests datasets benchmarks

clean:
	rm -rf output
