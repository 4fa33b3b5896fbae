# BlueTrack's one task runner: people and CI (.ci/run -> `make test`) use the same targets.
#   make run   install what is missing, start the local stack, show its status
#   make test  install what is missing, lint, type-check, run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
BLUETRACK := $(VENV)/bin/bluetrack
PYTEST_ARGS ?=

.PHONY: help setup run test lint typecheck pytest bench down status clean clean-cache

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## install everything the stack and tests need (idempotent, cached in .cache/)
	@bash scripts/setup.sh

run: setup ## set up, start the local stack in the background, show it
	$(BLUETRACK) up
	$(BLUETRACK) status
	$(BLUETRACK) demo

# Lint, types and tests all run even if one fails, so one CI run reports every problem.
test: setup ## set up, then lint, typecheck and pytest (all of them, even after a failure)
	@failed=""; \
	$(MAKE) --no-print-directory lint || failed="$$failed lint"; \
	$(MAKE) --no-print-directory typecheck || failed="$$failed typecheck"; \
	$(MAKE) --no-print-directory pytest || failed="$$failed pytest"; \
	if [ -n "$$failed" ]; then echo "make test failed:$$failed"; exit 1; fi; \
	echo "make test: lint, typecheck and pytest passed"

lint: ## ruff check + ruff format --check (+ gofmt on go/)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@unformatted="$$(gofmt -l go/)"; if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

typecheck: ## mypy over src/bluetrack (settings in pyproject.toml)
	$(VENV)/bin/mypy

pytest: ## pytest over tests/ (PYTEST_ARGS="-m 'not slow'" to pick a subset)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup ## run the benchmarks (bench/)
	$(PY) -m bench

down: ## stop everything `bluetrack up` started
	@if [ -x $(BLUETRACK) ]; then $(BLUETRACK) down; else echo "nothing to stop (no .venv)"; fi

status: ## show every part of the local stack
	@if [ -x $(BLUETRACK) ]; then $(BLUETRACK) status; else echo "not set up: run make setup"; fi

clean: down ## stop the stack, remove its data (.run/) and build/test leftovers
	rm -rf .run build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

clean-cache: clean ## also remove downloads and builds (.cache/): the next setup is a cold one
	rm -rf .cache
