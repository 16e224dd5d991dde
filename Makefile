# The two commands a new user needs: `make demo` and `make test`.
# Both bootstrap what is missing (a .venv with the project, a Chromium) and skip what is present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (one server, browser and store each; idle workers steal queued
# tests, so the long ones do not leave a tail); 0 = one process
PYTEST_WORKERS ?= auto

.PHONY: setup browser npm demo test serve bench lint stress clean

setup: $(STAMP) browser npm

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# Find a Chromium (Playwright's managed one, a system one, or $$HARNESS_CHROMIUM); install one if none.
browser: $(STAMP)
	@$(BIN)/python -m harness.browser --quiet || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium (and its headless shell) with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1 || \
	      echo "no chromium-headless-shell package: headless runs use full chromium (slower)"; }; \
	  else \
	    echo "installing Playwright's chromium"; $(BIN)/playwright install chromium; \
	  fi; \
	  $(BIN)/python -m harness.browser; }

# The real tracking libraries the bundled profiles embed (profiles-npm/package-lock.json, integrity-checked):
# `harness install`, the command wheel users run too, fetches them once into the per-user folder
# ($HARNESS_LIBRARIES, else $XDG_DATA_HOME/intilery-harness/npm/<lock sha256>) and is a no-op when present.
# A checkout's own profiles-npm/node_modules (an older `make npm`, or `npm ci` there) is used first when present.
npm: $(STAMP)
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's npm with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "npm is missing: install Node.js (with npm) to use the analytics-next and rudderstack profiles"; exit 1; fi; }
	@$(BIN)/harness install

demo: setup
	$(BIN)/harness demo

# One pytest session: the whole suite against our library (the first --snippet), and the library-neutral
# tests (ini harness_library_neutral: conformance e2e, assertions, sign-up loss) also against the real
# @segment/analytics-next and @rudderstack/analytics-js. Each xdist worker shares its browser between the
# libraries and keeps one server per library; tests of one library's own options skip, saying why, and a
# library's measured differences from a claim are strict xfails (differs). Tests marked long start first.
# --harness-calendar: the clock-sensitive tests also run at month/year ends, a leap day, DST changes
# and far time zones (docs/time.md), so a red CI never depends on today's date (the time machine is
# library-independent: the calendar runs with the first library). --conformance-check: the run fails
# when a library's column of docs/conformance.md no longer matches what it measured.
SNIPPETS ?= intilery,analytics-next,rudderstack
test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --harness-calendar --snippet $(SNIPPETS) \
	  --conformance-check docs/conformance.md $(PYTEST_ARGS)

stress: setup
	$(BIN)/python -m pytest -m stress $(PYTEST_ARGS)

serve: setup
	$(BIN)/harness serve

bench: setup
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check harness tests benchmarks

clean:
	rm -rf .harness test-results .pytest_cache .ruff_cache
