# tqbench's entry points. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]
# Recipe arguments reach commands as "$@", quoted: a URL with ?db=1&password=p stays one argument.
set positional-arguments := true

# Build tqworker and tqbench into build/bin (RelWithDebInfo).
build:
    scripts/build build

# The same build with AddressSanitizer + UndefinedBehaviorSanitizer, into build-asan.
build-asan:
    scripts/build build-asan -DCMAKE_BUILD_TYPE=Debug -DTQ_SANITIZE=ON

# Every test (unit and integration, Criterion via CTest), then again under ASan/UBSan
# except those labelled noasan (no C code of ours that a sanitizer would check).
test: build build-asan
    ctest --test-dir build --output-on-failure
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --test-dir build-asan --output-on-failure --label-exclude noasan

# Start one standalone tqworker in the foreground (pass its flags, e.g. --queue default).
worker *ARGS: build
    build/bin/tqworker "$@"

# Run every scenario for every available framework and print the summary.
benchmark-all: build
    build/bin/tqbench run --scenario all --framework all

# Run one scenario (a name from `build/bin/tqbench list`, or a JSON file) for every available framework.
benchmark SCENARIO: build
    build/bin/tqbench run --scenario "$1" --framework all

# A short smoke run: the throughput scenario with 2,000 tasks on tqworker.
benchmark-quick: build
    build/bin/tqbench run --scenario throughput --framework native --tasks 2000

# tqworker's drain rate (1M backlog, batched) against redis-benchmark sending its own pop, measured in one run.
bench-worker: build
    scripts/bench-worker

# Instruction counts (callgrind) per task of tqworker's drain, the producer in each wire format and the histogram merge.
bench-instructions: build
    scripts/bench-instructions

# tqbench's enqueue rate against redis-benchmark's LPUSH, and its RSS at 10k and 1M tasks.
bench-driver: build
    scripts/bench-driver

# Fuzz every parser with libFuzzer (clang build in build-fuzz) for SECONDS each; optional harness names (fuzz_task ...).
fuzz SECONDS="60" *HARNESSES:
    tests/fuzz/run --build-dir build-fuzz --seconds "$@"

# Soak (not in CI): open loop at 80% of measured capacity for MINUTES, a worker SIGKILLed every minute, Redis restarted once; per-minute table and verdict.
soak MINUTES="10": build
    TQ_BIN="$PWD/build/bin" scripts/soak "$1"

# Start N standalone tqworkers in the background (pid files in .run/workers).
workers-start N="2" *ARGS: build
    scripts/workers start "$@"

# Stop the standalone tqworkers started by workers-start (by pid).
workers-stop:
    scripts/workers stop

# Show the standalone workers' pids and the live heartbeats.
workers-status: build
    scripts/workers status

# Start a standalone local redis-server on 127.0.0.1:6379 for manual use (pid file in .run/).
redis-up:
    scripts/redis-local up

# Stop the redis-server started by redis-up (by pid).
redis-down:
    scripts/redis-local down

# docker compose for the docker-* recipes: the v2 plugin when present, else Debian's docker-compose (v1).
compose := `docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose` + " -f docker/compose.yaml"

# Build the images and run a whole benchmark in docker compose (redis, TQ_WORKERS tqworkers, tqbench --external); exit code from tqbench, results in results/compose.
docker-up *ARGS:
    mkdir -p results/compose
    {{compose}} up --build --exit-code-from bench "$@"

# Stop and remove the docker compose environment (containers and network, the celery profile's too).
docker-down:
    {{compose}} --profile celery down --remove-orphans --volumes

# One scenario in docker compose on WORKERS worker containers of FRAMEWORK (native or celery); exit code from tqbench.
docker-bench SCENARIO="throughput" WORKERS="1" FRAMEWORK="native":
    mkdir -p results/compose
    scenario="$1" workers="$2" framework="$3"; \
      if [ "$framework" = celery ]; then set -- --profile celery up --scale worker=0; else set -- up; fi; \
      TQ_SCENARIO="$scenario" TQ_WORKERS="$workers" TQ_FRAMEWORK="$framework" \
      {{compose}} "$@" --build --exit-code-from bench

# Docker Swarm on this engine (docker/stack.yaml): init a single-node swarm if needed, N workers of FRAMEWORK, one bench job; results in results/swarm.
swarm-up N="1" FRAMEWORK="native":
    COMPOSE="{{compose}}" docker/swarm up "$@"

# Run the swarm's bench job again and copy its results.json from `docker service logs` to results/swarm.
swarm-bench:
    docker/swarm bench

# Remove the swarm stack, its volume, and the labels and swarm that swarm-up created.
swarm-down:
    docker/swarm down

# WORKER_SETUP.md's docker compose commands run as written on a Docker engine (not in CI), in a copy of the repository.
compose-engine:
    tests/compose/compose_engine.sh

# The swarm smoke test (needs a Docker engine; not in CI): N=3 workers, exact counts, every heartbeat, nothing left.
swarm-smoke:
    COMPOSE="{{compose}}" tests/swarm/smoke.sh

# The swarm smoke test on two engines of this machine (needs root, ip netns, docker-registry, an engine; not in CI): a second dockerd in a netns joins as a worker, images through a local registry, workers on both nodes, all undone.
swarm-smoke-multi N="4":
    COMPOSE="{{compose}}" TQ_SMOKE_WORKERS="$1" tests/swarm/smoke_multi.sh
