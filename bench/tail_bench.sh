#!/usr/bin/env bash
# Tail throughput from one large docker json-file log, against `wc -l` over the same file in the
# same run (the cost of only reading the bytes and finding the newlines).
#   bench/tail_bench.sh [BUILD_DIR] [LINES]
set -euo pipefail
build=${1:-build}
lines=${2:-1000000}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
log="$dir/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-$(printf 'a%.0s' $(seq 64)).log"
mkdir -p "$(dirname "$log")"
awk -v n="$lines" 'BEGIN {
  for (i = 0; i < n; i++) {
    s = (i % 50 == 0) ? 503 : 200; l = (i % 50 == 0) ? "error" : "info";
    printf "{\"log\":\"{\\\"ts\\\":\\\"2024-03-05T10:00:00Z\\\",\\\"level\\\":\\\"%s\\\",\\\"msg\\\":\\\"request done\\\",\\\"path\\\":\\\"/api/v1/users\\\",\\\"status\\\":%d,\\\"duration_ms\\\":%d}\\n\",\"stream\":\"stdout\",\"time\":\"2024-03-05T10:00:00.000000000Z\"}\n", l, s, i % 900
  }
}' > "$log"
bytes=$(stat -c %s "$log")
start=$(date +%s.%N)
wc -l "$log" > /dev/null
wc_s=$(echo "$(date +%s.%N) - $start" | bc)
cat > "$dir/obsgate.yaml" <<YAML
listen: 127.0.0.1:0
sources: [{tail: {paths: ["$dir/var/log/containers/*.log"], format: docker, read_from_head: true}}]
YAML
start=$(date +%s.%N)
"$build/app/obsgate" run --config "$dir/obsgate.yaml" > "$dir/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 200); do
  port=$(grep -o '"listen":"[^"]*"' "$dir/log" | grep -o '[0-9]*"$' | tr -d '"' || true)
  [ -n "$port" ] && break
  sleep 0.05
done
while true; do
  n=$(curl -s "127.0.0.1:$port/metrics" | awk '/^obsgate_ingest_lines_total/ {print $2}')
  [ "${n:-0}" = "$lines" ] && break
  [ "${n%%.*}" -ge "$lines" ] 2>/dev/null && break
  sleep 0.02
done
tail_s=$(echo "$(date +%s.%N) - $start" | bc)
echo "file: $lines lines, $((bytes / 1000000)) MB"
printf 'wc -l:        %6.2f s  %8.0f MB/s\n' "$wc_s" "$(echo "$bytes / $wc_s / 1000000" | bc -l)"
printf 'obsgate tail: %6.2f s  %8.0f MB/s  %9.0f lines/s (start-up included)\n' "$tail_s" \
  "$(echo "$bytes / $tail_s / 1000000" | bc -l)" "$(echo "$lines / $tail_s" | bc -l)"
