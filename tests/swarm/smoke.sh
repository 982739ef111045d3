#!/usr/bin/env bash
# smoke.sh - docker/stack.yaml deployed for real on a single-node swarm:
# `just swarm-smoke` (needs a running Docker engine; not run by CI, which has
# none).
#
# docker/swarm up 3 (the justfile's swarm-up: swarm init if needed, node
# labels, the images built, the stack deployed, its bench job waited for),
# then checks: the job exited 0; the worker replicas run on nodes labelled
# tqbench.worker (as many distinct nodes as TQ_SMOKE_NODES says, 1) and Redis
# on the one labelled tqbench.redis; the results.json recovered from `docker
# service logs` has the scenario's exact counts (tasks = completed, 0 failed,
# 0 lost); it saw exactly 3 workers, one per replica (worker id
# <container hostname>-<pid>, each replica's container found among them);
# docker/swarm bench runs the job a second time, with the same counts; then
# docker/swarm down, and nothing of the stack remains (services, containers,
# networks, the results volume), the node's labels and the swarm are as they
# were before.
#
# The two base images (debian:bookworm-slim, redis:7) are pulled when
# missing; where Docker Hub is unreachable, docker/base-images builds them
# from Debian's packages (debootstrap; needs root and a Debian mirror), or
# point TQ_DEBIAN_IMAGE / TQ_REDIS_IMAGE at a registry that has them.
# TQ_SMOKE_WORKERS replaces the 3 workers; TQ_SMOKE_NODES and the image
# variables (TQ_IMAGE, ... as docker/stack.yaml says) are how
# tests/swarm/smoke_multi.sh runs this on a swarm of two engines.
# PASS/FAIL lines, "N passed, N failed"; exit 0 only when all passed.
#
#   tests/swarm/smoke.sh        (from anywhere; COMPOSE as docker/swarm says)
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/compose/lib.sh"
. "$SRC/tests/swarm/lib.sh"
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-swarm.XXXXXX")
trap t_cleanup EXIT
cd "$SRC"
SWARM=docker/swarm
N=${TQ_SMOKE_WORKERS:-3}
NODES=${TQ_SMOKE_NODES:-1}
START=$(date +%s)

if ! docker info >/dev/null 2>&1; then
  echo "smoke: no Docker engine answers (docker info): start one (dockerd) first"; exit 2
fi
if [ -e .run/swarm ]; then
  echo "smoke: .run/swarm exists: a stack of docker/swarm is up; just swarm-down first"; exit 2
fi
swarm_base_images || { t_summary; exit 1; }

state() { # what of this engine the smoke test must leave as it found it
  local id
  exec 3>&2 2>/dev/null
  docker info --format 'swarm={{.Swarm.LocalNodeState}}'
  id=$(docker info --format '{{.Swarm.NodeID}}')
  [ -n "$id" ] && docker node inspect -f 'labels={{json .Spec.Labels}}' "$id"
  docker service ls -q --filter label=com.docker.stack.namespace=tqbench | sed 's/^/service=/'
  docker ps -aq --filter label=com.docker.stack.namespace=tqbench | sed 's/^/container=/'
  docker network ls -q --filter label=com.docker.stack.namespace=tqbench | sed 's/^/network=/'
  docker volume ls -q --filter name=tqbench_ | sed 's/^/volume=/'
  docker network ls --format '{{.Name}}' | sort | sed 's/^/network=/'
  exec 2>&3 3>&-
}
state >"$T_TMP/before"

export TQ_SWARM_RESULTS=$T_TMP/results TQ_QUEUE=swarm-smoke TQ_SCENARIO=throughput
TASKS=$("$T_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tasks"])' bench/scenarios/throughput.json)

