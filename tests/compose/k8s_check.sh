#!/usr/bin/env bash
# k8s_check.sh - deploy/k8s/ (Kubernetes manifests), checked without a
# cluster: deploy/k8s/validate.py walks every document against the API's
# types (python3-kubernetes's models: unknown fields, value types, required
# fields, selectors); a manifest with a misspelt field must be refused; and
# the containers run what docker/compose.yaml runs (its commands resolved by
# docker-compose with the manifests' worker count and health timeout), so
# the three deployments (compose, swarm, Kubernetes) cannot drift apart.
# Applying them to a cluster was not done here (no cluster).
# PASS/FAIL lines and "N passed, N failed"; "SKIP" and exit 0 when
# python3-kubernetes is missing.
#
#   k8s_check.sh SOURCE_DIR
set -uo pipefail

SRC=${1:?usage: k8s_check.sh SOURCE_DIR}
. "$SRC/tests/compose/lib.sh"
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-k8s.XXXXXX")
trap t_cleanup EXIT
K8S=$SRC/deploy/k8s
VALIDATE=$K8S/validate.py

if ! "$T_PY" -c 'import kubernetes' 2>/dev/null; then
  echo "SKIP: python3-kubernetes is not installed (./scripts/bootstrap installs it)"
  exit 0
fi

if "$T_PY" "$VALIDATE" "$K8S"/*.yaml >"$T_TMP/out" 2>&1; then
  t_pass "validate.py: $(grep -c '^ok ' "$T_TMP/out") documents valid ($(grep '^ok ' "$T_TMP/out" | sed 's/.*: //' | tr '\n' ' '))"
else
  t_fail "validate.py:"; cat "$T_TMP/out"
fi
sed 's/^\(          \)args: \["tqworker"/\1comand: ["tqworker"/' "$K8S/worker.yaml" >"$T_TMP/typo.yaml"
if ! "$T_PY" "$VALIDATE" "$T_TMP/typo.yaml" >"$T_TMP/typo.out" 2>&1 &&
   grep -q 'containers\[0\]\.comand: unknown field' "$T_TMP/typo.out"; then
  t_pass "validate.py refuses a misspelt field ($(grep -m1 comand "$T_TMP/typo.out" | sed 's/^ *//'))"
else
  t_fail "validate.py accepted a container with 'comand':"; cat "$T_TMP/typo.out"
fi

# the manifests' commands against docker/compose.yaml's, resolved
"$T_PY" - "$K8S" "$SRC/docker/compose.yaml" "$T_TMP" <<'PY' >"$T_TMP/checks"
import os, subprocess, sys, yaml
k8s, compose, tmp = sys.argv[1:4]
docs = {}
for f in ("redis.yaml", "worker.yaml", "bench-job.yaml"):
    for d in yaml.safe_load_all(open(os.path.join(k8s, f))):
        docs[(d["kind"], d["metadata"]["name"])] = d

def container(key):
    return docs[key]["spec"]["template"]["spec"]["containers"][0]

def check(what, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}: {what}{'' if ok else ': ' + detail}")

worker, bench = container(("Deployment", "tqworker")), container(("Job", "tqbench"))
replicas = docs[("Deployment", "tqworker")]["spec"]["replicas"]
args = bench["args"]
env = dict(os.environ, TQ_WORKERS=str(replicas), TQ_HEALTH_TIMEOUT=args[args.index("--health-timeout") + 1])
for k in ("TQ_QUEUE", "TQ_SCENARIO", "TQ_FRAMEWORK", "TQ_CONCURRENCY", "TQ_PREFETCH", "TQ_UID", "TQ_GID"):
    env.pop(k, None)
out = subprocess.run(["docker-compose", "-f", compose, "config"], env=env, capture_output=True, text=True, check=True)
svc = yaml.safe_load(out.stdout)["services"]
check("redis: the args of compose's redis command", container(("Deployment", "redis"))["args"] == svc["redis"]["command"],
      f"{container(('Deployment', 'redis'))['args']} != {svc['redis']['command']}")
check("tqworker: the args of compose's worker command", worker["args"] == svc["worker"]["command"],
      f"{worker['args']} != {svc['worker']['command']}")
check(f"tqbench job: compose's bench command, --workers {replicas} (the Deployment's replicas)",
      args == svc["bench"]["command"], f"{args} != {svc['bench']['command']}")
envs = {e["name"]: e.get("value") for e in bench.get("env", [])}
check("tqbench job: waits for Redis, prints results.json to its log",
      envs.get("TQ_WAIT_REDIS") == "redis" and envs.get("TQ_PRINT_RESULTS") == "1", repr(envs))
PY
while read -r line; do
  case $line in PASS:*) t_pass "${line#PASS: }" ;; FAIL:*) t_fail "${line#FAIL: }" ;; *) echo "$line" ;; esac
done <"$T_TMP/checks"
[ -s "$T_TMP/checks" ] || t_fail "the command checks printed nothing"
t_summary
