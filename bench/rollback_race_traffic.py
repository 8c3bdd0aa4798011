#!/usr/bin/env python3
"""The traffic of bench/rollback_race.sh: shop/auth serving RATE requests a second, v1 first, then
v2. Every BATCH seconds the same requests are (a) pushed to obsgate as NDJSON lines
({"status":200} / {"status":503}) and (b) counted into http_requests_total{namespace, deployment,
version, code} served on /metrics for Prometheus. Errors are spread evenly, not drawn at random,
so both sides see the very same error rate: request k of a version fails when floor(k * p) steps.

Prints "listening PORT" once /metrics answers, "switch UNIX_MS" when the first v2 batch goes out
(just before it is counted and pushed) and "done UNIX_MS" at the end. Standard library only.
"""
import argparse
import http.server
import sys
import threading
import time
import urllib.request


class Traffic:
    """Counters by (version, code); thread-safe (the /metrics thread reads, the main loop adds)."""

    def __init__(self, versions):
        self.lock = threading.Lock()
        self.sent = {v: 0 for v in versions}
        # Every series exists at 0 from the start, as if the pods were up and scraped before they
        # got traffic: the kindest case for rate(), which needs two samples of a series.
        self.counts = {(v, code): 0 for v in versions for code in ("200", "503")}

    def batch(self, version, n, p):
        """n more requests of `version`, failing at rate p; returns the NDJSON body."""
        lines = []
        with self.lock:
            for _ in range(n):
                k = self.sent[version] + 1
                failed = int(k * p) > int((k - 1) * p)
                self.sent[version] = k
                code = "503" if failed else "200"
                self.counts[(version, code)] += 1
                lines.append('{"status":%s,"path":"/login"}' % code)
        return ("\n".join(lines) + "\n").encode()

    def exposition(self):
        out = ["# HELP http_requests_total Requests served.", "# TYPE http_requests_total counter"]
        with self.lock:
            for (version, code), value in sorted(self.counts.items()):
                out.append('http_requests_total{namespace="shop",deployment="auth",'
                           'version="%s",code="%s"} %d' % (version, code, value))
        return ("\n".join(out) + "\n").encode()


def serve_metrics(traffic, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = traffic.exposition() if self.path.startswith("/metrics") else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def push(obsgate_port, version, body):
    url = ("http://127.0.0.1:%d/api/v1/logs?namespace=shop&deployment=auth&version=%s"
           % (obsgate_port, version))
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            reply.read()
    except OSError as e:  # counted by Prometheus all the same; say so and go on
        print("push failed: %s" % e, file=sys.stderr, flush=True)


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--obsgate-port", type=int, required=True)
    a.add_argument("--metrics-port", type=int, required=True)
    a.add_argument("--rate", type=float, default=50, help="requests a second")
    a.add_argument("--batch", type=float, default=1.0, help="seconds between pushes")
    a.add_argument("--v1-seconds", type=float, default=360)
    a.add_argument("--v1-errors", type=float, default=0.002, help="fraction, e.g. 0.002")
    a.add_argument("--v2-seconds", type=float, default=300)
    a.add_argument("--v2-errors", type=float, default=0.02, help="fraction, e.g. 0.02")
    o = a.parse_args()

    traffic = Traffic(["v1", "v2"])
    server = serve_metrics(traffic, o.metrics_port)
    print("listening %d" % o.metrics_port, flush=True)
    per_batch = o.rate * o.batch
    start = time.monotonic()
    owed = 0.0
    switched = False
    i = 0
    while True:
        elapsed = i * o.batch
        if elapsed >= o.v1_seconds + o.v2_seconds:
            break
        # An absolute schedule: a slow push does not stretch the phases or lower the rate.
        delay = start + elapsed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        v2 = elapsed >= o.v1_seconds
        if v2 and not switched:
            switched = True
            print("switch %d" % int(time.time() * 1000), flush=True)
        owed += per_batch
        n = int(owed)
        owed -= n
        version = "v2" if v2 else "v1"
        push(o.obsgate_port, version, traffic.batch(version, n, o.v2_errors if v2 else o.v1_errors))
        i += 1
    print("done %d" % int(time.time() * 1000), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
