#!/usr/bin/env bash
# docs_runnable.sh - every command a document marks runnable works as written.
#
# The ```sh blocks of DOC (WORKER_SETUP.md) carry markers (doc_blocks.py
# explains them). This test starts a private redis-server on a free loopback
# port, exports TQ_REDIS_URL (the variable the document tells readers to set)
# pointing at it, and runs the runnable blocks in order, each with
# `bash -eo pipefail` in a scratch directory laid out like a checkout (build/,
# scripts/, bench/, docker/ link to the real ones), so relative paths work as
# written and nothing lands in the source tree. Background blocks are started
# in their own process group and stopped at the end with SIGTERM, where they
# must exit 0. Any worker a block left in the scratch .run/workers is stopped
# by its pid and counted as a failure.
#
#   docs_runnable.sh BIN_DIR SOURCE_DIR DOC
set -uo pipefail

BIN=${1:?usage: docs_runnable.sh BIN_DIR SOURCE_DIR DOC}
SRC=${2:?usage: docs_runnable.sh BIN_DIR SOURCE_DIR DOC}
DOC=${3:?usage: docs_runnable.sh BIN_DIR SOURCE_DIR DOC}
. "$SRC/tests/compose/lib.sh"

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-docs.XXXXXX")
trap t_cleanup EXIT
trap 'exit 130' INT TERM
BLOCK_TIMEOUT=${TQ_DOCS_BLOCK_TIMEOUT:-120}

if ! "$T_PY" "$SRC/tests/docs/doc_blocks.py" "$DOC" "$T_TMP/blocks" >"$T_TMP/manifest" 2>"$T_TMP/blocks.err"; then
  t_fail "$(cat "$T_TMP/blocks.err")"
  t_summary; exit 1
fi
[ -s "$T_TMP/manifest" ] || { t_fail "$DOC has no runnable blocks"; t_summary; exit 1; }

WORK=$T_TMP/work
mkdir -p "$WORK"
ln -s "$(cd "$BIN/.." && pwd)" "$WORK/build"
for d in scripts bench docker; do ln -s "$SRC/$d" "$WORK/$d"; done

t_redis_start --save '' --appendonly no || { t_fail "private redis-server"; t_summary; exit 1; }
export TQ_REDIS_URL=redis://127.0.0.1:$T_REDIS_PORT/0
unset TQ_BUILD_DIR TQ_RUN_DIR
echo "docs: $DOC against $TQ_REDIS_URL in $WORK"

BACKGROUND=()
BG_LINE=()
BG_LOG=()
while read -r n mode expected line; do
  block=$T_TMP/blocks/$n.sh
  first=$(grep -m1 -v '^\s*\(#\|$\)' "$block" | sed 's/ *\\$/ .../')
  where="$(basename "$DOC"):$line"
  if [ "$mode" = background ]; then
    # bash -c execs a lone command, so the leader is the worker itself.
    (cd "$WORK" && exec setsid bash -c "$(cat "$block")") >>"$T_TMP/bg-$n.log" 2>&1 </dev/null &
    pid=$!
    T_PIDS+=("$pid")
    BACKGROUND+=("$pid")
    BG_LINE+=("$where")
    BG_LOG+=("$T_TMP/bg-$n.log")
    sleep 0.5
    if t_alive "$pid"; then
      t_pass "$where: started in the background (pid $pid): $first"
    else
      t_fail "$where: exited at once: $first"; tail -n 10 "$T_TMP/bg-$n.log"
    fi
    continue
  fi
  (cd "$WORK" && exec bash -eo pipefail "$block") >"$T_TMP/out-$n.log" 2>&1 </dev/null &
  pid=$!
  T_PIDS+=("$pid")
  if ! t_wait "$pid" "$BLOCK_TIMEOUT"; then
    t_fail "$where: still running after ${BLOCK_TIMEOUT} s: $first"
    t_stop "$pid"
    continue
  fi
  if [ "$T_STATUS" -eq "$expected" ]; then
    t_pass "$where: exit $T_STATUS: $first"
  else
    t_fail "$where: exit $T_STATUS, expected $expected: $first"
    sed 's/^/    /' "$T_TMP/out-$n.log" | tail -n 20
  fi
done <"$T_TMP/manifest"

# Background blocks: SIGTERM to their process groups; graceful means exit 0.
for k in "${!BACKGROUND[@]}"; do
  pid=${BACKGROUND[$k]}
  if ! t_alive "$pid"; then
    t_wait "$pid" 1
    t_fail "${BG_LINE[$k]}: had already exited (status $T_STATUS) before the end"
    tail -n 10 "${BG_LOG[$k]}"
    continue
  fi
  kill -TERM -- "-$pid" 2>/dev/null || true
  T_STATUS=""
  if t_wait "$pid" 20 && [ "$T_STATUS" -eq 0 ]; then
    t_pass "${BG_LINE[$k]}: SIGTERM -> exit 0"
  else
    t_fail "${BG_LINE[$k]}: SIGTERM -> status ${T_STATUS:-still running}"
    tail -n 10 "${BG_LOG[$k]}"
    t_stop "$pid"
  fi
done

# Workers the document started with scripts/workers must have been stopped by it.
for f in "$WORK"/.run/workers/worker-*.pid; do
  [ -e "$f" ] || continue
  pid=$(cat "$f")
  if t_alive "$pid"; then
    t_fail "worker pid $pid ($f) left running by the document; stopping it"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do t_alive "$pid" || break; sleep 0.1; done
    t_alive "$pid" && kill -KILL "$pid"
  fi
done

t_stop "$T_REDIS_PID" 5
t_summary
