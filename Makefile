# The two commands of the README:  make serve  (build the site executing every answer, then serve it)
#                                  make test   (the whole test suite; what CI runs)
VENV     ?= .venv
BIN      := $(VENV)/bin
PROFILE  ?= site
export NO_MKDOCS_2_WARNING := 1
# idle torch threads sleep rather than spin, so other work on the machine slows a build less (answers/__init__.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: serve build test setup clean mutants

setup:
	@scripts/bootstrap.sh

# the answers are computed first, one process per core (answers build: progress, and what is left); the pages then
# read their stored results. A failing answer does not stop here: the strict build shows which claim failed
serve: setup
	-$(BIN)/python -m answers build --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS))
	ANSWERS_PROFILE=$(PROFILE) $(BIN)/mkdocs serve --strict

build: setup
	-$(BIN)/python -m answers build --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS))
	ANSWERS_PROFILE=$(PROFILE) ANSWERS_STRICT=1 $(BIN)/mkdocs build --strict

# tests train their small models into a cache inside the checkout, so a run never depends on leftovers; the
# suite includes a strict build of the whole site at the site profile (tests/conftest.py: built_site)
test: setup
	@scripts/ensure-chromium.sh
	ANSWERS_CACHE_DIR=$(CURDIR)/.cache/weights $(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf site .cache .pytest_cache mutants

# mutation testing of the core (answers/core, lab, kb, experiment.py, cli.py) on the fast tests, then the score per
# module; not part of make test or CI. MUTATE=answers/lab/smoothing.py limits it to some modules, MUTANT_TESTS to
# some tests; SHARED_WEIGHTS=1 lets every mutant load the weights the unmutated session trained (for modules
# no training runs: attacks, defenses, metrics); RETEST_TIMEOUTS=1 tests again the mutants that timed out last time
# (on a busy machine a mutant can time out only because the tests ran slowly).
mutants: setup
	@$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[mutants]'
	$(BIN)/python scripts/mutants.py $(if $(MUTATE),--only $(MUTATE)) $(if $(MUTANT_TESTS),--tests $(MUTANT_TESTS)) \
		$(if $(SHARED_WEIGHTS),--shared-weights) $(if $(RETEST_TIMEOUTS),--retest-timeouts)
