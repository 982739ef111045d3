#!/usr/bin/env bash
# stack_check.sh - docker/stack.yaml (the Docker Swarm stack), checked
# without a Docker engine.
#
# docker-compose (v1, Debian's) validates the stack file, alone and with
# docker/stack.celery.yaml, against the compose specification's schema it
# carries, and resolves its variables; then the resolved file is checked for
# what the swarm needs: the same commands and environment as
# docker/compose.yaml (one source of truth for what runs), Redis pinned by the
# node label tqbench.redis, TQ_WORKERS tqworker replicas on nodes labelled
# tqbench.worker (Celery's with the override), the bench a replicated-job run
# once (restart none) that waits for Redis, prints results.json to its log
# and writes it to the volume `results`. With a docker CLI that has `docker
# stack config` (23.0 and later; not Debian 12's 20.10), the file is also
# loaded the way `docker stack deploy` loads it (the v3 schema). Deploying it
# for real needs an engine: tests/swarm/smoke.sh (`just swarm-smoke`).
# PASS/FAIL lines and "N passed, N failed", exit 0 only when all passed.
#
#   stack_check.sh SOURCE_DIR
set -uo pipefail

SRC=${1:?usage: stack_check.sh SOURCE_DIR}
. "$SRC/tests/compose/lib.sh"
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-stack.XXXXXX")
trap t_cleanup EXIT
STACK=$SRC/docker/stack.yaml
CELERY=$SRC/docker/stack.celery.yaml
COMPOSE=$SRC/docker/compose.yaml

if ! command -v docker-compose >/dev/null; then
  t_fail "docker-compose not found (./scripts/bootstrap installs Debian's docker-compose)"
  t_summary; exit 1
fi
export TQ_WORKERS=3 TQ_QUEUE=stack-check TQ_SCENARIO=latency TQ_CONCURRENCY=7
unset TQ_FRAMEWORK TQ_PREFETCH TQ_CELERY_POOL TQ_HEALTH_TIMEOUT TQ_UID TQ_GID

t_check "docker-compose config validates docker/stack.yaml" \
  docker-compose -f "$STACK" config -q
t_check "docker-compose config validates it with docker/stack.celery.yaml" \
  docker-compose -f "$STACK" -f "$CELERY" config -q
docker-compose -f "$STACK" config >"$T_TMP/stack.yaml" 2>/dev/null
docker-compose -f "$STACK" -f "$CELERY" config >"$T_TMP/celery.yaml" 2>/dev/null
docker-compose -f "$COMPOSE" --profile celery config >"$T_TMP/compose.yaml" 2>/dev/null

# each check prints PASS:/FAIL: lines; counted below
"$T_PY" - "$T_TMP/stack.yaml" "$T_TMP/celery.yaml" "$T_TMP/compose.yaml" >"$T_TMP/checks" <<'EOF'
import sys
import yaml

stack, celery, compose = (yaml.safe_load(open(p))["services"] for p in sys.argv[1:4])


def check(what, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}: {what}{'' if ok else ': ' + detail}")


def deploy(svc):
    return svc.get("deploy") or {}


def constraints(svc):
    return (deploy(svc).get("placement") or {}).get("constraints") or []


for name in ("redis", "worker", "celery-worker", "bench"):
    for key in ("command", "environment", "working_dir", "init", "stop_grace_period"):
        a, b = compose[name].get(key), stack[name].get(key)
        if key == "environment" and name == "bench":
            # compose's TQ_HOST_RESULTS (a host folder) has no swarm counterpart;
            # the stack adds its own (TQ_WAIT_REDIS, TQ_PRINT_RESULTS, TQ_BENCH_RUN)
            a = {k: v for k, v in (a or {}).items() if k != "TQ_HOST_RESULTS"} or None
            b = {k: v for k, v in (b or {}).items() if not k.startswith(("TQ_WAIT_", "TQ_PRINT_", "TQ_BENCH_RUN"))} or None
        check(f"{name}: {key} as in docker/compose.yaml", a == b, f"compose {a!r}, stack {b!r}")

