# Sorami — one Makefile for development, tests and the local system.
# Quick start: `make run` (install, start everything, run the demo), then `make test`.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR := .run
PYTEST := $(BIN)/python -m pytest
PYTEST_OPTS ?=
# TEST_WORKERS=3: make test / test-e2e / test-integration run the tests in 3 pytest-xdist
# processes (each takes a whole test file or group at a time; every whole-system test in one
# "system" lane: tests/conftest.py). 0 (the default, what CI runs): one process, in order.
TEST_WORKERS ?= 0
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

DISTS := shared services/gateway services/notifier services/generator services/cli
PYPROJECTS := $(foreach d,$(DISTS),$(d)/pyproject.toml)

.PHONY: help install up down reset ps logs run demo test test-unit test-integration test-e2e services browser lint clean
.DEFAULT_GOAL := help

help: ## list the targets (this)
	@echo "Sorami: make TARGET (README.md, Make targets)"
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z0-9-]*:[^=]*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## the .venv with every service installed editable (torch pinned)

# PYTHONWARNINGS=ignore silences setuptools' "Editable installation" build warnings (they
# are about folders named like a package; ours are meant to be imported from here).
$(VENV)/.installed: $(PYPROJECTS) requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, exactly pinned: the machine's CPU wheel, not the registry's CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e 'shared[s3,tokens,db]' -e services/gateway -e services/notifier -e services/generator -e services/cli -r requirements-dev.txt
	@# A venv from before the CLI left the gateway: upgrading the gateway may remove the
	@# `sorami` script that sorami-cli has just installed; put it back.
	@test -x $(BIN)/sorami || PYTHONWARNINGS=ignore $(BIN)/pip install -q --no-deps --force-reinstall -e services/cli
	@touch $@

services: ## start PostgreSQL and RabbitMQ if they are not running
	@scripts/ensure-services.sh

browser: ## install chromium (apt) for the browser tests if missing
	@scripts/ensure-browser.sh

up: install services ## start everything in the background; returns once /readyz answers 200
	@$(BIN)/python scripts/sorami_up.py

down: ## stop everything make up started
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/sorami_down.py; else python3 scripts/sorami_down.py; fi

# make down, then drop the development databases, delete Sorami's queues in the broker and
# clear .data/media: the next make up starts empty (no jobs left from an earlier run).
reset: install services ## make down, then drop the dev databases, queues and .data/media
	@$(BIN)/python scripts/sorami_reset.py

ps: ## each process: pid, state, restarts, uptime
	@$(BIN)/python scripts/supervisor.py --status

