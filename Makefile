# Build and test harness for the alicloud.ecs collection (the repository root is the collection).
#
# Developer notes
# ---------------
#   make test        lint, ansible-test sanity, then ONE pytest run over tests/unit, tests/emulator
#                    and tests/integration; pytest's summary line is the last thing printed. A failing
#                    step does not stop the later ones, but any failure makes the target fail.
#   make test-fast   the same pytest run without the tests marked slow (the 10,000- and 1,000-instance
#                    scale runs, the 100 MB transfer), for local loops; no lint or sanity. CI runs everything.
#   make demo        the walking skeleton: emulator with the demo fleet + playbooks/demo.yml
#   make test-matrix sanity, unit tests and the end-to-end smoke on every supported ansible-core line,
#                    each in its own .venv-<line> (MATRIX_LINES="2.17" for some lines only)
#   make lint | sanity | unit | emulator-tests | integration | bench | clean | distclean
#
# Python: scripts/pick-python chooses the newest CPython >= 3.12 (python3.14/3.13/3.12 on PATH, then
# pyenv builds); with only 3.10/3.11 it prints one notice and requirements-dev.txt selects the newest
# ansible-core for that Python. Override with `make PYTHON=/path/to/python` (the venv is rebuilt if
# it was made with another interpreter).
#
# .venv is created once; scripts/venv reinstalls only when requirements*.txt or the interpreter
# change (stamp: .venv/.requirements.sha256). `make distclean` throws it away.
#
# The collection is seen by ansible through .build/collections/ansible_collections/alicloud/ecs, a
# symlink to this checkout, so edits are live. ANSIBLE_COLLECTIONS_PATH points there for every
# target, and ANSIBLE_CONFIG pins a config file so a stray ~/.ansible.cfg cannot change results.
#
# ansible-test sanity needs a real ansible_collections/alicloud/ecs directory, so scripts/sanity
# copies the files git knows about to .build/sanity/... and runs `ansible-test sanity --venv` there
# for the venv's Python version only. It also installs an offline stand-in for the get-pip script
# ansible-test would download (scripts/get_pip_stub.py, into ~/.ansible/test/cache).
# Extra options: `make sanity SANITY_ARGS="--test pylint"`. Ignore files under tests/sanity stay
# empty; nothing under plugins/ may ever be ignored.
#
# Extra pytest options: `make unit PYTEST_ARGS="-k client -x"`, or `PYTEST_ARGS="-n auto"` for
# pytest-xdist.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(CURDIR)
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
BUILD := $(ROOT)/.build
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/alicloud/ecs
REQUIREMENTS := requirements-dev.txt requirements.txt
PYTEST_ARGS ?=
# Two pytest workers: the end-to-end tests mostly wait on emulated instances and polls, so two at once
# halve the wall time on a 2-core machine. loadfile keeps each test file (and its module-scoped emulator)
# on one worker. `make test PYTEST_WORKERS=0` runs them one after the other.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
SANITY_ARGS ?=
# Empty: every line scripts/test-matrix knows (all that meta/runtime.yml admits).
MATRIX_LINES ?=
TEST_DIRS := tests/unit tests/emulator tests/integration

