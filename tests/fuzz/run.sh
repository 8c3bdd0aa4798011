#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each, one after the other, for
# SECONDS (default 300) on a working copy of its seed corpus; prints the executions per target.
# Crashes land in tests/fuzz/out/<target>/ (ignored by git): add a fixed crasher to the seed corpus.
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${OBSGATE_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-300}
if [[ $# -gt 0 ]]; then shift; fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(fuzz_docker fuzz_cri fuzz_classify fuzz_access_log fuzz_line_path
           fuzz_loki_json fuzz_loki_protobuf fuzz_label_selector fuzz_otlp_logs fuzz_exposition
           fuzz_rule_expr fuzz_label_matcher fuzz_notification_json fuzz_silence
           fuzz_migration_lint fuzz_auto_stream fuzz_cluster_wire fuzz_docker_json_log
           fuzz_rfc3339 fuzz_line_cutter)
fi

if ! grep -q 'tests/fuzz' "$root/CMakeLists.txt"; then
  echo "run.sh: the top-level CMakeLists.txt does not add tests/fuzz; add:" >&2
  echo '  if(OBSGATE_FUZZ) add_subdirectory(tests/fuzz) endif()' >&2
  exit 2
fi

CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DOBSGATE_FUZZ=ON -DOBSGATE_TESTS=OFF \
  -DOBSGATE_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j1 --target "${targets[@]}"

status=0
summary=()
for t in "${targets[@]}"; do
  work="$build/fuzz-work/$t"
  artifacts="$root/tests/fuzz/out/$t"
  mkdir -p "$work/corpus" "$artifacts"
  cp -n "$root/tests/fuzz/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
  echo "== $t: ${seconds}s"
  rc=0
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$artifacts/" "$work/corpus" \
    >"$work/log" 2>&1 || rc=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/log")
  summary+=("$t: ${execs:-?} execs, exit $rc, corpus $(ls "$work/corpus" | wc -l) files")
  if [[ $rc -ne 0 ]]; then
    status=1
    grep -E 'ERROR|SUMMARY|Test unit written' "$work/log" | head -5 || true
  fi
done
printf '%s\n' "${summary[@]}"
exit $status
