# make demo | make test | make bench — each creates .venv if missing and installs the package.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch lies on these machines' disk; override e.g. TORCH_SPEC="torch==2.13.0 --index-url ..." elsewhere.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint reliability-report results bench bench-quick install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e ".[dev,openai]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lit-agents fit --config configs/tinyllm.yaml

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15 tests

# ruff over the whole tree at the rule set in pyproject.toml ([tool.ruff]); CI runs it before the suite
lint: $(STAMP)
	$(BIN)/ruff check .

# the quick loop while developing: everything but the end-to-end CLI runs marked slow (CI runs them all)
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 -m "not slow" tests

# docs/reliability.md: what the reliability tests tried and what happened (faults, bad inputs, counts)
RELIABILITY_TESTS = tests/reliability tests/test_checkpoint_io.py tests/test_generation_faults.py
reliability-report: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 $(RELIABILITY_TESTS) --reliability-report docs/reliability.md

# docs/results.md: every showcase comparison (method vs baselines, seeds 42-44) through the CLI, resumable, with
# the ReLiable and PlayBest sections (per-seed bootstrap intervals, lit_agents/results_rl.py)
results: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m lit_agents.results

# every benchmark, then one table (benchmark, ours, peer, ratio, goal, met?), also written to docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/pip install -q -e ".[dev,openai,bench]"
	$(BIN)/python benchmarks/_run_all.py

# each benchmark's seconds-long --quick smoke run, the same table (writes no page)
bench-quick: $(STAMP)
	$(BIN)/pip install -q -e ".[dev,openai,bench]"
	$(BIN)/python benchmarks/_run_all.py --quick

clean:
	rm -rf $(VENV) runs .pytest_cache