# check_run LABEL: the newest results.json in TQ_SWARM_RESULTS
check_run() {
  local f containers=()
  f=$(find "$TQ_SWARM_RESULTS" -name results.json -newer "$T_TMP/mark" | sort | tail -n 1)
  if [ -z "$f" ]; then t_fail "$1: no results.json recovered from docker service logs"; return; fi
  t_pass "$1: results.json recovered from docker service logs ($(wc -c <"$f") bytes)"
  for t in $(docker service ps -q --filter desired-state=running tqbench_worker); do
    containers+=("$(docker inspect -f '{{.Status.ContainerStatus.ContainerID}}' "$t" | cut -c1-12)")
  done
  if out=$("$T_PY" - "$f" "$TASKS" "$N" "${containers[@]}" <<'PY' 2>&1
import json, sys
path, tasks, n, hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
runs = json.load(open(path))["runs"]
assert len(runs) == 1, f"{len(runs)} runs"
r = runs[0]
got = {k: r.get(k) for k in ("status", "tasks", "completed", "failed", "lost")}
want = {"status": "ok", "tasks": tasks, "completed": tasks, "failed": 0, "lost": 0}
assert got == want, f"{got} != {want}"
ids = [w["id"] for w in r["workers"]]
assert len(ids) == n == len(set(ids)), f"workers {ids}, want {n} distinct"
assert len(hosts) == n, f"{len(hosts)} worker replicas running, want {n}"
for h in hosts:
    assert sum(i.startswith(h + "-") for i in ids) == 1, f"replica {h}: no worker id {h}-<pid> in {ids}"
print(f"{tasks} tasks, {tasks} completed, 0 failed, 0 lost; workers {' '.join(sorted(ids))}, one per replica")
PY
  ); then
    t_pass "$1: $out"
  else
    t_fail "$1: $out"
  fi
}

# placement: the worker replicas run on NODES distinct nodes, each labelled
# tqbench.worker, and Redis on a node labelled tqbench.redis
node_name() { docker node inspect -f '{{.Description.Hostname}}/{{printf "%.6s" .ID}}' "$1"; }
node_label() { docker node inspect -f "{{index .Spec.Labels \"$2\"}}" "$1"; }
placement() {
  local t node nodes=() unlabelled="" redis="" spread
  for t in $(docker service ps -q --filter desired-state=running tqbench_worker); do
    node=$(docker inspect -f '{{.NodeID}}' "$t")
    nodes+=("$(node_name "$node")")
    [ "$(node_label "$node" tqbench.worker)" = true ] || unlabelled+=" $(node_name "$node")"
  done
  t=$(docker service ps -q --filter desired-state=running tqbench_redis | head -n 1)
  node=$(docker inspect -f '{{.NodeID}}' "$t" 2>/dev/null) &&
    [ "$(node_label "$node" tqbench.redis)" = true ] && redis=$(node_name "$node")
  spread=$(printf '%s\n' "${nodes[@]}" | sort | uniq -c | awk '{printf "%s%s: %s", (NR > 1 ? ", " : ""), $2, $1}')
  if [ "$(printf '%s\n' "${nodes[@]}" | sort -u | wc -l)" -eq "$NODES" ] && [ -z "$unlabelled" ] && [ -n "$redis" ]; then
    t_pass "placement: $N worker replicas on $NODES node(s) labelled tqbench.worker ($spread); redis on $redis (tqbench.redis)"
  else
    t_fail "placement: worker replicas on $spread, want $NODES node(s); not labelled tqbench.worker:${unlabelled:- none}; redis on a tqbench.redis node: ${redis:-no}"
  fi
}

touch "$T_TMP/mark"
if bash "$SWARM" up "$N" >"$T_TMP/up.log" 2>&1; then
  t_pass "docker/swarm up $N: stack deployed, bench job exit 0"
else
  t_fail "docker/swarm up $N:"; tail -n 30 "$T_TMP/up.log"
fi
n=$(docker service ps -q --filter desired-state=running tqbench_worker 2>/dev/null | wc -l)
if [ "$n" -eq "$N" ]; then t_pass "tqbench_worker: $N replicas running"
else t_fail "tqbench_worker: $n replicas running, want $N"; fi
placement
check_run "first run"

sleep 1
touch "$T_TMP/mark"
if bash "$SWARM" bench >"$T_TMP/bench.log" 2>&1; then
  t_pass "docker/swarm bench: the job ran again, exit 0"
else
  t_fail "docker/swarm bench:"; tail -n 30 "$T_TMP/bench.log"
fi
check_run "second run"

if bash "$SWARM" down >"$T_TMP/down.log" 2>&1; then t_pass "docker/swarm down"
else t_fail "docker/swarm down:"; cat "$T_TMP/down.log"; fi
state >"$T_TMP/after"
if diff "$T_TMP/before" "$T_TMP/after" >"$T_TMP/diff"; then
  t_pass "nothing of the stack remains; swarm state and node labels as before ($(tr '\n' ' ' <"$T_TMP/before"))"
else
  t_fail "left behind or changed (before/after):"; cat "$T_TMP/diff"
fi
[ -e .run/swarm ] && t_fail ".run/swarm still there" || t_pass ".run/swarm removed"
echo "smoke: $(( $(date +%s) - START )) s"
t_summary
