#!/usr/bin/env bash
# compose_smoke.sh - docker/compose.yaml's services, run locally.
#
# No Docker engine runs on the machines that build tqbench, so this test does
# the next best thing: docker-compose validates the file and resolves it (its
# own interpolation of ${TQ_...} variables), then every service's command and
# environment, exactly as resolved, runs here against a private redis-server
# on a free loopback port: `redis` is that server (its compose args plus a
# port), `worker` runs TQ_WORKERS times from the build's bin/, `bench` runs
# tqbench in external mode and must finish with exact counts and exit 0; with
# fewer workers than TQ_WORKERS it must exit 1 and say how many it saw. With
# python3-celery, the `celery` profile is run the same way (Celery's worker and
# the bench with TQ_FRAMEWORK=celery, on a 1,000-task scenario file). The image
# holds `cmake --install` of the build at /opt/tqbench (docker/Dockerfile), so
# the build is installed the same way into a temporary prefix here; only the
# host names, that prefix and the results volume are mapped:
#   redis://redis:6379    -> redis://127.0.0.1:<port>
#   /opt/tqbench          -> <tmp>/opt, cmake --install BUILD_DIR --prefix <tmp>/opt
#   tqworker, tqbench     -> <tmp>/opt/bin/... (the image's PATH)
#   tqbench-job tqbench   -> docker/tqbench-job <tmp>/tqbench-uid, a shim that
#                            records the uid tqbench runs as, then runs it
#   <volume target>       -> the volume's host path
#
#   compose_smoke.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: compose_smoke.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: compose_smoke.sh BUILD_DIR SOURCE_DIR}
. "$SRC/tests/compose/lib.sh"

COMPOSE=$SRC/docker/compose.yaml
PORTS=$SRC/docker/compose.ports.yaml
GET=$SRC/tests/compose/compose_get.py
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-compose.XXXXXX")
# readable by the unprivileged users tqbench-job runs tqbench as (below)
chmod 755 "$T_TMP"
trap t_cleanup EXIT
trap 'exit 130' INT TERM
OPT=$T_TMP/opt
BIN=$OPT/bin

if ! command -v docker-compose >/dev/null; then
  t_fail "docker-compose not found (./scripts/bootstrap installs Debian's docker-compose)"
  t_summary; exit 1
fi
if ! cmake --install "$BUILD" --prefix "$OPT" >"$T_TMP/install.log" 2>&1; then
  t_fail "cmake --install $BUILD --prefix $OPT (the image's /opt/tqbench):"
  tail -n 20 "$T_TMP/install.log"; t_summary; exit 1
fi
for b in tqworker tqbench; do
  [ -x "$BIN/$b" ] || { t_fail "$BIN/$b not installed"; t_summary; exit 1; }
done

# --- the file validates, alone, with the ports override, with the celery profile
t_check "docker-compose config validates docker/compose.yaml" \
  docker-compose -f "$COMPOSE" config -q
t_check "docker-compose config validates it with docker/compose.ports.yaml" \
  docker-compose -f "$COMPOSE" -f "$PORTS" config -q
t_check "docker-compose config validates it with --profile celery" \
  docker-compose -f "$COMPOSE" --profile celery config -q
if docker-compose -f "$COMPOSE" config | grep -q 'published'; then
  t_fail "redis publishes a host port without the override"
else
  t_pass "no host port is published without the override"
fi

# resolve CONFIG_FILE: docker-compose config with the caller's TQ_* variables.
resolve() {
  docker-compose -f "$COMPOSE" --profile celery config >"$1" 2>"$T_TMP/config.err" && return 0
  t_fail "docker-compose config: $(cat "$T_TMP/config.err")"
  return 1
}

# field CONFIG SERVICE FIELD: the field's items into the array FIELD_ITEMS.
field() {
  FIELD_ITEMS=()
  if ! "$T_PY" "$GET" "$1" "$2" "$3" >"$T_TMP/field" 2>"$T_TMP/field.err"; then
    t_fail "$(cat "$T_TMP/field.err")"
    return 1
  fi
  mapfile -d '' -t FIELD_ITEMS <"$T_TMP/field"
}

