# The two set-up commands: `make synth` and `make test`. Both create .venv and install the
# pinned dependencies (constraints.txt) and node (.tools/node) when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# jsii runs on node 24 LTS (supported to 2028-04-30), from the npm package `node` pinned in
# .tools/node/package-lock.json: the machine's node (20 here) is end-of-life. First on PATH for
# every target, so jsii, cdktf-cli and the tests all run on it.
NODE_DIR := .tools/node
NODE_INSTALLED := $(NODE_DIR)/node_modules/.installed
export PATH := $(CURDIR)/$(NODE_DIR)/node_modules/.bin:$(PATH)
export CHECKPOINT_DISABLE := 1
# cdktf 0.21 (archived) calls util.isArray, which node 22+ reports once per process (DEP0044).
export NODE_OPTIONS := --disable-warning=DEP0044 $(NODE_OPTIONS)

.PHONY: synth test lint verify wheel bench node cdktf-cli clean

$(NODE_INSTALLED): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	$(NODE_DIR)/node_modules/.bin/node --version
	touch $@

node: $(NODE_INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[aws,gcp,dev]'
	touch $@

## Synthesize the reference AWS and GCP stacks into cdktf.out/
synth: $(INSTALLED) $(NODE_INSTALLED)
	$(PY) -O main.py  # -O: no jsii per-call type checks (tests keep them)
	@ls -1 cdktf.out/stacks

## Lint, type-check and run the unit and synth tests
test: $(INSTALLED) $(NODE_INSTALLED)
	$(PY) -m ruff check circleci_network stacks tests main.py
	$(PY) -m mypy
	$(PY) -m pytest -m "not tools"

clean:
	rm -rf cdktf.out .pytest_cache .mypy_cache .ruff_cache .venv-checkov verify/node_modules .build build $(NODE_DIR)/node_modules

## The wheel users install: built from the project's own files, its contents checked, then installed
## into a fresh venv with only [aws] (tests/packaging). The sdist too: a wheel rebuilt from it must
## hold the same files. Writes .build/dist/.
WHEEL_DIR := .build/dist
wheel: $(INSTALLED) $(NODE_INSTALLED)
	rm -rf $(WHEEL_DIR) build  # setuptools reuses build/: a stale file there would land in the wheel
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(WHEEL_DIR) .
	$(PY) -m build --sdist --outdir $(WHEEL_DIR) . >/dev/null
	CIRCLECI_NETWORK_WHEEL="$$(ls $(CURDIR)/$(WHEEL_DIR)/circleci_network-*.whl)" \
	CIRCLECI_NETWORK_SDIST="$$(ls $(CURDIR)/$(WHEEL_DIR)/circleci_network-*.tar.gz)" \
	  $(PY) -m pytest -m tools tests/packaging

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

# cdktf-cli's node-pty ships no prebuilt module for node 24: npm builds it (C++ compiler), and must use
# our node's headers (shipped in the npm package), not the machine's npm default (Debian: node 20's).
$(CDKTF_CLI): verify/package.json verify/package-lock.json $(NODE_INSTALLED)
	npm_config_nodedir="$$(dirname $$(ls -d $(CURDIR)/$(NODE_DIR)/node_modules/node/node_modules/node-*/include))" \
	  npm ci --prefix verify --no-audit --no-fund --loglevel=error
	touch $@

cdktf-cli: $(CDKTF_CLI)

verify: $(INSTALLED) $(NODE_INSTALLED) $(CHECKOV_INSTALLED) $(CDKTF_CLI)
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov CDKTF_CLI=$(CURDIR)/$(CDKTF_CLI) $(PY) -m pytest -m tools tests/tools

## Benchmark (~8 min): the plain way vs this library, the floor, 1/10/50 environments per cloud and the
## test suite, each in fresh processes; writes bench/results.{json,md}, the plot and README's bench section.
## Pass options with BENCH_ARGS, e.g. `make bench BENCH_ARGS="--repeat 1 --no-pytest"` (see bench/README.md).
BENCH_ARGS ?=
bench: $(INSTALLED) $(NODE_INSTALLED)
	$(PY) -m bench $(BENCH_ARGS)
