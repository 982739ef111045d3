#!/usr/bin/env bash
# install.sh - tqbench as installed: `cmake --install` of this build.
#
# Installs BUILD_DIR to a temporary prefix, then moves the whole prefix
# somewhere else (an installed tree is relocatable: tqbench finds its data at
# <exe dir>/../share/tqbench, not at a path fixed at build time) and, from a
# working directory that holds nothing of tqbench's, checks that:
#   - bin/ holds tqbench, tqworker, tqpush; share/tqbench holds every
#     scenario and the Celery files, and no C source;
#   - `tqbench list` lists every scenario from the installed data;
#   - `tqbench run --scenario all` (200 tasks each, no warm-up, its embedded
#     Redis) exits 0 with every run ok and exact counts, and results.json
#     says the data and the worker came from the installed tree;
#   - tqworker --help and tqpush --help work;
#   - TQ_DATA_DIR overrides the data directory, and a wrong one is an error
#     naming it (exit 2), never a silent fall back.
# The temporary prefix is removed at the end (KEEP_TMP=1 keeps it).
#
#   install.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: install.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: install.sh BUILD_DIR SOURCE_DIR}
. "$SRC/tests/compose/lib.sh"

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-install.XXXXXX")
trap t_cleanup EXIT
T_TMP=$(cd "$T_TMP" && pwd -P)  # tqbench reports real paths: compare with those
trap 'exit 130' INT TERM

if ! cmake --install "$BUILD" --prefix "$T_TMP/prefix" >"$T_TMP/install.log" 2>&1; then
  t_fail "cmake --install $BUILD --prefix $T_TMP/prefix:"; tail -n 20 "$T_TMP/install.log"
  t_summary; exit 1
fi
t_pass "cmake --install $BUILD --prefix <tmp>/prefix"
# relocated: nothing may depend on the prefix the files were installed to
mv "$T_TMP/prefix" "$T_TMP/moved"
P=$T_TMP/moved
DATA=$P/share/tqbench
mkdir "$T_TMP/cwd"
cd "$T_TMP/cwd" || exit 1

# --- the files
for b in tqbench tqworker tqpush; do
  t_check "bin/$b installed and executable" test -x "$P/bin/$b"
done
want=$(cd "$SRC/bench/scenarios" && ls *.json | sort | tr '\n' ' ')
got=$(cd "$DATA/scenarios" 2>/dev/null && ls *.json | sort | tr '\n' ' ')
if [ -n "$want" ] && [ "$want" = "$got" ]; then t_pass "share/tqbench/scenarios: $got"
else t_fail "share/tqbench/scenarios holds '$got', the source tree '$want'"; fi
for f in tqbench_tasks.py tqbench_hook.py client_enqueue.py; do
  t_check "share/tqbench/frameworks/celery/$f installed" test -f "$DATA/frameworks/celery/$f"
done
csrc=$(find "$DATA" -name '*.[ch]' | head -3)
if [ -z "$csrc" ]; then t_pass "no C sources under share/tqbench"
else t_fail "C sources installed as data: $csrc"; fi

# --- list, from a directory with nothing of tqbench's
if "$P/bin/tqbench" list >"$T_TMP/list.out" 2>&1; then
  t_pass "installed tqbench list exits 0 in $(pwd)"
else
  t_fail "installed tqbench list: exit $?"; cat "$T_TMP/list.out"
fi
if grep -qF "data: $DATA (installed)" "$T_TMP/list.out"; then
  t_pass "tqbench list reads the installed data ($DATA)"
else
  t_fail "tqbench list does not name the installed data:"; head -n 3 "$T_TMP/list.out"
fi
missing=""
for f in $want; do grep -q "^  ${f%.json} " "$T_TMP/list.out" || missing="$missing ${f%.json}"; done
if [ -z "$missing" ]; then t_pass "tqbench list names every scenario"
else t_fail "tqbench list misses:$missing"; fi