# local_args CONFIG SERVICE: the service's command and environment, mapped to
# this machine, into LOCAL_CMD and LOCAL_ENV.
local_args() {
  local a url="redis://127.0.0.1:$T_REDIS_PORT" vols=()
  field "$1" "$2" volumes && vols=("${FIELD_ITEMS[@]}")
  field "$1" "$2" command || return 1
  LOCAL_CMD=()
  for a in "${FIELD_ITEMS[@]}"; do
    a=${a//redis:\/\/redis:6379/$url}
    a=${a//\/opt\/tqbench/$OPT}
    for v in "${vols[@]}"; do [ "$a" = "${v#*:}" ] && a=${v%%:*}; done
    LOCAL_CMD+=("$a")
  done
  case "${LOCAL_CMD[0]}" in
    tqbench-job) LOCAL_CMD[0]=$SRC/docker/tqbench-job
                 [ "${LOCAL_CMD[1]}" = tqbench ] && LOCAL_CMD[1]=$T_TMP/tqbench-uid ;;
    tqworker|tqbench) LOCAL_CMD[0]=$BIN/${LOCAL_CMD[0]} ;;
    python3) LOCAL_CMD[0]=$T_PY ;;
  esac
  field "$1" "$2" environment || return 1
  LOCAL_ENV=()
  for a in "${FIELD_ITEMS[@]}"; do
    a=${a//redis:\/\/redis:6379/$url}
    LOCAL_ENV+=("${a//\/opt\/tqbench/$OPT}")
  done
}

# check_results FILE TASKS FRAMEWORK: every run ok with exact counts.
check_results() {
  "$T_PY" - "$@" <<'EOF'
import json, sys
path, tasks, framework = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = json.load(open(path))["runs"]
assert runs, "no runs in " + path
for r in runs:
    got = {k: r.get(k) for k in ("framework", "status", "tasks", "completed", "failed", "lost")}
    want = {"framework": framework, "status": "ok", "tasks": tasks, "completed": tasks, "failed": 0, "lost": 0}
    assert got == want, f"{path}: run {got} != {want}"
print(f"{len(runs)} run(s): {tasks} tasks, {tasks} completed, 0 failed, 0 lost")
EOF
}

# results_in ROOT: the results.json files of the invocations that wrote
# under ROOT (the bench service's --results-root: one timestamped folder each).
results_in() {
  find "$1" -mindepth 2 -maxdepth 2 -name results.json | sort
}

scenario_tasks() { # NAME|FILE: the scenario's task count
  local f=$1
  [ -f "$f" ] || f=$SRC/bench/scenarios/$1.json
  "$T_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tasks"])' "$f"
}

# tqbench as the bench service runs it, recording its uid (tqbench-job runs it
# as the results folder's owner, or as 10001 when that is root)
printf '#!/bin/sh\nid -u >>"%s"\nexec "%s" "$@"\n' "$T_TMP/bench-uids" "$BIN/tqbench" >"$T_TMP/tqbench-uid"
chmod 755 "$T_TMP/tqbench-uid"
: >"$T_TMP/bench-uids"
chmod 666 "$T_TMP/bench-uids"
last_uid() { tail -n 1 "$T_TMP/bench-uids"; }

# --- what a new user meets: no ids to pass, no volume left behind, one project name
unset TQ_UID TQ_GID
docker-compose -f "$COMPOSE" config >"$T_TMP/plain.yaml" 2>"$T_TMP/config.err"
field "$T_TMP/plain.yaml" bench user &&
  if [ "${FIELD_ITEMS[0]}" = 0:0 ]; then t_pass "bench: starts as 0:0 without TQ_UID/TQ_GID (tqbench-job drops to the folder's owner)"
  else t_fail "bench: user '${FIELD_ITEMS[0]}' without TQ_UID/TQ_GID"; fi
field "$T_TMP/plain.yaml" bench command &&
  if [ "${FIELD_ITEMS[0]}" = tqbench-job ] && [ "${FIELD_ITEMS[1]}" = tqbench ]; then t_pass "bench: tqbench runs under tqbench-job"
  else t_fail "bench: command '${FIELD_ITEMS[*]}' does not start with tqbench-job tqbench"; fi
field "$T_TMP/plain.yaml" redis volumes &&
  if [ "${FIELD_ITEMS[*]}" = tmpfs:/data ]; then t_pass "redis: /data is a tmpfs (no anonymous volume for down to leave)"
  else t_fail "redis: volumes '${FIELD_ITEMS[*]}', want only tmpfs:/data"; fi
if grep -qx 'COMPOSE_PROJECT_NAME=tqbench' "$SRC/docker/.env"; then
  t_pass "docker/.env fixes the project name (tqbench)"
else
  t_fail "docker/.env does not set COMPOSE_PROJECT_NAME=tqbench"
