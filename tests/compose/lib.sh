# lib.sh - shell helpers shared by tqbench's shell tests (tests/compose,
# tests/docs); sourced, not run.
#
# A private redis-server on a free loopback port, background children tracked
# in T_PIDS and stopped by pid (SIGTERM, a grace, SIGKILL, reaped with wait),
# PASS/FAIL lines and the closing "N passed, N failed" count. Never kills by
# name; never touches a Redis the test did not start.

T_PIDS=()
T_PASSED=0
T_FAILED=0
T_TMP=""
T_REDIS_PID=""
T_REDIS_PORT=""
T_PY=/usr/bin/python3   # Debian's python (python3-yaml); the PATH one may be another

t_pass() { T_PASSED=$((T_PASSED + 1)); echo "PASS: $*"; }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL: $*"; }
t_check() { # t_check "what" command...: PASS when the command succeeds
  local what=$1; shift
  if "$@"; then t_pass "$what"; else t_fail "$what"; fi
}

# Prints the closing count and returns non-zero when anything failed.
t_summary() {
  echo "${T_PASSED} passed, ${T_FAILED} failed"
  [ "$T_FAILED" -eq 0 ] && [ "$T_PASSED" -gt 0 ]
}

# A free TCP port on 127.0.0.1 (the kernel's pick; tiny race until bound).
t_free_port() {
  "$T_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# 0 while pid is a running (not zombie) process.
t_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

# t_spawn LOG cmd args...: starts cmd in the background with stdout and stderr
# appended to LOG; its pid goes to T_LAST_PID and T_PIDS.
t_spawn() {
  local log=$1; shift
  "$@" >>"$log" 2>&1 </dev/null &
  T_LAST_PID=$!
  T_PIDS+=("$T_LAST_PID")
}

# t_wait PID TIMEOUT_S: waits for a child; sets T_STATUS to its exit status
# (128+signal when killed) and returns 0, or returns 1 when still running.
t_wait() {
  local pid=$1 deadline=$(( $(date +%s) + $2 ))
  while t_alive "$pid"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
  T_STATUS=0
  wait "$pid" 2>/dev/null || T_STATUS=$?
  t_forget "$pid"
}

t_forget() {
  local p keep=()
  for p in "${T_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  T_PIDS=("${keep[@]}")
}

# t_stop PID [GRACE_S]: SIGTERM, GRACE_S (default 5) to exit, then SIGKILL;
# reaps it and sets T_STATUS.
t_stop() {
  local pid=$1 grace=${2:-5}
  kill -TERM "$pid" 2>/dev/null || true
  if ! t_wait "$pid" "$grace"; then
    echo "note: pid $pid still running ${grace} s after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    t_wait "$pid" 5 || true
  fi
}

# t_redis_start [redis-server args...]: a private redis-server on a free
# loopback port in T_TMP (no persistence unless the args say otherwise),
# waited for with PING. Sets T_REDIS_PORT and T_REDIS_PID.
t_redis_start() {
  local i
  T_REDIS_PORT=$(t_free_port)
  t_spawn "$T_TMP/redis.log" redis-server "$@" --port "$T_REDIS_PORT" --bind 127.0.0.1 \
    --dir "$T_TMP" --daemonize no
  T_REDIS_PID=$T_LAST_PID
  for i in $(seq 100); do
    redis-cli -h 127.0.0.1 -p "$T_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    t_alive "$T_REDIS_PID" || break
    sleep 0.05
  done
  echo "redis-server (pid $T_REDIS_PID) did not answer PING on 127.0.0.1:$T_REDIS_PORT; log:"
  tail -n 5 "$T_TMP/redis.log"
  return 1
}

# Stops every child still tracked (by pid) and removes T_TMP unless KEEP_TMP=1.
t_cleanup() {
  local pid
  for pid in "${T_PIDS[@]}"; do t_stop "$pid" 5; done
  if [ -n "$T_TMP" ] && [ "${KEEP_TMP:-0}" != 1 ]; then rm -rf "$T_TMP"; fi
}
