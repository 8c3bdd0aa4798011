#!/usr/bin/env bash
# Time from a bad rollout to the rollback, obsgate against Prometheus + Alertmanager, on the same
# traffic in the same run. bench/rollback_race_traffic.py sends shop/auth at 50 requests/s: v1
# healthy (0.2% errors), then v2 failing at each error rate given. It pushes the requests to
# (a) obsgate (default rules, orchestrator: the fake Kubernetes API, bench/fake_kubernetes_server)
# as NDJSON lines, and counts them on its /metrics for (b) Prometheus (scrape and evaluation every
# 15s, the equivalent rule with for: 1m) and Alertmanager (default group_wait, 30s) sending to a
# webhook receiver that stands for the rollback controller. Reported: rollout to the rollback
# PATCH (a) and to the first firing webhook POST (b), and the ratio b/a. Each error rate gets a
# fresh set of processes, so a run takes v1 + up to V2_MAX seconds per rate.
#   bench/rollback_race.sh [BUILD_DIR] [--rates 2,5] [--v1 SECONDS] [--v2-max SECONDS] [--quick]
#     BUILD_DIR        a build with the tests on (default build); needs prometheus,
#                      prometheus-alertmanager, promtool, curl and python3
#     --rates          v2's error rates in percent, one run each (default 2,5)
#     --v1             how long v1 serves first (default 360: Prometheus's 5m rate() full of v1)
#     --v2-max         give up on a side this long after the rollout (default 300)
#     --quick          a smoke run: --v1 60
set -euo pipefail
build=build
rates=2,5
v1_seconds=360
v2_max=300
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) rates=$2; shift 2 ;;
    --v1) v1_seconds=$2; shift 2 ;;
    --v2-max) v2_max=$2; shift 2 ;;
    --quick) v1_seconds=60; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
for tool in "$build/app/obsgate" "$build/bench/fake_kubernetes_server"; do
  [ -x "$tool" ] || { echo "$tool is missing: build obsgate and fake_kubernetes_server" \
    "(tests on) in $build first" >&2; exit 2; }
done
for tool in prometheus prometheus-alertmanager promtool curl python3; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed (apt-get install it)" >&2; exit 2; }
done

dir=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
  for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2
  return 1
}
wait_line() {  # FILE PATTERN: the first line matching, within 30 s
  for _ in $(seq 300); do grep -m1 "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no '$2' in $1" >&2
  return 1
}

race() {  # ERROR_RATE_PERCENT
  local pct=$1 run="$dir/$1"
  mkdir -p "$run"

  # The fake Kubernetes API: shop/auth at revision 2 (v2), revision 1 (v1) before it.
  "$build/bench/fake_kubernetes_server" t0ken > "$run/k8s.out" 2> "$run/k8s.err" &
  pids+=($!)
  local k8s_url
  k8s_url=$(wait_line "$run/k8s.out" '^url ' | cut -d' ' -f2)
  cat > "$run/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: race
clusters: [{name: fake, cluster: {server: "$k8s_url"}}]
users: [{name: obsgate, user: {token: t0ken}}]
contexts: [{name: race, context: {cluster: fake, user: obsgate}}]
YAML

  # (a) obsgate: its default rules (no rules: key), rolling back through the fake API.
  local obsgate_port
  obsgate_port=$(free_port)
  cat > "$run/obsgate.yaml" <<YAML
listen: 127.0.0.1:$obsgate_port
data_dir: $run/obsgate-data
sources: [{http: {}}]
orchestrator:
  kubernetes: {kubeconfig: $run/kubeconfig}
rollback: {only_within: 30m}
YAML
  "$build/app/obsgate" run --config "$run/obsgate.yaml" > "$run/obsgate.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$obsgate_port/ready"

  # (b) the rollback controller's stand-in: logs each Alertmanager webhook POST with its time.
  local hook_port
  hook_port=$(free_port)
  python3 - "$hook_port" > "$run/webhook.out" <<'PY' &
import http.server, json, sys, time
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        at = int(time.time() * 1000)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        firing = [a for a in body.get("alerts", []) if a.get("status") == "firing"]
        names = ",".join(sorted({a["labels"].get("alertname", "") for a in firing}))
        print("webhook %d %s %d %s" % (at, body.get("status", "?"), len(firing), names), flush=True)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
  pids+=($!)

  local am_port
  am_port=$(free_port)
  # group_wait, group_interval and repeat_interval left at their defaults (30s, 5m, 4h).
  cat > "$run/alertmanager.yml" <<YAML
route: {receiver: rollback-controller}
receivers:
  - name: rollback-controller
    webhook_configs: [{url: "http://127.0.0.1:$hook_port/", send_resolved: false}]
YAML
  prometheus-alertmanager --config.file="$run/alertmanager.yml" --storage.path="$run/am-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
    > "$run/alertmanager.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$am_port/-/ready"

  # The traffic, then Prometheus scraping it.
  local metrics_port
  metrics_port=$(free_port)
  python3 "$here/rollback_race_traffic.py" --obsgate-port "$obsgate_port" \
    --metrics-port "$metrics_port" --v1-seconds "$v1_seconds" --v2-seconds "$v2_max" \
    --v2-errors "$(python3 -c "print($pct / 100)")" > "$run/traffic.out" 2> "$run/traffic.err" &
  local traffic_pid=$!
  pids+=("$traffic_pid")
  wait_line "$run/traffic.out" '^listening' > /dev/null

  cat > "$run/rules.yml" <<'YAML'
groups:
  - name: rollback
    rules:
      # obsgate's ErrorRateAbove1Percent as far as PromQL goes: the ratio per version over 5m and
      # the 100-request floor; PromQL has no test against the previous version.
      - alert: ErrorRateAbove1Percent
        expr: |
          sum by (namespace, deployment, version) (rate(http_requests_total{code=~"5.."}[5m]))
            / sum by (namespace, deployment, version) (rate(http_requests_total[5m])) > 0.01
          and sum by (namespace, deployment, version) (increase(http_requests_total[5m])) >= 100
        for: 1m
        labels: {severity: critical}
YAML
  promtool check rules "$run/rules.yml" > /dev/null
  local prom_port
  prom_port=$(free_port)
  cat > "$run/prometheus.yml" <<YAML
global: {scrape_interval: 15s, evaluation_interval: 15s}
rule_files: ["$run/rules.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$am_port"]}]}]
scrape_configs:
  - job_name: auth
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
  prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prom-data" \
    --web.listen-address="127.0.0.1:$prom_port" > "$run/prometheus.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$prom_port/-/ready"

  echo "v2 at ${pct}% errors: v1 serves ${v1_seconds}s, then v2 until both act (at most ${v2_max}s)"
  while kill -0 "$traffic_pid" 2>/dev/null; do
    if grep -q '^patch ' "$run/k8s.out" && grep -q '^webhook [0-9]* firing [1-9]' "$run/webhook.out"
    then
      break
    fi
    sleep 1
  done
  curl -s "http://127.0.0.1:$prom_port/api/v1/alerts" > "$run/prometheus-alerts.json" || true
  stop_all
  python3 - "$run" "$pct" <<'PY'
