# lakewatch: every entry point bootstraps what it needs (.venv, npm packages, Lambda deps) from nothing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# The build machines run Node 20 (past end-of-life, still working with this CDK); say so once, here, instead
# of a banner in every synth and test run. Remove when they move to Node 22+.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Lambda runtime deps (arm64 wheels), fetched at bootstrap so that `cdk synth` never needs the network, for the
# Lambda Python version declared once in stacks/lambda_runtime.py (one folder per version: never stale wheels).
LAMBDA_PYTHON_VERSION := $(shell sed -n 's/^LAMBDA_PYTHON_VERSION = "\([0-9.]*\)"$$/\1/p' stacks/lambda_runtime.py)
LAMBDA_DEPS_DIR := .build/lambda-deps-py$(LAMBDA_PYTHON_VERSION)
LAMBDA_DEPS_STAMP := $(LAMBDA_DEPS_DIR)/.installed

.PHONY: bootstrap demo test synth lint bench config-docs clean

bootstrap: $(VENV_STAMP) $(NODE_STAMP) $(LAMBDA_DEPS_STAMP)

$(VENV_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(LAMBDA_DEPS_STAMP): lambdas/requirements.txt stacks/lambda_runtime.py $(VENV_STAMP)
	test -n "$(LAMBDA_PYTHON_VERSION)"
	rm -rf $(LAMBDA_DEPS_DIR)
	$(PY) -m pip install --quiet --disable-pip-version-check --target $(LAMBDA_DEPS_DIR)/python \
		--platform manylinux2014_aarch64 --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: -r lambdas/requirements.txt
	touch $@

demo: $(VENV_STAMP)
	$(PY) -m lakewatch demo --out out/demo

test: bootstrap
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		echo "make test: chromium is not installed, so the report's browser test is skipped (apt-get install chromium; .ci/run installs it)"
	$(PY) -m pytest
	$(MAKE) --no-print-directory synth

synth: bootstrap
	npx --no-install cdk synth --quiet

lint: $(VENV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# README's configuration table is generated from stacks/config.py (a test fails when it is stale).
config-docs: $(VENV_STAMP)
	$(PY) -m stacks.config_docs

bench: $(VENV_STAMP)
	$(PY) -m lakewatch bench

clean:
	rm -rf .build cdk.out out .pytest_cache
