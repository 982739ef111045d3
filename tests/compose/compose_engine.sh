#!/usr/bin/env bash
# compose_engine.sh - WORKER_SETUP.md's docker compose commands, run as
# written against a real Docker engine: `just compose-engine` (not in CI,
# which has no engine; compose_smoke.sh is the engine-less version).
#
# In a copy of the repository (its tracked and untracked files, so results
# land in the copy's results/compose), every line of the two blocks marked
# "compose_engine.sh runs these" runs as written: the compose v2 plugin's block
# when `docker compose` exists (else SKIP), Debian's docker-compose v1 block
# when docker-compose exists. Each `up` must exit 0 and add one results folder
# whose results.json has the run's exact counts and whose path tqbench printed
# as "results on the host: ..."; after `down` nothing of the project remains
# (containers, networks) and no new dangling volume exists. As root, also:
# the results folder chowned to 1000:1000 gets results owned by 1000:1000
# (tqbench ran as the folder's owner), and `just docker-up` (root, so a
# root-owned folder) has tqbench run as 10001 with the results copied in.
# PASS/FAIL lines, "N passed, N failed"; exit 0 only when all passed.
#
#   tests/compose/compose_engine.sh
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/compose/lib.sh"
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-compose-engine.XXXXXX")
trap t_cleanup EXIT
START=$(date +%s)

docker info >/dev/null 2>&1 || { echo "compose_engine: no Docker engine answers (docker info)"; exit 2; }
for img in "${TQ_DEBIAN_IMAGE:-debian:bookworm-slim}" "${TQ_REDIS_IMAGE:-redis:7}"; do
  docker image inspect "$img" >/dev/null 2>&1 || timeout 120 docker pull "$img" >/dev/null 2>&1 ||
    { echo "compose_engine: no $img and cannot pull it: run docker/base-images (WORKER_SETUP.md)"; exit 2; }
done

REPO=$T_TMP/repo
mkdir -p "$REPO"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$REPO" 2>/dev/null)
[ -f "$REPO/docker/compose.yaml" ] || { t_fail "copy of the repository in $REPO"; t_summary; exit 1; }
cd "$REPO"

# the documented blocks, one file of lines each
"$T_PY" - "$REPO/WORKER_SETUP.md" "$T_TMP" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
n, i = 0, 0
while i < len(lines):
    if "compose_engine.sh runs these" in lines[i]:
        j = i + 1
        while not lines[j].startswith("```sh"):
            j += 1
        k = j + 1
        while not lines[k].startswith("```"):
            k += 1
        n += 1
        open(f"{sys.argv[2]}/block{n}", "w").write("\n".join(lines[j + 1:k]) + "\n")
        i = k
    i += 1
print(n)
PY
BLOCKS=$(ls "$T_TMP"/block* 2>/dev/null | wc -l)
[ "$BLOCKS" -ge 2 ] && t_pass "WORKER_SETUP.md: $BLOCKS compose blocks to run" ||
  t_fail "WORKER_SETUP.md: $BLOCKS blocks marked 'compose_engine.sh runs these', want 2"

leftovers() { # what of the project tqbench is still there
  docker ps -aq --filter label=com.docker.compose.project=tqbench | sed 's/^/container /'
  docker network ls -q --filter label=com.docker.compose.project=tqbench | sed 's/^/network /'
}
dangling() { docker volume ls -q --filter dangling=true | sort; }

# check_up LOG: one new results folder with exact counts, printed host path
check_up() {
  local log=$1 f host
  f=$(find results/compose -mindepth 2 -maxdepth 2 -name results.json -newer "$T_TMP/mark" | sort | tail -n 1)
  if [ -z "$f" ]; then t_fail "no new results.json under results/compose"; return 1; fi
  if "$T_PY" - "$f" <<'PY' >"$T_TMP/counts" 2>&1; then
import json, sys
for r in json.load(open(sys.argv[1]))["runs"]:
    assert r["status"] == "ok" and r["completed"] == r["tasks"] and r["failed"] == 0 and r["lost"] == 0, r
    print(f"{r['scenario'] if 'scenario' in r else ''} {r['tasks']} tasks, {r['completed']} completed, 0 failed, 0 lost".strip())
PY
    t_pass "$f: $(cat "$T_TMP/counts")"
  else
    t_fail "$f: $(tail -n 2 "$T_TMP/counts")"
  fi
  host=$(sed -n 's/.*results on the host: //p' "$log" | tail -n 1 | tr -d '\r')
  if [ "$host" = "$f" ]; then t_pass "tqbench printed 'results on the host: $host'"
  else t_fail "tqbench printed host path '$host', the results are at $f"; fi
  LAST_RESULTS=$f
}

