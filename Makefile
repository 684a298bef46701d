# drivestack: two commands set everything up on a fresh machine.
#   make demo   create .venv, install, run the main job on the embedded default
#   make test   create .venv, install, run ruff, mypy and the whole test suite
# DATA: a folder of CommonRoad files for the demo; empty (the default) means a sample the generator makes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?=
STAMP  := $(VENV)/.installed
# the test suite's processes (pytest-xdist): the machine's cores, at most 2
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 2 ] && n=2; echo $$n)
# commonroad-io (the reference reader) pins protobuf 3.20.2, which clashes with ray: it lives in its
# own small venv used only by the cross-check test.
CROSSCHECK_VENV  ?= .venv-crosscheck
CROSSCHECK_STAMP := $(CROSSCHECK_VENV)/.installed
# av2 (the Argoverse 2 devkit) declares torch and CUDA wheels it does not need for reading: it lives in
# its own venv, installed with --no-deps from fully pinned requirements.
AV2_VENV  ?= .venv-crosscheck-av2
AV2_STAMP := $(AV2_VENV)/.installed

.PHONY: demo test lint typecheck pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

$(CROSSCHECK_STAMP): tests/crosscheck/requirements.txt
	$(PYTHON) -m venv $(CROSSCHECK_VENV)
	$(CROSSCHECK_VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(CROSSCHECK_VENV)/bin/pip install --quiet -r tests/crosscheck/requirements.txt
	touch $(CROSSCHECK_STAMP)

$(AV2_STAMP): tests/crosscheck/av2-requirements.txt
	$(PYTHON) -m venv $(AV2_VENV)
	$(AV2_VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(AV2_VENV)/bin/pip install --quiet --no-deps -r tests/crosscheck/av2-requirements.txt
	touch $(AV2_STAMP)

demo: $(STAMP)
	$(BIN)/drivestack demo $(if $(DATA),--data $(DATA))

lint: $(STAMP)
	$(BIN)/ruff check drivestack tests benchmarks
	$(BIN)/ruff format --check drivestack tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(CROSSCHECK_STAMP) $(AV2_STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(CROSSCHECK_VENV) $(AV2_VENV) .pytest_cache .mypy_cache .ruff_cache