check("redis: one replica on the node labelled tqbench.redis",
      deploy(stack["redis"]).get("replicas") == 1
      and constraints(stack["redis"]) == ["node.labels.tqbench.redis == true"],
      repr(deploy(stack["redis"])))
check("redis: endpoint_mode dnsrr (no virtual IP: no IPVS needed)",
      deploy(stack["redis"]).get("endpoint_mode") == "dnsrr", repr(deploy(stack["redis"])))
check("redis: /data on a tmpfs", stack["redis"].get("volumes") == [{"type": "tmpfs", "target": "/data"}],
      repr(stack["redis"].get("volumes")))
for name, files, want in (("worker", stack, 3), ("celery-worker", stack, 0),
                          ("worker", celery, 0), ("celery-worker", celery, 3)):
    label = "stack.yaml" if files is stack else "stack.yaml + stack.celery.yaml"
    got = deploy(files[name]).get("replicas")
    check(f"{label}: {name} replicas {want} (TQ_WORKERS=3)", got == want, f"replicas {got!r}")
    check(f"{label}: {name} placed on nodes labelled tqbench.worker",
          constraints(files[name]) == ["node.labels.tqbench.worker == true"], repr(constraints(files[name])))
bench = stack["bench"]
d = deploy(bench)
check("bench: a replicated-job, one run, not restarted",
      d.get("mode") == "replicated-job" and d.get("replicas") == 1
      and (d.get("restart_policy") or {}).get("condition") == "none", repr(d))
cmd = bench.get("command") or []
check("bench: tqbench-job tqbench run --external --workers 3",
      cmd[:4] == ["tqbench-job", "tqbench", "run", "--external"]
      and cmd[cmd.index("--workers") + 1] == "3", repr(cmd))
env = bench.get("environment") or {}
check("bench: waits for Redis and prints results.json to its log",
      env.get("TQ_WAIT_REDIS") == "redis" and env.get("TQ_PRINT_RESULTS") == "1", repr(env))
vols = bench.get("volumes") or []
check("bench: results to the volume `results` at /results",
      any(v in ("results:/results", "results:/results:rw")
          or isinstance(v, dict) and v.get("source") == "results" and v.get("target") == "/results"
          for v in vols), repr(vols))
check("bench: starts as root (for tqbench-job only)", bench.get("user") == "0:0", repr(bench.get("user")))
nets = {n for s in stack.values() for n in (s.get("networks") or {})}
check("every service on the overlay network tq", nets == {"tq"}, repr(nets))
check("no build in the stack (swarm ignores it; images come from a registry or the engine)",
      not any("build" in s for s in stack.values()))
EOF
while read -r line; do
  case $line in
    PASS:*) t_pass "${line#PASS: }" ;;
    FAIL:*) t_fail "${line#FAIL: }" ;;
    *) echo "$line" ;;
  esac
done <"$T_TMP/checks"
[ -s "$T_TMP/checks" ] || t_fail "the stack checks printed nothing"

# docker stack deploy's own loader (v3 schema), where the docker CLI has it
if command -v docker >/dev/null && docker stack config --help >/dev/null 2>&1; then
  t_check "docker stack config loads docker/stack.yaml" \
    bash -c 'DOCKER_HOST=unix:///nonexistent docker stack config -c "$1" >/dev/null' _ "$STACK"
  if env DOCKER_HOST=unix:///nonexistent docker stack config -c "$STACK" -c "$CELERY" >"$T_TMP/sc.yaml" 2>&1 &&
     grep -q 'mode: replicated-job' "$T_TMP/sc.yaml"; then
    t_pass "docker stack config loads it with docker/stack.celery.yaml (the bench a replicated-job)"
  else
    t_fail "docker stack config with docker/stack.celery.yaml: $(tail -n 3 "$T_TMP/sc.yaml")"
  fi
else
  echo "SKIP: docker stack config: no docker CLI with it here (23.0 or later)"
fi
t_summary
