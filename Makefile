# Two entry points: `make demo` and `make test`. Both bootstrap .venv from PyPI
# on first use. op_system and its flepimop2 plugin need Python >= 3.11 (flepimop2
# does; the package is tested on 3.11 only).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench compat clean

$(STAMP): pyproject.toml flepimop2_plugin/pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all,test,docs]"
	$(BIN)/python -m pip install --quiet -e flepimop2_plugin "flepimop2==0.3.0" "flepimop2-op-engine==0.8.0"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks flepimop2_plugin
	$(BIN)/ruff format --check src tests examples benchmarks flepimop2_plugin
	$(BIN)/mypy
	MYPYPATH=flepimop2_plugin/src $(BIN)/mypy --python-version 3.11 --explicit-package-bases flepimop2_plugin/src
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto
	$(BIN)/python tests/compat/run_upstream_tests.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site  # not --quiet: it hides the warnings --strict counts

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks flepimop2_plugin
	$(BIN)/ruff format --check src tests examples benchmarks flepimop2_plugin

docs: $(STAMP)
	$(BIN)/mkdocs serve

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) site .pytest_cache .hypothesis