fi
field "$T_TMP/plain.yaml" bench environment &&
  if printf '%s\n' "${FIELD_ITEMS[@]}" | grep -qx 'TQ_HOST_RESULTS=results/compose'; then
    t_pass "bench: TQ_HOST_RESULTS defaults to results/compose (the host folder of ../results/compose)"
  else t_fail "bench: environment '${FIELD_ITEMS[*]}' lacks TQ_HOST_RESULTS=results/compose"; fi

# --- redis: the compose command on a private port, and its healthcheck command
export TQ_WORKERS=2 TQ_QUEUE=compose-smoke TQ_RESULTS=$T_TMP/results TQ_HEALTH_TIMEOUT=20
unset TQ_SCENARIO TQ_FRAMEWORK TQ_CONCURRENCY TQ_PREFETCH TQ_REDIS_URL
resolve "$T_TMP/native.yaml" || { t_summary; exit 1; }
field "$T_TMP/native.yaml" redis command || { t_summary; exit 1; }
if [ "${FIELD_ITEMS[0]}" = redis-server ] && t_redis_start "${FIELD_ITEMS[@]:1}"; then
  t_pass "redis: '${FIELD_ITEMS[*]}' runs on 127.0.0.1:$T_REDIS_PORT"
else
  t_fail "redis: command '${FIELD_ITEMS[*]}' did not start"; t_summary; exit 1
fi
field "$T_TMP/native.yaml" redis healthcheck &&
  t_check "redis: healthcheck '${FIELD_ITEMS[*]}' answers PONG" \
    bash -c '"$1" -h 127.0.0.1 -p "$2" "${@:3}" | grep -q PONG' _ "${FIELD_ITEMS[0]}" "$T_REDIS_PORT" "${FIELD_ITEMS[@]:1}"
RCLI=(redis-cli -h 127.0.0.1 -p "$T_REDIS_PORT")
# the other containers reach it over the compose network, not loopback:
# protected mode must be off whatever the image's default
t_check "redis: protected-mode off (other containers may connect)" \
  bash -c '[ "$("$@" config get protected-mode | tail -1)" = no ]' _ "${RCLI[@]}"

# --- worker x TQ_WORKERS
field "$T_TMP/native.yaml" worker replicas
if [ "${FIELD_ITEMS[0]}" = 2 ]; then t_pass "worker: deploy.replicas follows TQ_WORKERS (2)"
else t_fail "worker: deploy.replicas is '${FIELD_ITEMS[0]}', TQ_WORKERS=2"; fi
local_args "$T_TMP/native.yaml" worker || { t_summary; exit 1; }
WORKERS=()
for i in 1 2; do
  t_spawn "$T_TMP/worker-$i.log" env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}"
  WORKERS+=("$T_LAST_PID")
done
echo "worker: ${LOCAL_CMD[*]} (pids ${WORKERS[*]})"

# --- bench: exact counts, exit 0
local_args "$T_TMP/native.yaml" bench || { t_summary; exit 1; }
mkdir -p "$TQ_RESULTS"   # as documented: mkdir -p results/compose
echo "bench: ${LOCAL_CMD[*]}"
t_spawn "$T_TMP/bench.log" env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}"
if t_wait "$T_LAST_PID" 120; then
  if [ "$T_STATUS" -eq 0 ]; then t_pass "bench: tqbench run --external exited 0"
  else t_fail "bench: exit $T_STATUS; log:"; tail -n 20 "$T_TMP/bench.log"; fi
else
  t_fail "bench: still running after 120 s (stopped)"; t_stop "$T_LAST_PID"
fi
TASKS=$(scenario_tasks throughput)
mapfile -t FILES < <(results_in "$T_TMP/results")
FIRST=${FILES[0]:-}
if [ -n "$FIRST" ] && grep -qx "results on the host: $FIRST" "$T_TMP/bench.log"; then
  t_pass "bench: prints 'results on the host: $FIRST'"
else
  t_fail "bench: no 'results on the host: $FIRST' line; log:"; tail -n 5 "$T_TMP/bench.log"
fi
if [ "$(id -u)" = 0 ]; then
  # a folder of root's (the user is root, or Docker made it): tqbench as 10001
  # into a private folder, copied into TQ_RESULTS as root's
  if [ "$(last_uid)" = 10001 ] && [ -n "$FIRST" ] && [ "$(stat -c %u "$FIRST")" = 0 ]; then
    t_pass "bench: root's results folder: tqbench ran as uid 10001, results copied in as root's"
  else
    t_fail "bench: root's results folder: tqbench uid '$(last_uid)', $FIRST owned by $(stat -c %u "$FIRST" 2>/dev/null)"
  fi