# --- every scenario, a small native run each
if "$P/bin/tqbench" run --scenario all --tasks 200 --warmup 0 --quiet \
     --results-root "$T_TMP/results" >"$T_TMP/run.out" 2>&1; then
  t_pass "installed tqbench run --scenario all --tasks 200 exits 0"
else
  t_fail "installed tqbench run --scenario all: exit $?; output:"; tail -n 20 "$T_TMP/run.out"
fi
results=$(find "$T_TMP/results" -name results.json 2>/dev/null | head -1)
if [ -z "$results" ]; then
  t_fail "no results.json under --results-root $T_TMP/results"
elif out=$("$T_PY" - "$results" "$P" "$want" 2>&1 <<'EOF'
import json, sys
path, prefix, want = sys.argv[1], sys.argv[2], sys.argv[3].split()
d = json.load(open(path))
cfg = d["config"]
assert cfg["data_source"] == "installed", f"data_source {cfg['data_source']!r}"
assert cfg["data_dir"] == prefix + "/share/tqbench", f"data_dir {cfg['data_dir']!r}"
assert cfg["worker_bin"] == prefix + "/bin/tqworker", f"worker_bin {cfg['worker_bin']!r}"
runs = d["runs"]
# a sweep runs a row per point: every scenario ran, each row tagged when swept
names = sorted(set(r["scenario"] for r in runs))
assert names == sorted(w[:-5] for w in want), f"scenarios run: {names}"
for s in names:
    rows = [r for r in runs if r["scenario"] == s]
    assert len(rows) == 1 or all("sweep" in r for r in rows), f"{s}: {len(rows)} untagged rows"
for r in runs:
    assert r["status"] == "ok", f"{r['scenario']}: status {r['status']}"
    assert r["tasks"] == 200 and r["completed"] + r["failed"] == 200 and r["lost"] == 0, \
        f"{r['scenario']}: tasks {r['tasks']} completed {r['completed']} failed {r['failed']} lost {r['lost']}"
print(f"{len(runs)} runs ok, 200 tasks each, data and worker from {prefix}")
EOF
); then
  t_pass "results.json: $out"
else
  t_fail "results.json ($results): $out"
fi

# --- the other programs
t_check "installed tqworker --help exits 0" bash -c '"$1" --help | grep -q -- --log-level' _ "$P/bin/tqworker"
t_check "installed tqpush --help exits 0" bash -c '"$1" --help | grep -q -- --tasks' _ "$P/bin/tqpush"

# --- TQ_DATA_DIR: another data directory, and a wrong one
cp -r "$DATA" "$T_TMP/data"
printf '{"description": "only in TQ_DATA_DIR", "tasks": 10}\n' >"$T_TMP/data/scenarios/mine.json"
if TQ_DATA_DIR=$T_TMP/data "$P/bin/tqbench" list >"$T_TMP/list2.out" 2>&1 &&
   grep -qF "data: $T_TMP/data (TQ_DATA_DIR)" "$T_TMP/list2.out" &&
   grep -q '^  mine .*only in TQ_DATA_DIR' "$T_TMP/list2.out"; then
  t_pass "TQ_DATA_DIR=<dir>: tqbench list reads that directory"
else
  t_fail "TQ_DATA_DIR=<dir>: tqbench list:"; cat "$T_TMP/list2.out"
fi
TQ_DATA_DIR=$T_TMP/nowhere "$P/bin/tqbench" list >"$T_TMP/list3.out" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -qF "$T_TMP/nowhere" "$T_TMP/list3.out"; then
  t_pass "TQ_DATA_DIR=<missing dir>: exit 2 naming it ($(grep -m1 -F "$T_TMP/nowhere" "$T_TMP/list3.out"))"
else
  t_fail "TQ_DATA_DIR=<missing dir>: exit $rc:"; cat "$T_TMP/list3.out"
fi

t_summary
