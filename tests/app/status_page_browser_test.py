#!/usr/bin/env python3
"""The status page in a real browser: headless Chromium, driven over chromedriver's W3C
WebDriver HTTP API, against the obsgate binary with pushed traffic and a pipeline that waits for
approval. Python's standard library only.

  status_page_browser_test.py --obsgate build/app/obsgate [--screenshot docs/status-page.png]

Exits 0 when every check holds, 1 when one fails, 77 (ctest's SKIP_RETURN_CODE) when Chromium
or chromedriver is not installed.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77
# How long a condition may take to come true before the test gives up on it. A bound on a wait,
# never a measured speed: each wait returns as soon as its condition holds.
PATIENCE = 30.0

# The API's changing calls need this token (server.api_token_file): the page must send it.
API_TOKEN = "s3cret-token"

CONFIG = """\
listen: 127.0.0.1:0
data_dir: {data_dir}
server: {{api_token_file: {token_file}}}
sources: [{{http: {{}}}}]
rules:
  - name: CheckoutErrorsAbove2Percent
    expr: error_rate(5m) > 2% and requests(5m) >= 100 and worse_than_baseline(5m, 0.05)
    labels: {{severity: critical}}
    summary: "{{{{ deployment }}}} {{{{ version }}}}: {{{{ error_rate | pct }}}} errors"
    actions: [notify, rollback]
orchestrator:
  exec: {{rollback: ["true"], set_image: ["true"]}}
rollback: {{only_within: 30m, cooldown: 10m}}
pipelines:
  - name: checkout-staging
    namespace: shop
    deployment: checkout
    image: registry.example.com/shop/checkout
    environment: staging
    steps: [approve, rollout, promote]
"""


class Failure(Exception):
    pass


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    """(status, headers, body text) of one request; HTTP errors are answers, not exceptions."""
    data = None if body is None else (body if isinstance(body, bytes) else body.encode())
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def wait_text(browser, what, selector, expected):
    """Waits until the element's text is `expected`; a failure shows the text it had."""
    seen = []

    def holds():
        seen.append(browser.text(selector))
        return seen[-1] == expected

    try:
        wait_for(what, holds)
    except Failure:
        raise Failure(f"{what}: {selector} reads {seen[-1]!r}, not {expected!r}") from None


def wait_for(what, condition, patience=PATIENCE):
    """Polls condition() until it returns something true; fails naming `what` and the last value."""
    deadline = time.monotonic() + patience
    last = None
    while True:
        try:
            last = condition()
        except Failure as e:
            last = str(e)
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not so after {patience:.0f} s; last seen: {last!r}")
        time.sleep(0.1)