else
  if [ "$(last_uid)" = "$(id -u)" ]; then t_pass "bench: not started as root: tqbench ran as is (uid $(id -u))"
  else t_fail "bench: tqbench ran as uid '$(last_uid)', not $(id -u)"; fi
fi
if [ "${#FILES[@]}" -ne 1 ]; then
  t_fail "bench: expected one results folder under TQ_RESULTS, found ${#FILES[@]}: ${FILES[*]}"
elif out=$(check_results "${FILES[0]}" "$TASKS" native 2>&1); then
  t_pass "bench: ${FILES[0]#$T_TMP/}: $out"
else
  t_fail "bench: results.json: $out"
fi
n=$("${RCLI[@]}" scard tq:workers)
if [ "$n" = 2 ]; then t_pass "worker: both replicas registered in tq:workers"
else t_fail "worker: tq:workers holds $n ids, 2 workers run"; fi
if "$BIN/tqbench" workers --redis "redis://127.0.0.1:$T_REDIS_PORT/0" >"$T_TMP/workers.out" 2>&1 &&
   [ "$(grep -c compose-smoke "$T_TMP/workers.out")" -eq 2 ]; then
  t_pass "tqbench workers lists both workers on queue compose-smoke"
else
  t_fail "tqbench workers:"; cat "$T_TMP/workers.out"
fi

# --- bench waiting for more workers than run: exit 1 naming how many it saw
export TQ_WORKERS=3 TQ_HEALTH_TIMEOUT=2
resolve "$T_TMP/short.yaml" && local_args "$T_TMP/short.yaml" bench
t_spawn "$T_TMP/bench-short.log" env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}"
if t_wait "$T_LAST_PID" 30 && [ "$T_STATUS" -eq 1 ] && grep -q '\b2\b' "$T_TMP/bench-short.log"; then
  t_pass "bench with TQ_WORKERS=3 and 2 workers: exit 1, '$(grep -m1 '\b2\b' "$T_TMP/bench-short.log")'"
else
  t_fail "bench with TQ_WORKERS=3 and 2 workers: exit ${T_STATUS:-?}; log:"; tail -n 10 "$T_TMP/bench-short.log"
fi
# the second invocation into the same TQ_RESULTS got its own folder: the
# first one's results are intact
mapfile -t FILES < <(results_in "$T_TMP/results")
if [ "${#FILES[@]}" -eq 2 ] && [ -n "$FIRST" ] && check_results "$FIRST" "$TASKS" native >/dev/null 2>&1; then
  t_pass "bench: a second run into TQ_RESULTS got its own folder; the first results are intact"
else
  t_fail "bench: after a second run, TQ_RESULTS holds: ${FILES[*]}"
fi

# --- a results folder of another user (the host user's own): tqbench runs as
# that user and writes there itself (root only: needs chown and setpriv)
if [ "$(id -u)" = 0 ]; then
  export TQ_WORKERS=2 TQ_HEALTH_TIMEOUT=20 TQ_RESULTS=$T_TMP/results-user
  mkdir -p "$TQ_RESULTS" && chown 10002:10003 "$TQ_RESULTS"
  resolve "$T_TMP/user.yaml" && local_args "$T_TMP/user.yaml" bench
  t_spawn "$T_TMP/bench-user.log" env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}"
  t_wait "$T_LAST_PID" 120 || { t_stop "$T_LAST_PID"; T_STATUS=timeout; }
  mapfile -t FILES < <(results_in "$TQ_RESULTS")
  if [ "$T_STATUS" = 0 ] && [ "$(last_uid)" = 10002 ] && [ "${#FILES[@]}" -eq 1 ] &&
     [ "$(stat -c %u:%g "${FILES[0]}")" = 10002:10003 ] &&
     check_results "${FILES[0]}" "$TASKS" native >/dev/null 2>&1; then
    t_pass "bench: a folder owned by 10002:10003: tqbench ran as uid 10002, results.json is 10002:10003's"
  else
    t_fail "bench: folder of 10002:10003: exit $T_STATUS, tqbench uid '$(last_uid)', files ${FILES[*]}"
    tail -n 5 "$T_TMP/bench-user.log"
  fi
else
  echo "SKIP: results folder of another user: needs root (chown, setpriv)"
fi

# --- SIGTERM (what `docker compose down` sends): graceful exit 0, deregistered
for pid in "${WORKERS[@]}"; do
  t_stop "$pid" 20
  if [ "$T_STATUS" -eq 0 ]; then t_pass "worker pid $pid: SIGTERM -> exit 0"
  else t_fail "worker pid $pid: SIGTERM -> exit $T_STATUS"; fi