# Everything run from a recipe uses the venv's tools and this checkout as alicloud.ecs.
export PATH := $(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(VENV)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
unexport ANSIBLE_COLLECTIONS_PATHS
export ANSIBLE_CONFIG ?= $(if $(wildcard $(ROOT)/ansible.cfg),$(ROOT)/ansible.cfg,$(BUILD)/ansible.cfg)
# Runs in CI have no terminal; keep ansible's output plain there.
ifdef CI
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1
endif
# Pass an explicit interpreter choice through to scripts/venv.
export PYTHON

.PHONY: help venv collection system-deps lint sanity unit emulator-tests integration test test-fast test-matrix demo bench
.PHONY: clean distclean

help:
	@sed -n '3,13p' Makefile | sed 's/^# \{0,1\}//'

venv:
	@scripts/venv "$(VENV)" $(REQUIREMENTS)

collection: $(COLLECTION_LINK) $(BUILD)/ansible.cfg

$(COLLECTION_LINK):
	@mkdir -p "$(@D)"
	@ln -sfn "$(ROOT)" "$@"

# An empty config: ansible's defaults, plus the environment exported above.
$(BUILD)/ansible.cfg:
	@mkdir -p "$(@D)"
	@printf '# Written by the Makefile: ansible defaults, no user or system config.\n[defaults]\n' > "$@"

# All four linters run; the target fails if any of them did.
lint: venv collection
	@failed=""; \
	echo "ansible-lint (profile: production)"; ansible-lint || failed="$$failed ansible-lint"; \
	echo "yamllint --strict ."; yamllint --strict . || failed="$$failed yamllint"; \
	echo "antsibull-changelog lint"; antsibull-changelog lint || failed="$$failed antsibull-changelog"; \
	echo "galaxy-importer (the built tarball)"; scripts/galaxy-importer || failed="$$failed galaxy-importer"; \
	if [[ -n "$$failed" ]]; then echo "make lint: FAILED:$$failed"; exit 1; fi

sanity: venv collection
	scripts/sanity "$(VENV)" $(SANITY_ARGS)

# Each pytest target is one pytest run; "no tests collected" (exit 5) fails (scripts/run-pytest).
unit: venv collection
	@scripts/run-pytest tests/unit -- $(PYTEST_ARGS)

emulator-tests: venv collection
	@scripts/run-pytest tests/emulator -- $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Tools the emulated instances borrow from this machine (sudo, crontab).
system-deps:
	@scripts/system-deps

integration: venv collection system-deps
	@scripts/run-pytest tests/integration -- $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Lint and sanity first, each allowed to fail without hiding the rest; then ONE pytest run over all
# test directories, so its summary line ends the output. Non-zero exit if any part failed.
test: venv collection system-deps
	@failed=""; \
	$(MAKE) lint || failed="$$failed lint"; \
	$(MAKE) sanity || failed="$$failed sanity"; \
	if [[ -n "$$failed" ]]; then echo "make test: FAILED:$$failed (running pytest anyway)"; fi; \
	rc=0; scripts/run-pytest $(wildcard $(TEST_DIRS)) -- $(PYTEST_PARALLEL) $(PYTEST_ARGS) || rc=$$?; \
	if [[ -n "$$failed" && $$rc -eq 0 ]]; then rc=1; fi; \
	exit $$rc

# The same pytest run without the tests marked slow (pytest.ini registers the marker); `make test` and CI run them.
test-fast: venv collection system-deps
	@scripts/run-pytest $(wildcard $(TEST_DIRS)) -- -m "not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The emulator runs from .venv; each line's tests run from its own .venv-<line> (scripts/test-matrix).
test-matrix: venv collection system-deps
	@scripts/test-matrix "$(VENV)" $(MATRIX_LINES)

demo: venv collection
	python -m emulator run --fleet emulator/fleets/demo.yml -- \
		ansible-playbook -i playbooks/inventory/demo.alicloud_ecs.yml playbooks/demo.yml

# openssh-server gives the benchmark its ssh row (a loopback sshd it starts and stops itself). The inventory
# peer (amazon.aws aws_ec2 on a local moto server) needs bench-only extras: boto3 and moto in the venv, and
# amazon.aws from PyPI's ansible package under .build/bench-peer; without them its rows are skipped.
BENCH_PEER_ANSIBLE := ansible==14.5.0
# Options for python -m bench (python -m bench --help), e.g. BENCH_ARGS="--inventory-sizes 1000 --tasks 2".
BENCH_ARGS ?=
bench: venv collection system-deps
	@scripts/system-deps openssh-server:sshd
	@pip install -q -r bench/requirements-peer.txt || echo "bench: bench/requirements-peer.txt not installed"
	@[ -d "$(BUILD)/bench-peer/ansible_collections/amazon/aws" ] || \
		pip install -q --no-deps --target "$(BUILD)/bench-peer" "$(BENCH_PEER_ANSIBLE)" || \
		echo "bench: amazon.aws not installed"
	python -m bench $(BENCH_ARGS)

clean:
	rm -rf "$(BUILD)" tests/output .pytest_cache .ansible
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf "$(VENV)" $(ROOT)/.venv-*
