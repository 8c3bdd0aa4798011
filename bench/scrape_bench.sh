#!/usr/bin/env bash
# obsgate's scrape duration against Prometheus's scrape_duration_seconds, both scraping the same
# generated 100,000-series exposition served from memory on loopback in the same run. Both figures
# cover fetch, parse and per-sample work (Prometheus: appending to its head block; obsgate:
# matching the request/error selectors and computing increases), and are read from one Prometheus,
# which also scrapes obsgate's own /metrics.
#   bench/scrape_bench.sh [BUILD_DIR] [SECONDS]     needs prometheus, curl and python3
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$dir"' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
  for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2
  return 1
}

"$build/bench/exposition_bench" 100000 --write "$dir/metrics.prom" > /dev/null
target_port=$(free_port)
"$build/bench/serve_exposition" "$dir/metrics.prom" "$target_port" > /dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$target_port/metrics"

obsgate_port=$(free_port)
cat > "$dir/obsgate.yaml" <<YAML
listen: 127.0.0.1:$obsgate_port
sources:
  - scrape:
      interval: 5s
      timeout: 5s
      targets: [{url: "http://127.0.0.1:$target_port/metrics"}]
YAML
"$build/app/obsgate" run --config "$dir/obsgate.yaml" > "$dir/obsgate.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$obsgate_port/metrics"

prom_port=$(free_port)
cat > "$dir/prometheus.yml" <<YAML
scrape_configs:
  - job_name: bench
    scrape_interval: 5s
    scrape_timeout: 5s
    static_configs: [{targets: ['127.0.0.1:$target_port']}]
  - job_name: obsgate
    scrape_interval: 1s
    static_configs: [{targets: ['127.0.0.1:$obsgate_port']}]
YAML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$dir/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready"
sleep "$seconds"

query() {
  curl -s --data-urlencode "query=$1" "http://127.0.0.1:$prom_port/api/v1/query" |
    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(float(r[0]["value"][1]) if r else float("nan"))'
}
window="${seconds}s"
# obsgate's gauge holds its last scrape; sampled every second, each scrape weighs the same.
p_n=$(query "count_over_time(scrape_duration_seconds{job=\"bench\"}[$window])")
p_min=$(query "min_over_time(scrape_duration_seconds{job=\"bench\"}[$window])")
p_avg=$(query "avg_over_time(scrape_duration_seconds{job=\"bench\"}[$window])")
p_samples=$(query "max_over_time(scrape_samples_scraped{job=\"bench\"}[$window])")
o_min=$(query "min_over_time(obsgate_scrape_duration_seconds{job=\"obsgate\"}[$window])")
o_avg=$(query "avg_over_time(obsgate_scrape_duration_seconds{job=\"obsgate\"}[$window])")
o_samples=$(query "max_over_time(obsgate_scrape_samples_scraped{job=\"obsgate\"}[$window])")
o_up=$(query "min_over_time(obsgate_scrape_up{job=\"obsgate\"}[$window])")
python3 - "$p_n" "$p_min" "$p_avg" "$p_samples" "$o_min" "$o_avg" "$o_samples" "$o_up" <<'PY'
import sys
p_n, p_min, p_avg, p_samples, o_min, o_avg, o_samples, o_up = map(float, sys.argv[1:])
print(f"exposition: {p_samples:.0f} samples (Prometheus), {o_samples:.0f} (obsgate); "
      f"{p_n:.0f} Prometheus scrapes; obsgate up throughout: {o_up == 1}")
print(f"{'':28} {'min ms':>8} {'avg ms':>8}")
print(f"{'Prometheus scrape_duration':28} {p_min * 1e3:8.1f} {p_avg * 1e3:8.1f}")
print(f"{'obsgate scrape_duration':28} {o_min * 1e3:8.1f} {o_avg * 1e3:8.1f}")
print(f"{'ratio obsgate / Prometheus':28} {o_min / p_min:8.2f} {o_avg / p_avg:8.2f}")
PY