class Gateway:
    """obsgate run --config FILE as a child process; its log is kept for failure messages."""

    def __init__(self, binary, directory):
        path = os.path.join(directory, "obsgate.yaml")
        token_file = os.path.join(directory, "api-token")
        with open(token_file, "w") as f:
            f.write(API_TOKEN + "\n")
        with open(path, "w") as f:
            f.write(CONFIG.format(data_dir=os.path.join(directory, "data"), token_file=token_file))
        self.proc = subprocess.Popen([binary, "run", "--config", path], cwd=directory,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        self.port = None
        started = threading.Event()

        def drain():
            for line in self.proc.stdout:
                self.log.append(line)
                m = re.search(r'"msg":"obsgate started".*"listen":"[^"]*:([0-9]+)"', line)
                if m:
                    self.port = int(m.group(1))
                    started.set()
            started.set()

        threading.Thread(target=drain, daemon=True).start()
        if not started.wait(PATIENCE) or self.port is None:
            raise Failure("obsgate did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"

    def api(self, method, path, body=None, token=API_TOKEN):
        headers = {"Content-Type": "application/json"} if body else {}
        if token and method != "GET":  # reading needs no token
            headers["Authorization"] = "Bearer " + token
        status, _, text = http(method, self.url + path, body, headers)
        return status, text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Browser:
    """One headless Chromium session through chromedriver's W3C WebDriver API."""

    def __init__(self, chromium, chromedriver, directory):
        port = free_port()
        self.driver = subprocess.Popen([chromedriver, f"--port={port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        wait_for("chromedriver answers", lambda: self._ready())
        args = ["--headless=new", "--disable-gpu", "--no-first-run", "--window-size=1500,1300",
                "--user-data-dir=" + os.path.join(directory, "chromium")]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}}
        value = self._call("POST", "/session", caps)
        self.session = value["sessionId"]

    def _ready(self):
        try:
            status, _, text = http("GET", self.base + "/status")
        except OSError:
            return False
        return status == 200 and json.loads(text)["value"].get("ready")

    def _call(self, method, path, body=None):
        status, _, text = http(method, self.base + path,
                               None if body is None else json.dumps(body),
                               {"Content-Type": "application/json"})
        reply = json.loads(text) if text else {}
        if status != 200:
            raise Failure(f"WebDriver {method} {path}: {status} {text[:500]}")
        return reply.get("value")

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def script(self, source, *args):
        return self.cmd("POST", "/execute/sync", {"script": source, "args": list(args)})

    def text(self, selector):
        """The visible text of the first element matching the CSS selector; None when none."""
        return self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            selector)

    def _element(self, selector):
        element = self.cmd("POST", "/element", {"using": "css selector", "value": selector})
        return next(iter(element.values()))

    def click(self, selector):
        self.cmd("POST", f"/element/{self._element(selector)}/click", {})

    def type(self, selector, text):
        self.cmd("POST", f"/element/{self._element(selector)}/value", {"text": text})

    def screenshot(self, path):
        # The whole page: the window is made as tall as the document first.
        height = self.script("return document.documentElement.scrollHeight;")
        self.cmd("POST", "/window/rect", {"width": 1500, "height": int(height) + 140})
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        try:
            self._call("DELETE", f"/session/{self.session}")
        except Exception:  # the driver may be gone already; it is stopped next anyway
            pass
        self.driver.terminate()
        self.driver.wait(PATIENCE)


def loki_push(gateway, app, version, requests, errors, namespace="shop"):
    now = time.time_ns()
    values = [[str(now + i), json.dumps({"status": 503 if i < errors else 200, "path": "/pay"})]
              for i in range(requests)]
    body = json.dumps({"streams": [{"stream": {"namespace": namespace, "app": app,
                                               "version": version}, "values": values}]})
    status, text = gateway.api("POST", "/loki/api/v1/push", body)
    if status != 204:
        raise Failure(f"Loki push answered {status}: {text}")


def requests_5m(gateway, deployment, version):
    _, text = gateway.api("GET", "/api/v1/deployments")
    for d in json.loads(text)["data"]:
        if d["deployment"] == deployment and d["version"] == version:
            return d["windows"]["5m"]["requests"]
    return None


def run_state(gateway, run_id):
    status, text = gateway.api("GET", "/api/v1/runs/" + run_id)
    return json.loads(text)["state"] if status == 200 else None


def check(condition, message):
    if not condition:
        raise Failure(message)


def test(gateway, browser, screenshot):
    # Traffic: checkout v1 healthy (0.5% errors), v2 failing 5% over the same seconds.
    loki_push(gateway, "checkout", "v1", 1000, 5)
    loki_push(gateway, "checkout", "v2", 400, 20)
    wait_for("the 5m windows count the pushes",
             lambda: requests_5m(gateway, "checkout", "v2") == 400 and
             requests_5m(gateway, "checkout", "v1") == 1000)
    status, text = gateway.api("POST", "/api/v1/silences", json.dumps({
        "matchers": [{"name": "deployment", "value": "search", "isRegex": False}],
        "endsAt": "2099-01-01T00:00:00Z", "createdBy": "status page test",
        "comment": "reindexing"}))
    check(status == 200, f"the silence was refused: {status} {text}")

    # A run that waits for a person, aborted through the API behind the page's back: the page
    # (not refreshing by itself) still offers Approve, and shows the API's refusal when pressed.
    status, text = gateway.api("POST", "/api/v1/pipelines/checkout-staging/runs", '{"tag":"v3"}')
    check(status == 201, f"the first run did not start: {status} {text}")
    wait_for("run 1 waits for approval",
             lambda: run_state(gateway, "checkout-staging-1") == "waiting_for_approval")
    browser.go(gateway.url + "/?refresh=0")
    approve_1 = 'tr[data-run="checkout-staging-1"] button.action-approve'
    wait_text(browser, "the page offers Approve on run 1", approve_1, "Approve")
    # Without the token the page's Approve is refused by the API's own check, and says so.
    status, _ = gateway.api("POST", "/api/v1/runs/checkout-staging-1/approve", token=None)
    check(status == 401, f"the API approved without its token: {status}")
    browser.click(approve_1)
    refused = wait_for("the page shows the refusal for want of a token",
                       lambda: (browser.text("#action-result") or "").startswith(
                           "The gateway refused") and browser.text("#action-result"))
    check("(401)" in refused and "bearer token" in refused, f"the page says {refused!r}")
    check(run_state(gateway, "checkout-staging-1") == "waiting_for_approval",
          "run 1 moved on without the token")

    # A token typed into the page stays in this tab's sessionStorage (across reloads of the
    # page), leaves the field, and is sent with every approval and abort that follows.
    browser.type("#token", API_TOKEN)
    browser.click("#token-form button[type=submit]")
    wait_text(browser, "the page says a token is set", "#token-state",
              "A token is set for this tab.")
    stored = browser.script("return [sessionStorage.getItem('obsgate.apiToken'),"
                            " localStorage.length, document.getElementById('token').value];")
    check(stored == [API_TOKEN, 0, ""], f"the token is kept as {stored}")

    status, text = gateway.api("POST", "/api/v1/runs/checkout-staging-1/abort")
    check(status == 200, f"abort through the API: {status} {text}")
    browser.click(approve_1)
    refused = wait_for("the page shows the API's refusal",
                       lambda: (browser.text("#action-result") or "").startswith(
                           "The gateway refused") and browser.text("#action-result"))
    _, text = gateway.api("POST", "/api/v1/runs/checkout-staging-1/approve")
    api_error = json.loads(text)["error"]
    check(api_error in refused, f"the page says {refused!r}, the API said {api_error!r}")
    wait_text(browser, "run 1 shows as aborted after the refusal",
              'tr[data-run="checkout-staging-1"] .run-state', "aborted")

    # The page as a person opens it: refreshing by itself.
    status, text = gateway.api("POST", "/api/v1/pipelines/checkout-staging/runs", '{"tag":"v4"}')
    check(status == 201, f"the second run did not start: {status} {text}")
    browser.go(gateway.url + "/")
    v2 = 'tr[data-series="shop/checkout/v2"]'
    wait_text(browser, "checkout v2 is listed with its 5% error rate", v2 + " .error-rate",
              "5.00%")
    row = browser.text(v2)
    check("shop/checkout" in row and "400" in row, f"the v2 row lacks its name or requests: {row}")
    check("v1" in row and "0.50%" in row, f"the v2 row lacks its baseline v1 at 0.50%: {row}")
    check(re.search(r"\b\d\.\de-\d+\b|< 0\.0001|\b0\.0\d+\b", row),
          f"the v2 row lacks a p-value: {row}")
    spark = browser.script(
        "const s = document.querySelector(arguments[0] + ' svg.sparkline');"
        "return s ? s.getAttribute('aria-label') : null;", v2)
    check(spark and "latest 5.00%" in spark, f"the sparkline says {spark!r}")
    wait_for("the alert fires and shows as firing, in words",
             lambda: "firing" in (browser.text("#alerts tbody") or "") and
             "CheckoutErrorsAbove2Percent" in browser.text("#alerts tbody"))
    wait_for("the rollback is shown with its result and the values that decided it",
             lambda: "rolled back" in (browser.text("#rollbacks tbody") or "") and
             "error_rate(5m) = 5.00%" in browser.text("#rollbacks tbody"))
    check("reindexing" in (browser.text("#silences tbody") or ""), "the silence is not listed")
    approve_2 = 'tr[data-run="checkout-staging-2"] button.action-approve'
    wait_text(browser, "run 2 offers Approve", approve_2, "Approve")
    if screenshot:  # for the README: every section filled, a run waiting for a person
        browser.screenshot(screenshot)
        print(f"screenshot written to {screenshot}")

    browser.click(approve_2)
    wait_text(browser, "the page says run 2 was approved", "#action-result",
              "Run checkout-staging-2 approved.")
    wait_text(browser, "run 2 goes on to succeeded on the page",
              'tr[data-run="checkout-staging-2"] .run-state', "succeeded")
    check(run_state(gateway, "checkout-staging-2") == "succeeded",
          "the API disagrees with the page")
    steps = browser.text('tr[data-run="checkout-staging-2"] .steps')
    check(all(s + " succeeded" in steps for s in ("approve", "rollout", "promote")),
          f"the steps of run 2 read {steps!r}")

    # Accessibility basics, as a screen reader meets them.
    a11y = browser.script("""
      const problems = [];
      if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
      for (const s of document.querySelectorAll('main section')) {
        if (!s.querySelector('h2')) problems.push('a section without an h2');
      }
      for (const t of document.querySelectorAll('table')) {
        if (!t.caption) problems.push('table ' + t.id + ' without a caption');
        for (const th of t.querySelectorAll('th')) {
          if (!th.scope) problems.push('a th without scope in ' + t.id);
        }
      }
      for (const i of document.querySelectorAll('input')) {
        if (!i.labels || i.labels.length === 0) problems.push('input ' + i.id + ' without a label');
      }
      for (const e of document.querySelectorAll('[onclick], a:not([href])')) {
        problems.push('a click target that is not a button: ' + e.outerHTML.slice(0, 60));
      }
      if (!document.querySelector('[aria-live]')) problems.push('no live region');
      return problems;""")
    check(a11y == [], f"accessibility problems: {a11y}")
    check(browser.text("#connection") == "Connected to the gateway.",
          f"the connection line says {browser.text('#connection')!r}")
    check((browser.text("#updated") or "").startswith("Last updated "), "no 'last updated'")

    # A deployment whose name is markup shows as text and makes no element.
    loki_push(gateway, "<img src=x id=injected>", "v1", 10, 0)
    wait_for("the deployment named in markup is listed, as text",
             lambda: "shop/<img src=x id=injected>" in (browser.text("#deployments tbody") or ""))
    check(browser.script("return document.getElementById('injected') === null;"),
          "markup from the API became an element")

    # The gateway gone: the page says so in words, and keeps what it last showed.
    gateway.stop()
    wait_for("the page says the gateway is unreachable",
             lambda: "unreachable" in (browser.text("#connection") or ""))
    check(browser.text(v2 + " .error-rate") == "5.00%", "the last data vanished with the gateway")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obsgate", required=True, help="the obsgate binary")
    parser.add_argument("--screenshot", help="write a PNG of the page here")
    options = parser.parse_args()
    # The gateway runs in its temporary directory: paths given relative to here must still hold.
    options.obsgate = os.path.abspath(options.obsgate)
    if options.screenshot:
        options.screenshot = os.path.abspath(options.screenshot)
    chromium = find_browser()
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing = ", ".join(n for n, p in (("chromium", chromium), ("chromedriver", chromedriver))
                            if not p)
        print(f"SKIPPED: {missing} not installed; apt-get install chromium chromium-driver "
              "(./dev.sh test does) to run the status page in a browser")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="obsgate-status-page-") as directory:
        gateway = browser = None
        try:
            gateway = Gateway(options.obsgate, directory)
            # The page's headers, read by a plain client before any browser is involved.
            status, headers, body = http("GET", gateway.url + "/")
            check(status == 200 and "<h1>obsgate status</h1>" in body, f"GET / answered {status}")
            check(headers["Content-Type"].startswith("text/html"), headers["Content-Type"])
            check("default-src 'self'" in headers.get("Content-Security-Policy", ""),
                  f"no Content-Security-Policy: {dict(headers)}")
            browser = Browser(chromium, chromedriver, directory)
            test(gateway, browser, options.screenshot)
        except Failure as e:
            print("FAILED:", e)
            if gateway:
                print("--- obsgate log (last 40 lines) ---\n" + "".join(gateway.log[-40:]))
            return 1
        finally:
            if browser:
                browser.quit()
            if gateway:
                gateway.stop()
    print("PASSED: the status page shows the traffic, the alert, the rollback, the silence and "
          "the runs, and Approve moves a waiting run on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
