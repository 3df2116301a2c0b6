# The two set-up commands: `make synth` and `make test`. Both create .venv and install
# the pinned dependencies when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
export CHECKPOINT_DISABLE := 1

.PHONY: synth test lint verify bench clean

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## Synthesize the reference AWS and GCP stacks into cdktf.out/
synth: $(INSTALLED)
	$(PY) -O main.py  # -O: no jsii per-call type checks (tests keep them)
	@ls -1 cdktf.out/stacks

## Lint, type-check and run the unit and synth tests
test: $(INSTALLED)
	$(PY) -m ruff check circleci_network stacks tests main.py
	$(PY) -m mypy
	$(PY) -m pytest -m "not tools"

clean:
	rm -rf cdktf.out .pytest_cache .mypy_cache .ruff_cache .venv-checkov verify/node_modules

## Real tools, not assumptions: terraform validate, a deploy to moto_server, checkov and the
## cdktf CLI (tests/tools/). checkov gets its own venv: its pins clash with the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
CDKTF_CLI := verify/node_modules/.bin/cdktf

$(CHECKOV_INSTALLED): verify/checkov-requirements.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r verify/checkov-requirements.txt
	touch $@

$(CDKTF_CLI): verify/package.json verify/package-lock.json
	npm ci --prefix verify --no-audit --no-fund --loglevel=error
	touch $@

verify: $(INSTALLED) $(CHECKOV_INSTALLED) $(CDKTF_CLI)
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov CDKTF_CLI=$(CURDIR)/$(CDKTF_CLI) $(PY) -m pytest -m tools tests/tools

## Benchmark (~8 min): the plain way vs this library, the floor, 1/10/50 environments per cloud and the
## test suite, each in fresh processes; writes bench/results.{json,md}, the plot and README's bench section.
## Pass options with BENCH_ARGS, e.g. `make bench BENCH_ARGS="--repeat 1 --no-pytest"` (see bench/README.md).
BENCH_ARGS ?=
bench: $(INSTALLED)
	$(PY) -m bench $(BENCH_ARGS)
