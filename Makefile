# One entry point. `make plan` and `make test` set up venv/ themselves on first use.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev
STAMP := $(VENV)/.installed
# The policy pack (policy/) has its own virtualenv: pulumi-policy 1.21 pins protobuf 5, the program uses 6.
POLICY_VENV := policy/venv
POLICY_STAMP := $(POLICY_VENV)/.installed

.PHONY: plan test lint validate reference bench bench-sync bench-controller preview up image clean policy-test

$(STAMP): requirements.txt requirements-dev.txt requirements-controller.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(POLICY_STAMP): policy/requirements.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt pytest==9.2.0
	touch $(POLICY_STAMP)

plan: $(STAMP) ## offline plan of a stack under Pulumi mocks (default: dev)
	$(PY) -m plan $(STACK)

validate: $(STAMP) ## check a stack's configuration only
	$(PY) -m stacks validate $(STACK)

test: $(STAMP) $(POLICY_STAMP) ## lint, then the whole test suite, then the policy pack's tests
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2
	cd policy && venv/bin/python -m pytest -q tests

policy-test: $(STAMP) $(POLICY_STAMP) ## the policy pack's tests only (policy/venv; they plan stacks with venv/)
	cd policy && venv/bin/python -m pytest -q tests

reference: $(STAMP) ## regenerate docs/configuration.md, the configuration reference, from stacks/model.py
	$(PY) -m stacks reference --output docs/configuration.md

lint: $(STAMP) ## ruff (style, imports, likely bugs)
	$(VENV)/bin/ruff check .

bench: $(STAMP) ## benchmarks (figures printed, not asserted in unit tests)
	$(PY) bench/plan_scale.py

bench-sync: $(STAMP) ## BackendSync against the cloud emulator, 50 ELBs x 200 backends (~2 min; QUICK=1: seconds)
	$(PY) bench/sync_scale.py $(if $(QUICK),--quick)

bench-controller: $(STAMP) ## the controller as a process: 200-pod rolling update over 10 NLB groups, latency and calls (QUICK=1: smaller)
	$(PY) bench/controller_latency.py $(if $(QUICK),--quick)

preview up: ## the real Pulumi CLI against the selected stack
	@command -v pulumi >/dev/null 2>&1 || { \
	  echo "The Pulumi CLI is not installed, so 'make $@' cannot reach the cloud."; \
	  echo "Install it (https://www.pulumi.com/docs/install/: curl -fsSL https://get.pulumi.com | sh),"; \
	  echo "then: pulumi login <backend>; pulumi stack select $(STACK); make $@ STACK=$(STACK)."; \
	  echo "Offline, 'make plan STACK=$(STACK)' shows what would be declared."; \
	  exit 1; }
	pulumi $@ --stack $(STACK)

# The controller's image, as .github/workflows/image.yml builds it; IMAGE names it (push it yourself, or let the
# workflow do it). Offline, `make test` lints the Dockerfile (hadolint) and import-checks what it copies.
IMAGE ?= ack-edge-lb/controller:dev
image: ## build the in-cluster controller's image with Docker (IMAGE=<registry>/<name>:<tag>)
	@command -v docker >/dev/null 2>&1 || { \
	  echo "Docker is not installed, so 'make image' cannot build the controller image."; \
	  echo "The image workflow (.github/workflows/image.yml) builds and pushes it on pushes to main."; \
	  exit 1; }
	docker build --tag $(IMAGE) .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
