# Entry points: `make example` (set up, generate the example circuit, run the pipeline), `make simulate`
# (the example simulated with neurodamus, README "Simulating the circuit"), `make test` (set up, run the
# test suite) and `make rulegraph` (redraw docs/rulegraph.png). All create .venv/ if missing.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2

.PHONY: setup example simulate test rulegraph clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,slurm,simulate]'
	touch $@

setup: $(VENV)/.installed

example: setup
	test -f example/cells.h5 || $(VENV)/bin/circuitflow make-example example --cells 300
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --cores $(CORES) all

simulate: example
	$(VENV)/bin/circuitflow simulate out/sonata/circuit_config.json out/simulation

test: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/pytest -q

# docs/rulegraph.dot and .png: the rules of the example config (needs graphviz's `dot` for the picture;
# tests/workflow/test_rulegraph.py checks the .dot against the workflow).
rulegraph: setup
	test -f example/cells.h5 || $(VENV)/bin/circuitflow make-example example --cells 300
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake all --rulegraph dot > docs/rulegraph.dot
	dot -Tpng docs/rulegraph.dot -o docs/rulegraph.png

clean:
	rm -rf out example .snakemake
