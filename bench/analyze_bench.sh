#!/usr/bin/env bash
# `obsgate analyze --format docker` over the generated docker json-file corpus on disk, against
# simdjson's iterate_many reading every document's "log" string from the same file in the same run
# (bench/iterate_many.cpp, one thread). Wall time of each process, best of three; the file is read
# once first, so all three read it from the page cache.
#   bench/analyze_bench.sh [BUILD_DIR] [LINES]     needs bc
set -euo pipefail
build=${1:-build}
lines=${2:-600000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/files"
"$build/bench/log_pipeline_bench" --write "$dir/files" "$lines"
mv "$dir/files/all.log" "$dir/all.log"
cat "$dir/all.log" "$dir"/files/*.log > /dev/null
bytes=$(stat -c %s "$dir/all.log")
cores=$(nproc)

best() {  # best wall time in seconds of three runs of "$@"
  local b=""
  for _ in 1 2 3; do
    local start end t
    start=$(date +%s%N)
    "$@" > /dev/null
    end=$(date +%s%N)
    t=$(echo "scale=4; ($end - $start) / 1000000000" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
report() {  # name seconds [baseline seconds]
  local mbs
  mbs=$(echo "scale=1; $bytes / $2 / 1000000" | bc)
  if [ $# -gt 2 ]; then
    printf '%-44s %8s s %8s MB/s   ratio to (a) %s\n' "$1" "$2" "$mbs" \
      "$(echo "scale=2; $3 / $2" | bc)"
  else
    printf '%-44s %8s s %8s MB/s\n' "$1" "$2" "$mbs"
  fi
}

a=$(best "$build/bench/iterate_many" "$dir/all.log")
b=$(best "$build/app/obsgate" analyze --format docker --threads 1 "$dir/all.log")
c=$(best "$build/app/obsgate" analyze --format docker --threads "$cores" "$dir/all.log")
d=$(best "$build/app/obsgate" analyze --format docker --threads "$cores" "$dir"/files/*.log)
echo "corpus: $lines lines, $bytes bytes in one file and in 900 files named as the kubelet names them"
report "(a) simdjson iterate_many + \"log\", 1 thread" "$a"
report "(b) obsgate analyze, one file, 1 thread" "$b" "$a"
report "(c) obsgate analyze, one file, $cores threads" "$c" "$a"
report "(d) obsgate analyze, 900 files, $cores threads" "$d" "$a"

# The figures mean something only if every line was counted, the same with any thread count.
one=$("$build/app/obsgate" analyze --format docker --threads 1 --json "$dir"/files/*.log)
many=$("$build/app/obsgate" analyze --format docker --threads "$cores" --json "$dir"/files/*.log)
whole=$("$build/app/obsgate" analyze --format docker --threads "$cores" --json "$dir/all.log")
counted=$(echo "$one" | grep -o '"lines":[0-9]*' | cut -d: -f2)
series=$(echo "$one" | grep -o '"deployment":' | wc -l)
if [ "$one" != "$many" ] || [ "$counted" -lt "$lines" ] ||
  [ "$(echo "$whole" | grep -o '"lines":[0-9]*' | cut -d: -f2)" != "$counted" ]; then
  echo "counts disagree between thread counts or with the corpus" >&2
  exit 1
fi
echo "counted $counted lines in $series series, the same with 1 thread and $cores threads"