done
n=$("${RCLI[@]}" scard tq:workers)
if [ "$n" = 0 ]; then t_pass "worker: tq:workers empty after SIGTERM"
else t_fail "worker: tq:workers still holds $n ids after SIGTERM"; fi

# --- the celery profile: Celery's worker with tqbench's task module, and the
# bench service with TQ_FRAMEWORK=celery (the native workers scaled to 0)
if ! "$T_PY" -c 'import celery, redis' 2>/dev/null; then
  echo "SKIP: celery profile: python3-celery does not import under $T_PY"
else
  # the bench runs as an unprivileged uid (docker/tqbench-job), which may
  # not reach a checkout under a private home (/root): a readable copy, as
  # a file mounted into the container would be
  cp "$SRC/tests/compose/smoke_small.json" "$T_TMP/smoke_small.json"
  chmod 644 "$T_TMP/smoke_small.json"
  export TQ_WORKERS=1 TQ_FRAMEWORK=celery TQ_CONCURRENCY=4 TQ_HEALTH_TIMEOUT=60 \
         TQ_SCENARIO=$T_TMP/smoke_small.json TQ_RESULTS=$T_TMP/results-celery
  resolve "$T_TMP/celery.yaml" && local_args "$T_TMP/celery.yaml" celery-worker
  WORKDIR=$(awk '/^  celery-worker:/{s=1} s && /working_dir:/{print $2; exit}' "$T_TMP/celery.yaml")
  WORKDIR=${WORKDIR//\/opt\/tqbench/$OPT}
  echo "celery-worker: (cd $WORKDIR) ${LOCAL_ENV[*]} ${LOCAL_CMD[*]}"
  (cd "$WORKDIR" && exec env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}") >>"$T_TMP/celery.log" 2>&1 </dev/null &
  CELERY=$!
  T_PIDS+=("$CELERY")
  local_args "$T_TMP/celery.yaml" bench
  mkdir -p "$TQ_RESULTS"
  t_spawn "$T_TMP/bench-celery.log" env "${LOCAL_ENV[@]}" "${LOCAL_CMD[@]}"
  if t_wait "$T_LAST_PID" 150 && [ "$T_STATUS" -eq 0 ]; then
    t_pass "celery: bench (TQ_FRAMEWORK=celery) exited 0"
  else
    t_fail "celery: bench exit ${T_STATUS:-?}; logs:"; tail -n 20 "$T_TMP/bench-celery.log" "$T_TMP/celery.log"
  fi
  mapfile -t FILES < <(results_in "$T_TMP/results-celery")
  if [ "${#FILES[@]}" -ne 1 ]; then
    t_fail "celery: expected one results folder under TQ_RESULTS, found ${#FILES[@]}"
  elif out=$(check_results "${FILES[0]}" "$(scenario_tasks "$TQ_SCENARIO")" celery 2>&1); then
    t_pass "celery: results.json: $out"
  else
    t_fail "celery: results.json: $out"
  fi
  # Celery's pool children, to check they are gone after the warm shutdown
  # (once it is ready: its heartbeat starts at worker_ready, after the fork).
  for _ in $(seq 300); do
    [ "$("${RCLI[@]}" scard tq:workers)" -ge 1 ] && break
    t_alive "$CELERY" || break
    sleep 0.1
  done
  CHILDREN=$(cat /proc/"$CELERY"/task/*/children 2>/dev/null)
  t_stop "$CELERY" 20
  if [ "$T_STATUS" -eq 0 ]; then t_pass "celery-worker: SIGTERM (warm shutdown) -> exit 0"
  else t_fail "celery-worker: SIGTERM -> exit $T_STATUS"; tail -n 10 "$T_TMP/celery.log"; fi
  left=""
  for c in $CHILDREN; do t_alive "$c" && left="$left $c"; done
  if [ -z "$CHILDREN" ]; then t_fail "celery-worker: no pool children seen"
  elif [ -z "$left" ]; then t_pass "celery-worker: its pool children ($(echo $CHILDREN)) exited with it"
  else t_fail "celery-worker: pool children still running:$left"; for c in $left; do kill -KILL "$c"; done; fi
  n=$("${RCLI[@]}" scard tq:workers)
  if [ "$n" = 0 ]; then t_pass "celery-worker: deregistered from tq:workers"
  else t_fail "celery-worker: tq:workers still holds $n ids"; fi
fi

t_stop "$T_REDIS_PID" 5
t_summary
