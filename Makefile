# Proof-of-Contribution Market: install, test, demo.
# Python goes into .venv (pinned by constraints.txt, torch 2.13.0 CPU among them),
# npm tools into node_modules (pinned by package-lock.json).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo compile clean-venv

install: $(STAMP) node_modules/.package-lock.json

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev,train,bench]"
	touch $(STAMP)

# `npm install` (not `npm ci`): it honours package-lock.json, while `npm ci` refuses the tree
# because an optional dependency deep under js-ipfs points at a GitHub tarball, which the
# registry-only network here cannot resolve (npm skips it as optional).
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund

# ruff (pyflakes, import order, tidy imports) over the tree, mypy over the core (market/, zk/protocol/);
# both configured in pyproject.toml. The layer rules themselves are tests/test_layers.py.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The test command of README.md (and of .ci/run): two workers (the crash, README and service tests
# mostly wait on processes), the gas report merged from both.
test: lint
	$(PY) -m pytest -q -n 2

# The main job: the demo market on the embedded chain and store, in one process.
demo: install
	$(VENV)/bin/market demo --json out/demo/demo.json

compile: install
	$(PY) scripts/compile_contracts.py

clean-venv:
	rm -rf $(VENV) node_modules

# The intake fuzz, long mode (issue 12): MARKET_FUZZ_CASES malformed submissions (default 10,000)
# through intake on the embedded store; prints the count per reason code, fails on any case
# that escapes, is accepted, or gets a reason outside its family's. CI runs 500 (tests/aggregator).
.PHONY: fuzz
fuzz: install
	$(PY) -m benchmarks.intake_fuzz

# The stateful money test, long mode (issue 12): 500 random sequences (~40 steps each; CI runs
# 12) with every invariant checked after every step, as two disjoint seeded batches of 250 side
# by side (out/stateful-stats-seed{1,2}.txt). STATEFUL_BATCH=n for shorter batches.
STATEFUL_BATCH ?= 250
.PHONY: stateful-long
stateful-long: install
	mkdir -p out; pids=""; for seed in 1 2; do \
	  MARKET_STATEFUL_SEQUENCES=$(STATEFUL_BATCH) MARKET_STATEFUL_SEED=$$seed $(PY) -m pytest -q -s -p no:cacheprovider \
	    --hypothesis-seed=$$seed tests/contracts/test_marketplace_stateful.py > out/stateful-long-seed$$seed.log 2>&1 & \
	  pids="$$pids $$!"; \
	done; status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	tail -n 3 out/stateful-long-seed1.log out/stateful-long-seed2.log; exit $$status