before_vols=$(dangling)
for b in "$T_TMP"/block*; do
  first=$(grep -m1 -o 'docker[ -]compose' "$b")
  if [ "$first" = "docker compose" ] && ! docker compose version >/dev/null 2>&1; then
    echo "SKIP: the compose v2 plugin's block: no \`docker compose\` here"
    continue
  fi
  if [ "$first" = docker-compose ] && ! command -v docker-compose >/dev/null; then
    echo "SKIP: the docker-compose v1 block: no docker-compose here"
    continue
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    touch "$T_TMP/mark"
    sleep 1   # results folders are stamped to the second
    echo "+ $line"
    if bash -c "$line" >"$T_TMP/out" 2>&1; then
      t_pass "exit 0: $line"
    else
      t_fail "exit $?: $line"; tail -n 20 "$T_TMP/out"
    fi
    case $line in
      *" up "*) check_up "$T_TMP/out" ;;
      *" down"*)
        left=$(leftovers)
        [ -z "$left" ] && t_pass "after down: no container or network of project tqbench" ||
          t_fail "after down: left $left"
        if [ "$(dangling)" = "$before_vols" ]; then t_pass "after down: no new dangling volume"
        else t_fail "after down: new dangling volumes: $(comm -13 <(echo "$before_vols") <(dangling) | tr '\n' ' ')"; fi ;;
    esac
  done <"$b"
done

if [ "$(id -u)" = 0 ]; then
  COMPOSE="docker-compose"
  docker compose version >/dev/null 2>&1 && COMPOSE="docker compose"
  # a results folder of user 1000: tqbench writes as 1000
  chown 1000:1000 results/compose
  touch "$T_TMP/mark"; sleep 1
  if $COMPOSE -f docker/compose.yaml up --exit-code-from bench >"$T_TMP/out" 2>&1 && check_up "$T_TMP/out"; then
    own=$(stat -c %u:%g "$LAST_RESULTS")
    if [ "$own" = 1000:1000 ] && ! grep -q 'tqbench-job: copied' "$T_TMP/out"; then
      t_pass "results/compose of 1000:1000: $LAST_RESULTS is 1000:1000's, written by tqbench itself"
    else
      t_fail "results/compose of 1000:1000: $LAST_RESULTS is $own's"
    fi
  else
    t_fail "up with results/compose of 1000:1000:"; tail -n 20 "$T_TMP/out"
  fi
  $COMPOSE -f docker/compose.yaml down >/dev/null 2>&1
  chown 0:0 results/compose
  # just docker-up as root: tqbench as 10001, the results copied in as root's
  if command -v just >/dev/null; then
    touch "$T_TMP/mark"; sleep 1
    if just docker-up >"$T_TMP/out" 2>&1 && check_up "$T_TMP/out"; then
      if grep -q 'tqbench-job: copied /tmp/tqbench-results' "$T_TMP/out" && [ "$(stat -c %u "$LAST_RESULTS")" = 0 ]; then
        t_pass "just docker-up as root: tqbench ran as 10001 into its own folder, copied in as root's"
      else
        t_fail "just docker-up as root: no copy by tqbench-job, or $LAST_RESULTS not root's"
      fi
    else
      t_fail "just docker-up as root:"; tail -n 20 "$T_TMP/out"
    fi
    just docker-down >/dev/null 2>&1
    [ -z "$(leftovers)" ] && t_pass "just docker-down: nothing of project tqbench left" ||
      t_fail "just docker-down left: $(leftovers)"
  fi
else
  echo "SKIP: the folder-owner and root cases need root"
fi
echo "compose_engine: $(( $(date +%s) - START )) s"
t_summary
