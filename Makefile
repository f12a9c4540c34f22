# The two commands: `make run` (demo zone on SQLite, development login) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEV_ENV := PMSC_ENV=development PMSC_DEV_LOGIN=1

.PHONY: run test lint bench install clean messages

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	$(DEV_ENV) $(BIN)/pmsc db upgrade
	$(DEV_ENV) $(BIN)/pmsc demo --if-empty
	$(DEV_ENV) $(BIN)/pmsc rollups recompute
	$(DEV_ENV) $(BIN)/pmsc serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# `make test` with the robustness suites in their exhaustive mode (tests/robustness/stats.py:
# every bad value on every field, every enum value, more objects probed per operation)
.PHONY: test-long
test-long: lint
	PMSC_TEST_LONG=1 $(BIN)/pytest $(PYTEST_ARGS)

# benchmarks (issue 5, B1-B7): not part of `make test`; they need PostgreSQL and Redis (started
# here when not answering, as .ci/run does); figures go to tests/perf/RESULTS.md
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13
bench: $(STAMP)
	bash .ci/services
	PMSC_TEST_DATABASE_URL=$${PMSC_TEST_DATABASE_URL:-$(BENCH_DATABASE_URL)} \
	PMSC_TEST_REDIS_URL=$${PMSC_TEST_REDIS_URL:-$(BENCH_REDIS_URL)} \
		$(BIN)/python -m tests.perf.run_all

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

# the pages' message catalogues: extract, merge into each language's .po, compile the .mo
# files (committed: the app reads them as they are, no build step at install)
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k msg --no-location --sort-output \
		-o service/translations/messages.pot service
	$(BIN)/pybabel update -i service/translations/messages.pot -d service/translations \
		--ignore-obsolete
	$(BIN)/pybabel compile -d service/translations
