# Two entry points: `make example` (set up, generate the example circuit, run the pipeline) and
# `make test` (set up, run the test suite). Both create .venv/ if it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2

.PHONY: setup example test clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,slurm]'
	touch $@

setup: $(VENV)/.installed

example: setup
	test -f example/cells.h5 || $(VENV)/bin/circuitflow make-example example --cells 300
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --cores $(CORES) all

test: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/pytest -q

clean:
	rm -rf out example .snakemake
