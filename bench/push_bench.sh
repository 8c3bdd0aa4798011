#!/usr/bin/env bash
# Push throughput over loopback: obsgate and the load client share the machine's 2 cores.
# The baseline in the same run is GET /health over the same connections (the HTTP floor).
#   bench/push_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/obsgate.yaml" <<YAML
listen: 127.0.0.1:0
server: {threads: 2}
sources: [{http: {max_inflight_size: 256MiB}}]
YAML
"$build/app/obsgate" run --config "$dir/obsgate.yaml" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(grep -o '"listen":"[^"]*"' "$dir/log" | grep -o '[0-9]*"$' | tr -d '"' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
for kind in health json protobuf; do
  "$build/bench/push_load" "$port" "$seconds" 4 "$kind" 1000
done
curl -s "127.0.0.1:$port/metrics" | grep -E '^obsgate_ingest_lines_total|^process_resident_memory_bytes'
