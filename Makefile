# The user's interface. Every target creates what it needs on first use, so a fresh clone
# needs nothing installed by hand. Run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= dev
# `make local` runs ENV=local unless ENV names another local environment (local-fleet, local-*)
LOCAL_ENV = $(if $(filter local local-%,$(ENV)),$(ENV),local)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV := .venv-checkov/bin/checkov
TASKCAT := .venv-taskcat/bin/taskcat
PIPEKIT := $(PY) -m pipekit
# Extra flags for the harness, e.g. ARGS="--yes" or ARGS="--force".
ARGS ?=
# pytest-xdist workers for `make test`: most of a host test's time is waiting on timers (health
# checks, drains, the hosts' boots), so more workers than this 2-core machine's cores pays off;
# each worker takes a whole module at a time, in the order tests/conftest.py gives them (not
# xdist's default, most tests first, which left the longest single-test modules for last).
TEST_WORKERS ?= 3

# pip, quietly: this machine's pip.conf names extra local indexes, some of them empty, and pip
# warns about each one; keep pip's own errors and exit status.
pip_install = set -o pipefail; $(1)/bin/pip install --quiet --disable-pip-version-check -r $(2) 2>&1 \
	| { grep -v 'is ignored: it is neither a file nor a directory' || true; }

.PHONY: help setup host-deps lint test test-fast test-iam-mutations local local-down publish deploy \
        status why redeploy approve config destroy test-e2e test-e2e-alarm test-taskcat bench clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements/main.txt
	@echo "==> Creating the main Python environment in $(VENV) (about a minute the first time)"
	@$(PYTHON) -m venv $(VENV)
	@$(call pip_install,$(VENV),requirements/main.txt)
	@touch $@

.venv-checkov/.stamp: requirements/checkov.txt
	@echo "==> Creating the checkov environment in .venv-checkov (its pins clash with boto3)"
	@$(PYTHON) -m venv .venv-checkov
	@$(call pip_install,.venv-checkov,requirements/checkov.txt)
	@touch $@

.venv-awscli/.stamp: requirements/awscli.txt
	@echo "==> Creating the AWS CLI environment in .venv-awscli (local builds run it; its botocore pin clashes with boto3)"
	@$(PYTHON) -m venv .venv-awscli
	@$(call pip_install,.venv-awscli,requirements/awscli.txt)
	@touch $@

.venv-taskcat/.stamp: requirements/taskcat.txt
	@echo "==> Creating the taskcat environment in .venv-taskcat (its pins clash with boto3)"
	@$(PYTHON) -m venv .venv-taskcat
	@$(call pip_install,.venv-taskcat,requirements/taskcat.txt)
	@touch $@

setup: ## Create the Python environments and install host packages (side by side)
	@$(MAKE) --no-print-directory -j4 $(VENV)/.stamp .venv-checkov/.stamp .venv-awscli/.stamp host-deps

host-deps: ## Install the Debian packages the local systemd host needs (systemd-nspawn, debootstrap)
	@bash .ci/host-deps

lint: $(VENV)/.stamp .venv-checkov/.stamp ## ruff, cfn-lint (informational rules too), parameter files, checkov, shellcheck
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/cfn-lint --include-checks I -- templates/*.yaml
	$(PIPEKIT) lint
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -d templates
	shellcheck scripts/*.sh .ci/run .ci/host-deps

test: setup lint ## Everything CI runs: lint, then all tests (local systemd hosts and both fleet e2e scenarios included)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test-e2e-alarm: setup ## The fleet e2e's alarm scenario alone (about 4 minutes; make test runs it too)
	$(PY) -m pytest -m alarm_e2e tests/e2e/test_local_fleet.py

test-fast: $(VENV)/.stamp ## Tests that need no systemd host
	$(PY) -m pytest -m "not host"

test-iam-mutations: $(VENV)/.stamp ## Take each IAM permission away in turn: the step needing it must fail
	$(PY) -m tests.bench.iam_mutations $(ARGS)

local: setup ## Run the whole pipeline on this machine, no AWS account needed (ENV=local-fleet: fleet mode)
	$(PIPEKIT) local up --env $(LOCAL_ENV) $(ARGS)

local-down: $(VENV)/.stamp ## Stop local mode: no process or mount left behind
	$(PIPEKIT) local down $(ARGS)

publish: $(VENV)/.stamp ## Upload the templates to S3 and print the console launch link
	$(PIPEKIT) publish --env $(ENV) $(ARGS)

deploy: $(VENV)/.stamp ## Create or update the stack for ENV (dev, prod, local) through a change set
	$(PIPEKIT) deploy --env $(ENV) $(ARGS)

status: $(VENV)/.stamp ## Recent pipeline runs, stage states, last deployment, live version
	$(PIPEKIT) status --env $(ENV) $(ARGS)

why: $(VENV)/.stamp ## Why the latest failed run failed, and the way out (ARGS="--execution ID | --commit SHA")
	$(PIPEKIT) why --env $(ENV) $(ARGS)

redeploy: $(VENV)/.stamp ## Deploy an earlier build (ARGS="--commit SHA --ignore-application-stop-failures")
	$(PIPEKIT) redeploy --env $(ENV) $(ARGS)

approve: $(VENV)/.stamp ## Approve the run waiting before Deploy (ARGS="--reject --comment '...' --execution ID")
	$(PIPEKIT) approve --env $(ENV) $(ARGS)

config: $(VENV)/.stamp ## The app's settings in Parameter Store (ARGS="set NAME VALUE [--secure]" or ARGS=list)
	$(PIPEKIT) config --env $(ENV) $(ARGS)

destroy: $(VENV)/.stamp ## Empty the stack's buckets and delete the stack (prod needs ARGS=--force)
	$(PIPEKIT) destroy --env $(ENV) $(ARGS)

test-e2e: $(VENV)/.stamp ## Commit, watch it go live, break it, watch it roll back, restore
	$(PIPEKIT) e2e --env $(ENV) $(ARGS)

test-taskcat: .venv-taskcat/.stamp ## Run the taskcat tests in AWS (needs credentials)
	$(TASKCAT) test run

bench: $(VENV)/.stamp ## A release timed per step from the services' records (ARGS="--last N" reads, no push)
	$(PIPEKIT) bench --env $(ENV) $(ARGS)

clean: ## Remove the Python environments and build output (not the cached host filesystem)
	rm -rf $(VENV) .venv-checkov .venv-awscli .venv-taskcat build .pytest_cache taskcat_outputs