logs: ## follow every log (.run/logs/*.log)
	@ls $(RUN_DIR)/logs/*.log >/dev/null 2>&1 || { echo "no logs in $(RUN_DIR)/logs yet: start Sorami with make up"; exit 1; }
	@tail -n 50 -F $(RUN_DIR)/logs/*.log

demo: install ## an image and a video as user demo; files in .data/demo/
	@$(BIN)/python scripts/demo.py

run: up demo ## make up + make demo; the last line printed is the web app's URL

test: install services browser ## every tier (what CI runs; TEST_WORKERS=3: in 3 processes)
	$(PYTEST) tests $(XDIST) $(PYTEST_OPTS)

test-unit: install ## unit tests only
	$(PYTEST) tests/unit $(PYTEST_OPTS)

test-integration: install services ## integration tests only
	$(PYTEST) tests/integration $(XDIST) $(PYTEST_OPTS)

test-e2e: install services browser ## end-to-end tests only (browser included)
	$(PYTEST) tests/e2e $(XDIST) $(PYTEST_OPTS)

lint: install ## ruff
	$(BIN)/ruff check shared services tests scripts

clean: down ## make down, then remove .venv and .run
	rm -rf $(VENV) $(RUN_DIR)

.PHONY: test-faults test-chaos-cluster
# The fault-injection run (issues 5 and 18), also part of `make test`: >= 300 jobs on a private
# 3-node RabbitMQ cluster, two generator replicas, every process SIGKILLed twice, a broker node
# killed and brought back, another partitioned, connection cuts, database outages, duplicates
# and poison; prints lost/duplicated/ok. Figures go to .run/faults-last-run.json.
test-faults: install services ## the fault run alone (300 jobs, 3-node RabbitMQ cluster)
	@mkdir -p $(RUN_DIR)
	SORAMI_FAULTS_REPORT=$(RUN_DIR)/faults-last-run.json $(PYTEST) tests/faults -s $(PYTEST_OPTS)

# The same schedule with >= 2,000 jobs (round after round while jobs are submitted);
# docs/reliability.md quotes its figures (.run/chaos-cluster-run.json).
test-chaos-cluster: install services ## the fault schedule with 2,000 jobs
	@mkdir -p $(RUN_DIR)
	SORAMI_FAULTS_IMAGES=$(or $(SORAMI_FAULTS_IMAGES),1600) SORAMI_FAULTS_VIDEOS=$(or $(SORAMI_FAULTS_VIDEOS),400) \
	SORAMI_FAULTS_SETTLE_S=$(or $(SORAMI_FAULTS_SETTLE_S),3600) SORAMI_FAULTS_PENDING_LEASE_S=3600 \
	SORAMI_FAULTS_REPORT=$(RUN_DIR)/chaos-cluster-run.json $(PYTEST) tests/faults -s $(PYTEST_OPTS)

.PHONY: live-figures
# Issue 7's figures: cancel latency (request -> generator stopped, in ms and denoising steps)
# and the event stream's delivery latency, median and p99, measured on the whole system.
live-figures: install services ## cancel and event-stream latency figures
	$(PYTEST) tests/e2e/test_live.py -s -q $(PYTEST_OPTS) | grep -E '^\[e2e\]|passed|failed'

.PHONY: security-figures
# Issue 6's figures: the isolation matrix's size and the schema fuzzing's request count and
# failures (longer run: make security-figures SORAMI_FUZZ_EXAMPLES=200).
security-figures: install services ## isolation matrix and schema fuzzing figures
	SORAMI_FUZZ_EXAMPLES=$(or $(SORAMI_FUZZ_EXAMPLES),40) $(PYTEST) tests/integration/security/test_isolation_matrix.py tests/integration/security/test_fuzz_openapi.py -s -q $(PYTEST_OPTS) | grep -E '^\[(isolation|fuzz)\]|passed|failed'

.PHONY: bench-gpu bench-smoke
# Issue 13's figures: plain pipe() vs the generator's batching path on a full-size SD-1.x-class
# model and an AnimateDiff-class video model (random weights, CUDA). BENCH_ARGS=--compile adds
# torch.compile. bench-smoke runs the same script on the CPU with the tiny models.
# FAMILY=sdxl|flux-schnell|wan-1.3b (or BENCH_ARGS=--family ...) benches that family's
# full-size random-weight build alone (families.py), with MFU.
bench-gpu: install ## the generator's throughput benchmark on CUDA (FAMILY=sdxl|flux-schnell|wan-1.3b)
	$(BIN)/python services/generator/benchmarks/throughput.py $(if $(FAMILY),--family $(FAMILY)) $(BENCH_ARGS)

bench-smoke: install ## the same benchmark on the CPU, tiny models
	$(BIN)/python services/generator/benchmarks/throughput.py --smoke $(if $(FAMILY),--family $(FAMILY)) $(BENCH_ARGS)

.PHONY: bench-encode
# Issue 27's figures: encode ms and bytes of one 512x512 image per output format (png, jpeg,
# webp at two compressions), and the encode pool against one-after-another.
bench-encode: install ## encode ms and bytes per output format at 512x512 (BENCH_ARGS=--smoke)
	$(BIN)/python services/generator/benchmarks/encoding.py $(BENCH_ARGS)

.PHONY: bench-previews
# Issue 27's preview overhead: 20-step tiny-image jobs through the JobProcessor with previews
# off, at the defaults and at 4 per job, interleaved; each mode's ratio to previews off.
bench-previews: install ## live previews' cost per job on the CPU, as a ratio to none (BENCH_ARGS=--smoke)
	$(BIN)/python services/generator/benchmarks/previews.py $(BENCH_ARGS)

.PHONY: bench-gateway
# Issue 14's figures: the create path at 1 and 2 api workers, its bare-asyncpg ceiling, p99 at
# an offered rate, status polls, RSS with 1,000 idle event streams (about 1-2 minutes; one
# scratch database). BENCH_ARGS=--smoke for a quick run.
bench-gateway: install services ## the gateway's create/poll/stream benchmark
	$(BIN)/python services/gateway/benchmarks/post_throughput.py $(BENCH_ARGS)

.PHONY: bench-scheduler
# The scheduler under a 1000-job batch and 5 interactive users, fair vs FIFO (the whole system,
# the instant model with a set call time): waits, throughput, fairness, position accuracy.
bench-scheduler: install services ## the scheduler: a 1000-job batch + 5 interactive users, fair vs FIFO (BENCH_ARGS=--smoke)
	$(BIN)/python scripts/bench_scheduler.py $(BENCH_ARGS)

.PHONY: bench-system bench-system-gpu-rate
# Issue 23's figures: the whole system (every service, a private RabbitMQ node, fresh
# databases) with one-image jobs from many users; each process's CPU ms per job (from /proc),
# jobs/s, a lone job's latency, every user's event stream checked. Instant model and
# tiny-image at 4 and 20 steps (a few minutes). BENCH_ARGS=--smoke for a quick run.
bench-system: install services ## the whole system: CPU ms per job per process, jobs/s (BENCH_ARGS=--smoke)
	$(BIN)/python scripts/bench_system.py $(BENCH_ARGS)

# At GPU rate: the instant model with max_batch 64, 2,000 jobs from 100 users.
bench-system-gpu-rate: install services ## bench-system at GPU rate: 2,000 jobs from 100 users, max_batch 64
	$(BIN)/python scripts/bench_system.py --gpu-rate $(BENCH_ARGS)

.PHONY: test-faults-long
# The same schedule with >= 1,000 jobs (SORAMI_FAULTS_IMAGES / _VIDEOS set the mix).
test-faults-long: install services ## the fault schedule with 1,000 jobs
	@mkdir -p $(RUN_DIR)
	SORAMI_FAULTS_IMAGES=$(or $(SORAMI_FAULTS_IMAGES),800) SORAMI_FAULTS_VIDEOS=$(or $(SORAMI_FAULTS_VIDEOS),200) \
	SORAMI_FAULTS_SETTLE_S=$(or $(SORAMI_FAULTS_SETTLE_S),1800) SORAMI_FAULTS_PENDING_LEASE_S=1800 \
	SORAMI_FAULTS_REPORT=$(RUN_DIR)/faults-long-run.json $(PYTEST) tests/faults -s $(PYTEST_OPTS)

.PHONY: asyncapi
# docs/asyncapi.yaml (AsyncAPI 3) from the event models and the topology; a test fails when the
# committed file differs from what the code produces.
asyncapi: install ## regenerate docs/asyncapi.yaml
	$(BIN)/python scripts/asyncapi.py