import datetime, json, os, re, sys
run, pct = sys.argv[1], sys.argv[2]
def lines(name):
    with open(os.path.join(run, name)) as f:
        return f.read().splitlines()
def first(name, pattern):
    for line in lines(name):
        m = re.match(pattern, line)
        if m:
            return int(m.group(1))
    return None
def ms(rfc3339):  # "2026-11-27T10:00:00.123Z" or with more digits, or an offset
    t = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339.replace("Z", "+00:00"))
    return int(datetime.datetime.fromisoformat(t).timestamp() * 1000)
switch = first("traffic.out", r"switch (\d+)")
patch = first("k8s.out", r"patch (\d+)")
hook = first("webhook.out", r"webhook (\d+) firing [1-9]")
# When each rule's condition first held for v2 (pending) and when it fired.
o_pending = o_firing = None
for line in lines("obsgate.log"):
    if '"ErrorRateAbove1Percent"' not in line or '"version":"v2"' not in line:
        continue
    entry = json.loads(line)
    if entry["msg"] == "alert pending" and o_pending is None:
        o_pending = ms(entry["ts"])
    if entry["msg"] == "alert firing" and o_firing is None:
        o_firing = ms(entry["ts"])
p_pending = p_firing = None
try:
    with open(os.path.join(run, "prometheus-alerts.json")) as f:
        for a in json.load(f)["data"]["alerts"]:
            if a["labels"].get("version") == "v2":
                p_pending = ms(a["activeAt"])
                if a["state"] == "firing":
                    p_firing = p_pending + 60_000  # evaluations are 15s apart, for is 1m
except (OSError, ValueError, KeyError):
    pass
def s(t):
    return "%7.1f s" % ((t - switch) / 1000) if t is not None and switch else "  never"
def after(t, hold):
    return "%7.1f s" % ((t - switch) / 1000 - hold) if t is not None and switch else "  never"
print("v2 at %s%% errors, rolled out at %s" % (pct, datetime.datetime.fromtimestamp(
    switch / 1000).strftime("%H:%M:%S.%f")[:-3] if switch else "never"))
print("  %-38s %4s %10s %10s %10s %12s" % ("", "for", "pending", "firing", "action",
                                          "action-for"))
print("  %-38s %4s %10s %10s %10s %12s" % ("(a) obsgate, rollback PATCH", "30s", s(o_pending),
                                          s(o_firing), s(patch), after(patch, 30)))
print("  %-38s %4s %10s %10s %10s %12s" % ("(b) Prometheus+Alertmanager, webhook", "1m",
                                          s(p_pending), s(p_firing), s(hook), after(hook, 60)))
if patch and hook:
    print("  ratio b/a (rollout to action): %.2f" % ((hook - switch) / (patch - switch)))
PY
}

IFS=, read -ra rate_list <<< "$rates"
for pct in "${rate_list[@]}"; do
  race "$pct"
done
