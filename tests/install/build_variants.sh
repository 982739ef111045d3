#!/usr/bin/env bash
# build_variants.sh - the builds CI does not otherwise make.
#
#   gcc Release   -DCMAKE_BUILD_TYPE=Release (-O3): GCC 12 warns at -O3 where
#                 it is silent at -O2 (format-truncation, say)
#   clang         the default build type with clang
# Both configure a fresh out-of-tree build directory with -DTQ_WERROR=ON, so
# any warning fails the test, and build only the executables (tqbench,
# tqworker, tqpush; no tests) with -j2. The Release build is out of tree
# (under TMPDIR), so its tqbench must find the scenarios of the source tree it
# was built from: `tqbench list`, run from /, must exit 0 naming them.
# Exit 0 when all passed, 1 when anything failed, 77 (CTest's skip) when the
# GCC part passed and clang is missing (scripts/bootstrap installs it).
# Build directories are removed at the end (KEEP_TMP=1 keeps them).
#
#   build_variants.sh SOURCE_DIR
set -uo pipefail

SRC=${1:?usage: build_variants.sh SOURCE_DIR}
. "$SRC/tests/compose/lib.sh"

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-variants.XXXXXX")
trap t_cleanup EXIT
trap 'exit 130' INT TERM
TARGETS=(tqbench tqworker tqpush)

# variant NAME CC CMAKE-ARGS...: configure and build into T_TMP/NAME; every
# warning is shown (the log's warning lines) and fails it.
variant() {
  local name=$1 cc=$2; shift 2
  local dir=$T_TMP/$name start=$SECONDS
  if ! cmake -S "$SRC" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DTQ_WERROR=ON -DTQ_TESTS=OFF "$@" \
       >"$T_TMP/$name.configure.log" 2>&1; then
    t_fail "$name: configure failed:"; tail -n 20 "$T_TMP/$name.configure.log"
    return 1
  fi
  if cmake --build "$dir" -j 2 --target "${TARGETS[@]}" >"$T_TMP/$name.build.log" 2>&1; then
    t_pass "$name ($cc $*): ${TARGETS[*]} built with -Werror in $((SECONDS - start)) s"
  else
    t_fail "$name ($cc $*): the build failed:"
    grep -E 'warning:|error:' "$T_TMP/$name.build.log" | head -n 20
    grep -qE 'warning:|error:' "$T_TMP/$name.build.log" || tail -n 20 "$T_TMP/$name.build.log"
    return 1
  fi
}

if command -v gcc >/dev/null; then
  if variant gcc-release gcc -DCMAKE_BUILD_TYPE=Release; then
    # out of tree: the data comes from the source tree it was built from
    out=$(cd / && "$T_TMP/gcc-release/bin/tqbench" list 2>&1)
    rc=$?
    real_src=$(cd "$SRC" && pwd -P)
    if [ "$rc" -eq 0 ] && grep -qF "data: $real_src/bench (source tree)" <<<"$out" &&
       grep -q '^  throughput ' <<<"$out"; then
      t_pass "out-of-tree tqbench list (from /) reads $real_src/bench/scenarios"
    else
      t_fail "out-of-tree tqbench list: exit $rc:"; echo "$out" | head -n 10
    fi
  fi
else
  t_fail "no gcc on PATH"
fi

if ! command -v clang >/dev/null; then
  t_summary || exit 1
  echo "SKIPPED: the clang build: no clang on PATH (scripts/bootstrap installs clang)"
  exit 77
fi
variant clang clang
t_summary
