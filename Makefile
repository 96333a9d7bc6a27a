PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-faults lint install clean histories bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/renewals dev

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# Unit and workflow tests only (no dev server, no subprocesses): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit tests/workflows $(PYTEST_ARGS)

# The fault suite (R20): outages and crashes on real parts, each case ending with the audit clean.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Figures for the quote lifecycle on the embedded stack (the running `renewals dev`, or a private one).
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache

# Record again the current path histories the replay test checks, after a change to a workflow
# (docs/operations.md, "Changing a workflow"); tests/histories/before-<patch>/ are never touched.
histories: $(STAMP)
	rm -f tests/histories/*.json
	RECORD_HISTORIES=1 $(BIN)/pytest tests/workflows/test_replay.py -k test_record_
