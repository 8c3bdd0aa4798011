#include "app/demo.hpp"

#include <prometheus/registry.h>
#include <signal.h>
#include <simdjson.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "app/gateway.hpp"
#include "app/rules_setup.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "net/http_client.hpp"
#include "rollback/simulated/simulated_orchestrator.hpp"
#include "rules/rule_engine.hpp"
#include "rules/window_store.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {

const char* const kDemoHelp =
    "usage: obsgate demo [--follow] [--speed N]\n\n"
    "Shows obsgate catching a bad release and rolling it back, on this machine alone. obsgate\n"
    "starts in this process on 127.0.0.1 with a demo configuration, and a traffic generator\n"
    "posts access logs of shop/checkout through its real HTTP ingest: v1 healthy, then a\n"
    "rollout of v2 that fails 5% of its requests. The orchestrator is SIMULATED (a cluster in\n"
    "memory) and so is Slack (a local webhook that prints each message obsgate posts to it).\n"
    "The timeline shows requests and error rates per version, the rule's state, the alert, the\n"
    "rollback decision with its numbers, the Slack messages and traffic back on v1; a summary\n"
    "ends it, about 70 seconds in.\n\n"
    "  --follow    keep running after the rollback, until Ctrl-C, with the gateway's API up\n"
    "  --speed N   run the demo's clock N times as fast (1 to 20; default 1)\n\n"
    "Environment: LOG_LEVEL (default here: error, so the gateway's own log, which tells of\n"
    "the alert too, stays out of the timeline).\n";

namespace {

using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;
using rollback::simulated::SimulatedOrchestrator;

const rollback::Target kTarget{"shop", "checkout"};
const std::string kImage = "registry.local/shop/checkout:";
constexpr double kRequestsPerSecond = 100;
constexpr double kV1ErrorRate = 0.002;
constexpr double kV2ErrorRate = 0.05;
constexpr Seconds kRolloutAt = 20s;     // demo time at which v2 starts rolling out
constexpr auto kRolloutTime = 10s;      // how long the simulated cluster takes to move traffic
constexpr auto kErrorRateWindow = 10s;  // the timeline's error rates
constexpr auto kRequestsWindow = 2s;    // and requests/s, short so that traffic moves show
constexpr double kMinRequestsForRate = 20;
constexpr Seconds kGiveUpAt = 150s;     // no rollback by then: something is broken
constexpr Seconds kAfterResolved = 3s;  // for the resolved message to reach Slack
constexpr Seconds kLingerAfterBack = 40s;
constexpr const char* kRule = "ErrorRateAbove1Percent";
constexpr const char* kExpr =
    "error_rate(20s) > 1% and requests(20s) >= 100 and worse_than_baseline(20s, 0.01)";

// Demo time: the system clock from the demo's start, `speed` times as fast. Thread-safe.
class DemoClock final : public core::Clock {
 public:
  explicit DemoClock(double speed)
      : speed_(speed),
        start_(std::chrono::system_clock::now()),
        steady_start_(std::chrono::steady_clock::now()) {}
  core::TimePoint Now() const override {
    return start_ + std::chrono::duration_cast<core::TimePoint::duration>(Elapsed());
  }
  Seconds Elapsed() const {
    return Seconds(std::chrono::steady_clock::now() - steady_start_) * speed_;
  }

 private:
  const double speed_;
  const core::TimePoint start_;
  const std::chrono::steady_clock::time_point steady_start_;
};

// ANSI colours, only when stdout is a terminal (and NO_COLOR is unset).
struct Style {
  bool on = false;
  std::string operator()(std::string_view code, std::string_view text) const {
    if (!on) return std::string(text);
    return "\033[" + std::string(code) + "m" + std::string(text) + "\033[0m";
  }
};
constexpr std::string_view kBold = "1", kDim = "2", kRed = "1;31", kGreen = "1;32",
                           kYellow = "1;33", kCyan = "36", kMagenta = "1;35";

std::string Mmss(Seconds t) {
  long s = std::lround(std::max(0.0, t.count()));
  char out[48];
  std::snprintf(out, sizeof out, "%ld:%02ld", s / 60, s % 60);
  return out;
}

// A duration as obsgate writes them: "15s", "1m5s".
std::string Secs(Seconds t) {
  return core::FormatDuration(std::chrono::seconds(std::lround(std::max(0.0, t.count()))));
}

std::string Pct(double fraction) {
  char out[32];
  std::snprintf(out, sizeof out, fraction < 0.1 ? "%.2f%%" : "%.1f%%", fraction * 100);
  return out;
}

std::string PValue(double p) {
  char out[32];
  std::snprintf(out, sizeof out, "%.2g", p);
  return out;
}

std::string Thousands(double v) {
  std::string digits = std::to_string(std::llround(v));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

constexpr std::size_t kWidth = 80;  // a default terminal, tmux's too

// `text` broken at spaces into lines of at most `width` characters (longer words stay whole),
// every line but the first after `indent`.
std::vector<std::string> WrapLines(std::string_view text, std::size_t width,
                                   std::string_view indent) {
  if (text.size() <= width) return {std::string(text)};  // kept as it is, runs of spaces too
  std::vector<std::string> out;
  std::string line;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out.push_back(line);
      line = std::string(indent);
    }
    if (!word.empty()) {
      bool fresh = line.empty() || line == indent;
      line += (fresh ? "" : " ") + std::string(word);
    }
    start = end + 1;
  }
  if (!line.empty() && line != indent) out.push_back(line);
  if (out.empty()) out.emplace_back();
  return out;
}

// `text` broken into lines of at most `width` characters at spaces, each after `indent`.
std::string Wrap(std::string_view text, std::size_t width, std::string_view indent) {
  std::string out, line;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += std::string(indent) + line + "\n";
      line.clear();
    }
    if (!word.empty()) line += (line.empty() ? "" : " ") + std::string(word);
    start = end + 1;
  }
  if (!line.empty()) out += std::string(indent) + line + "\n";
  return out;
}

// Stands in for a Slack incoming webhook: keeps what obsgate posts and answers "ok" as Slack
// does. Thread-safe.
class SimulatedSlack {
 public:
  explicit SimulatedSlack(prometheus::Registry& registry)
      : server_(server::ServerOptions{"127.0.0.1", 0, 1}, registry) {
    server_.Route("POST", "/services/*", "simulated_slack", [this](const server::Request& r) {
      std::lock_guard lock(mu_);
      bodies_.push_back(r.body);
      return server::Response::Text(200, "ok");
    });
  }
  core::Status Start() { return server_.Start(); }
  void Stop() { server_.Stop(1s); }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/services/T0DEMO/B0DEMO/demo";
  }
  std::uint16_t port() const { return server_.port(); }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(bodies_, {});
  }

 private:
  server::HttpServer server_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

// Posts access-log lines of shop/checkout to the gateway's NDJSON push endpoint, 100 requests a
// second of demo time, split between versions as the simulated cluster routes traffic. Owns its
// thread; sent() and last_error() are thread-safe.
class TrafficGenerator {
 public:
  struct Sent {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
  };

  TrafficGenerator(const DemoClock& clock, SimulatedOrchestrator& cluster)
      : clock_(clock), cluster_(cluster) {}
  ~TrafficGenerator() { Stop(); }

  core::Status Start(std::uint16_t port) {
    net::HttpClientOptions options;
    options.timeout = 5s;
    auto client = net::HttpClient::Create("http://127.0.0.1:" + std::to_string(port), options);
    if (!client) return core::Error{client.error()};
    client_ = std::move(client).value();
    thread_ = std::thread([this] { Loop(); });
    return core::Ok{};
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, Sent> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  std::string last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

 private:
  void Loop() {
    Seconds last = clock_.Elapsed();
    std::map<std::string, double> owed;  // requests due per version, with the fraction carried
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, 100ms, [this] { return stop_; })) {
      lock.unlock();
      Seconds now = clock_.Elapsed();
      double dt = (now - last).count();
      last = now;
      for (const auto& [version, share] : cluster_.Traffic(kTarget)) {
        owed[version] += kRequestsPerSecond * dt * share;
      }
      for (auto& [version, due] : owed) {
        auto n = static_cast<int>(due);
        if (n <= 0) continue;
        due -= n;
        Push(version, n);
      }
      lock.lock();
    }
  }

  void Push(const std::string& version, int n) {
    static constexpr const char* kPaths[] = {"/api/cart", "/api/checkout", "/api/cart/items",
                                             "/api/shipping/quote", "/healthz"};
    const double error_rate = version == "v1" ? kV1ErrorRate : kV2ErrorRate;
    std::bernoulli_distribution fails(error_rate);
    std::uniform_int_distribution<int> path(0, 4);
    std::lognormal_distribution<double> latency(3.3, 0.5);  // around 27 ms
    std::string ts = core::FormatRfc3339(clock_.Now());
    std::string body;
    int errors = 0;
    for (int i = 0; i < n; ++i) {
      bool error = fails(rng_);
      const char* p = kPaths[path(rng_)];
      char line[512];
      if (error) {
        ++errors;
        // v2's bug; v1's rare failures are a flaky dependency.
        const char* why = version == "v1" ? "upstream timeout: payments"
                                          : "payment authorization failed: currency is null";
        std::snprintf(line, sizeof line,
                      "{\"ts\":\"%s\",\"level\":\"error\",\"method\":\"POST\",\"path\":\"%s\","
                      "\"status\":%d,\"duration_ms\":%.0f,\"msg\":\"%s\"}\n",
                      ts.c_str(), p, version == "v1" ? 503 : 500, latency(rng_) * 3, why);
      } else {
        std::snprintf(line, sizeof line,
                      "{\"ts\":\"%s\",\"level\":\"info\",\"method\":\"%s\",\"path\":\"%s\","
                      "\"status\":200,\"duration_ms\":%.0f}\n",
                      ts.c_str(), p[5] == 'c' && p[9] == 'o' ? "POST" : "GET", p, latency(rng_));
      }
      body += line;
    }
    net::HttpCall call;
    call.method = "POST";
    call.target = "/api/v1/logs?namespace=" + kTarget.ns + "&deployment=" + kTarget.deployment +
                  "&version=" + version;
    call.content_type = "application/x-ndjson";
    call.body = std::move(body);
    net::HttpFetch r = client_->Send(call);
    std::lock_guard lock(mu_);
    if (!r.ok) {
      last_error_ = r.error.empty() ? "HTTP " + std::to_string(r.status) + ": " + r.body : r.error;
      return;
    }
    sent_[version].requests += static_cast<std::uint64_t>(n);
    sent_[version].errors += static_cast<std::uint64_t>(errors);
  }

  const DemoClock& clock_;
  SimulatedOrchestrator& cluster_;
  std::unique_ptr<net::HttpClient> client_;  // the generator thread's
  std::mt19937_64 rng_{20240601};            // the same story every run
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<std::string, Sent> sent_;
  std::string last_error_;
  std::thread thread_;
};

std::string DemoConfig(const std::string& data_dir, const std::string& slack_url) {
  return R"(# obsgate demo: everything on 127.0.0.1, in one process
listen: 127.0.0.1:0
server: {threads: 2, shutdown_timeout: 2s}
windows: {resolution: 1s, horizon: 5m}
data_dir: )" +
         data_dir +
         R"(
sources:
  - http: {formats: [ndjson]}
rules:
  # The default rule with shortened windows (20s instead of 5m, for 10s instead of 30s).
  - name: )" +
         kRule +
         R"(
    expr: )" +
         kExpr +
         R"(
    for: 10s
    labels: {severity: critical}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed over 20s, against {{ baseline.error_rate | pct }} on {{ baseline_version }}"
    description: "{{ requests }} requests in 20s; the difference from {{ baseline_version }} is significant (p = {{ p_value | humanize }})."
    actions: [notify, rollback]
receivers:
  - name: slack
    slack: {webhook_url: ")" +
         slack_url + R"(", channel: "#deploys"}
route:
  receiver: slack
  group_by: [alertname, namespace, deployment]
  group_wait: 0s      # at once, for the demo
  group_interval: 10s
rollback: {only_within: 30m, cooldown: 10m, max_per_hour: 3, require_healthy_baseline: true}
)";
}

// The value of the first measurement called `name(...)`.
std::optional<double> Measured(const std::vector<rules::Measurement>& ms, std::string_view name) {
  for (const rules::Measurement& m : ms) {
    if (m.name.size() > name.size() && m.name.starts_with(name) && m.name[name.size()] == '(') {
      return m.value;
    }
  }
  return std::nullopt;
}

std::string Text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) ? std::string() : std::string(v);
}

// A rollback decision as GET /api/v1/rollbacks gives it.
struct Decision {
  std::string origin, verdict, guard, reason, result, message;
  std::string bad_version, baseline_version, to_version;
  std::map<std::string, double> values;  // by name without the window
};

std::optional<Decision> FirstDecision(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::array events;
  if (parser.parse(json).get_array().get(events) || events.size() == 0) return std::nullopt;
  simdjson::dom::element e;
  if (events.at(0).get(e)) return std::nullopt;
  Decision d{Text(e, "origin"),     Text(e, "verdict"),
             Text(e, "guard"),      Text(e, "reason"),
             Text(e, "result"),     Text(e, "message"),
             Text(e, "badVersion"), Text(e, "baselineVersion"),
             Text(e, "toVersion"),  {}};
  simdjson::dom::object values;
  if (!e["values"].get_object().get(values)) {
    for (auto [key, value] : values) {
      double v = 0;
      if (value.get_double().get(v)) continue;
      std::string name(key);
      d.values.emplace(name.substr(0, name.find('(')), v);
    }
  }
  return d;
}

// A Slack message drawn for a terminal: the blocks in order (header, sections with their fields,
// context), then the plain-text fallback Slack shows in notifications.
std::vector<std::string> DrawSlack(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element message;
  if (parser.parse(json).get(message)) return {"(not JSON: " + json + ")"};
  std::vector<std::string> out;
  auto add_text = [&out](std::string_view text) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      out.emplace_back(text.substr(start, end - start));
      start = end + 1;
    }
  };
  simdjson::dom::array blocks;
  if (!message["blocks"].get_array().get(blocks)) {
    for (simdjson::dom::element b : blocks) {
      std::string type = Text(b, "type");
      simdjson::dom::element text;
      std::string body = b["text"].get(text) ? "" : Text(text, "text");
      if (type == "header") {
        out.push_back(body);
      } else if (type == "section") {
        add_text(body);
        simdjson::dom::array fields;
        if (b["fields"].get_array().get(fields)) continue;
        // Two to a line, as Slack lays fields out.
        std::string line;
        for (simdjson::dom::element f : fields) {
          std::string field = Text(f, "text");  // "*Title*\nvalue"
          std::size_t cut = field.find("*\n");
          if (field.starts_with("*") && cut != std::string::npos) {
            field = field.substr(1, cut - 1) + ": " + field.substr(cut + 2);
          }
          if (line.empty()) {
            line = field;
            continue;
          }
          line.resize(std::max<std::size_t>(line.size() + 2, 32), ' ');
          out.push_back(line + field);
          line.clear();
        }
        if (!line.empty()) out.push_back(line);
      } else if (type == "context") {
        simdjson::dom::array elements;
        if (b["elements"].get_array().get(elements)) continue;
        for (simdjson::dom::element c : elements) add_text(Text(c, "text"));
      } else if (type == "divider") {
        out.push_back("----");
      }
    }
  }
  std::string fallback = Text(message, "text");
  for (char& c : fallback) c = c == '\n' ? ' ' : c;
  out.push_back("notification text: " + fallback);
  return out;
}

class Demo {
 public:
  Demo(bool follow, double speed, Style style) : follow_(follow), speed_(speed), style_(style) {}
  int Run();

 private:
  void Print(const std::string& text) { std::cout << text << std::flush; }
  // One event on the timeline: its time, a marker and the text, with more lines under it.
  // Wrapped to 80 columns; `more` lines go under it, each after `gutter`.
  void Event(std::string_view colour, const std::string& text,
             const std::vector<std::string>& more = {}, std::string_view gutter = "") {
    std::vector<std::string> head = WrapLines(">> " + text, kWidth - 8, "   ");
    std::string out = "  " + style_(kBold, Mmss(clock_->Elapsed()));
    out.resize(out.size() + 8 - std::min<std::size_t>(8, 2 + Mmss(clock_->Elapsed()).size()), ' ');
    for (std::size_t i = 0; i < head.size(); ++i) {
      out += (i ? std::string(8, ' ') : "") + style_(colour, head[i]) + "\n";
    }
    for (const std::string& m : more) {
      for (const std::string& l : WrapLines(m, kWidth - 11 - gutter.size(), "  ")) {
        out += std::string(11, ' ') + style_(colour, gutter) + l + "\n";
      }
    }
    Print(out);
  }
  void Header();
  void Row();
  void WatchAlerts();
  void WatchRollbacks();
  void WatchTraffic();
  void ShowSlack();
  void Summary(bool interrupted);
  std::string RateColumns(const std::string& version) const;

  const bool follow_;
  const double speed_;
  const Style style_;
  std::string dir_;
  DemoClock* clock_ = nullptr;
  SimulatedOrchestrator* cluster_ = nullptr;
  Gateway* gateway_ = nullptr;
  SimulatedSlack* slack_ = nullptr;
  TrafficGenerator* traffic_ = nullptr;
  std::unique_ptr<net::HttpClient> api_;

  std::optional<Seconds> rollout_at_, pending_at_, firing_at_, decided_at_, back_at_, resolved_at_;
  std::optional<std::chrono::steady_clock::time_point> resolved_real_;
  std::optional<Decision> decision_;
  std::vector<rules::Measurement> fired_with_;
  int slack_messages_ = 0;
  core::TimePoint last_tick_{};
  std::string last_push_error_;
  std::chrono::steady_clock::time_point last_api_poll_{};
  long last_follow_row_ = -1;
};

std::string Demo::RateColumns(const std::string& version) const {
  const core::SeriesKey key{kTarget.ns, kTarget.deployment, version};
  // Sped up, one tick of the gateway spans `speed_` demo seconds: no shorter window is whole.
  auto requests_window = std::max<core::Duration>(
      kRequestsWindow, std::chrono::seconds(static_cast<long>(std::ceil(speed_))));
  auto requests = gateway_->store().Window(key, requests_window);
  auto errors = gateway_->store().Window(key, kErrorRateWindow);
  double span = std::min(Seconds(requests_window).count(), clock_->Elapsed().count());
  // A rate of a handful of requests (a version fading out) says nothing.
  std::optional<double> rate =
      errors && errors->requests >= kMinRequestsForRate ? errors->ErrorRate() : std::nullopt;
  char out[64];
  std::snprintf(out, sizeof out, "%8s %7s",
                requests && requests->requests >= 0.5 && span > 0
                    ? std::to_string(std::lround(requests->requests / span)).c_str()
                    : "-",
                rate ? Pct(*rate).c_str() : "-");
  return out;
}

void Demo::Header() {
  std::string b;
  b += style_(kBold, "obsgate demo") +
       ": a bad release caught and rolled back, on this machine alone\n\n";
  auto item = [&](std::string_view what, const std::string& text, std::string_view tag = "") {
    std::string w(what);
    w.resize(14, ' ');
    std::vector<std::string> lines = WrapLines(std::string(tag) + text, kWidth - 16, "");
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string l = lines[i];
      if (i == 0 && !tag.empty()) l = style_(kMagenta, tag) + l.substr(tag.size());
      b += "  " + (i ? std::string(14, ' ') : style_(kBold, w)) + l + "\n";
    }
  };
  std::string port = std::to_string(gateway_->port());
  item("gateway", "obsgate, running in this process at http://127.0.0.1:" + port);
  item("traffic", "a generator posting access logs of shop/checkout to obsgate's /api/v1/logs, " +
                      Thousands(kRequestsPerSecond) + " requests/s");
  item("orchestrator",
       "a cluster in memory standing in for Kubernetes: deployment shop/checkout, image " + kImage +
           "v1",
       "SIMULATED: ");
  item("Slack",
       "a webhook on 127.0.0.1:" + std::to_string(slack_->port()) +
           " that prints each message obsgate posts to it",
       "SIMULATED: ");
  item("rule", std::string(kRule) +
                   ", actions notify and rollback. A demo rule, shortened windows: 20s "
                   "instead of 5m, for 10s instead of 30s.");
  b += std::string(16, ' ') + "error_rate(20s) > 1% and requests(20s) >= 100\n" +
       std::string(16, ' ') + "  and worse_than_baseline(20s, 0.01)\n";
  std::string story = "The story: v1 serves with " + Pct(kV1ErrorRate) + " errors; at " +
                      Mmss(kRolloutAt) + " v2 rolls out, and it fails " + Pct(kV2ErrorRate) +
                      " of its requests.";
  if (speed_ != 1) {
    char x[32];
    std::snprintf(x, sizeof x, "%g", speed_);
    story += " The clock runs " + std::string(x) + " times as fast.";
  }
  story +=
      " Below, obsgate's own counts: requests/s over the last 2s, errors over the last 10s. Ctrl-C "
      "stops.";
  b += "\n" + Wrap(story, kWidth - 2, "  ") + "\n";
  b += style_(kDim, "  time     v1 req/s  errors  v2 req/s  errors   rule " + std::string(kRule)) +
       "\n";
  Print(b);
}

void Demo::Row() {
  std::string state = "inactive";
  std::string colour;
  if (auto engine = gateway_->engine()) {
    for (const rules::Alert& a : engine->Alerts()) {
      if (a.rule != kRule) continue;
      if (a.state == rules::AlertState::kFiring) {
        state = "FIRING on " + a.series.version;
        colour = kRed;
      } else if (colour.empty()) {
        long held = std::lround(Seconds(clock_->Now() - a.active_at).count());
        state = "pending on " + a.series.version + " (" + std::to_string(held) + "s of 10s)";
        colour = kYellow;
      }
    }
  }
  std::string line = "  " + Mmss(clock_->Elapsed());
  line.resize(9, ' ');
  line += RateColumns("v1") + " " + RateColumns("v2") + "   " +
          (colour.empty() ? state : style_(colour, state));
  Print(line + "\n");
}

void Demo::WatchAlerts() {
  auto engine = gateway_->engine();
  if (!engine) return;
  const rules::Alert* found = nullptr;
  std::vector<rules::Alert> alerts = engine->Alerts();
  for (const rules::Alert& a : alerts) {
    if (a.rule == kRule && a.series.version == "v2") found = &a;
  }
  if (found && !pending_at_) {
    pending_at_ = clock_->Elapsed();
    const auto& ms = found->measurements;
    auto rate = Measured(ms, "error_rate");
    auto requests = Measured(ms, "requests");
    auto baseline = Measured(ms, "baseline.error_rate");
    auto p = Measured(ms, "p_value");
    std::string numbers = (rate ? Pct(*rate) : "?") + " of " +
                          (requests ? Thousands(*requests) : "?") + " requests failed over 20s, " +
                          "against " + (baseline ? Pct(*baseline) : "?") + " on " +
                          found->baseline_version + " (p = " + (p ? PValue(*p) : "?") + ")";
    Event(kYellow, std::string(kRule) + " is pending on v2: " + numbers,
          {"it fires if this holds for 10s"});
  }
  if (found && found->state == rules::AlertState::kFiring && !firing_at_) {
    firing_at_ = clock_->Elapsed();
    fired_with_ = found->measurements;
    auto rate = Measured(fired_with_, "error_rate");
    Event(kRed, std::string(kRule) + " is FIRING on v2 (" + (rate ? Pct(*rate) : "?") +
                    " errors): Slack is told, and the rollback controller asked to act");
  }
  if (!found && firing_at_ && !resolved_at_) {
    resolved_at_ = clock_->Elapsed();
    resolved_real_ = std::chrono::steady_clock::now();
    Event(kGreen, std::string(kRule) +
                      " resolved on v2: v2 no longer serves enough requests "
                      "to judge");
  }
}

void Demo::WatchRollbacks() {
  if (decision_ || !firing_at_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_api_poll_ < 200ms) return;
  last_api_poll_ = now;
  net::HttpFetch r = api_->Get();
  if (!r.ok) return;
  decision_ = FirstDecision(r.body);
  if (!decision_) return;
  decided_at_ = clock_->Elapsed();
  const Decision& d = *decision_;
  auto value = [&d](const char* name) -> std::optional<double> {
    auto it = d.values.find(name);
    return it == d.values.end() ? std::nullopt : std::optional<double>(it->second);
  };
  auto rate = value("error_rate");
  auto requests = value("requests");
  auto baseline = value("baseline.error_rate");
  auto p = value("p_value");
  std::string to = d.to_version.empty() ? d.baseline_version : d.to_version;
  std::vector<std::string> more;
  more.push_back("measured: " + d.bad_version + " failed " + (rate ? Pct(*rate) : "?") + " of " +
                 (requests ? Thousands(*requests) : "?") + " requests over 20s; " +
                 d.baseline_version + " failed " + (baseline ? Pct(*baseline) : "?") +
                 " over the same seconds; p-value " + (p ? PValue(*p) : "?"));
  more.push_back("guards: verdict " + d.verdict + (d.guard.empty() ? "" : " (" + d.guard + ")") +
                 ": " + d.reason + " (only_within 30m: v2 is " +
                 Secs(decided_at_.value() - rollout_at_.value_or(kRolloutAt)) +
                 " old; healthy baseline: v1 under 1% errors; cooldown 10m; at most 3 an hour)");
  more.push_back("acted: " + d.result + ": " + d.message);
  std::string head = d.result == "rolled_back"
                         ? "ROLLBACK: " + kTarget.ns + "/" + kTarget.deployment + " " +
                               d.bad_version + " rolled back to " + to + ", decided by " + d.origin
                         : "rollback " + d.result + " (" + d.origin + ")";
  Event(kRed, head, more);
}

void Demo::WatchTraffic() {
  if (back_at_ || !decision_ || decision_->result != "rolled_back") return;
  auto status = cluster_->Status(kTarget);
  auto traffic = cluster_->Traffic(kTarget);
  if (!status || status->state != rollback::RolloutStatus::State::kComplete ||
      traffic.size() != 1 || traffic[0].first != "v1") {
    return;
  }
  back_at_ = clock_->Elapsed();
  Event(kGreen, "traffic back on v1: the simulated cluster finished the rollback (" +
                    status->message + "); every request goes to v1");
}

void Demo::ShowSlack() {
  for (const std::string& body : slack_->Take()) {
    ++slack_messages_;
    Event(kCyan,
          "Slack message " + std::to_string(slack_messages_) +
              ", as obsgate posted it to the simulated webhook (" + Thousands(body.size()) +
              " bytes of Block Kit JSON for #deploys):",
          DrawSlack(body), "| ");
  }
}

void Demo::Summary(bool interrupted) {
  std::map<std::string, TrafficGenerator::Sent> sent = traffic_->sent();
  auto share = [](const TrafficGenerator::Sent& s) {
    return s.requests ? Pct(static_cast<double>(s.errors) / static_cast<double>(s.requests))
                      : std::string("-");
  };
  const TrafficGenerator::Sent v1 = sent["v1"];
  const TrafficGenerator::Sent v2 = sent["v2"];
  std::string text = "Summary: in " + Mmss(clock_->Elapsed()) + " of demo time obsgate took in " +
                     Thousands(v1.requests + v2.requests) + " requests through its HTTP ingest. ";
  if (rollout_at_) {
    text += "v2 began rolling out at " + Mmss(*rollout_at_) + " and served " +
            Thousands(v2.requests) + " requests, " + Thousands(v2.errors) + " of them failed (" +
            share(v2) + "); v1 failed " + share(v1) + " of its " + Thousands(v1.requests) + ". ";
  }
  if (pending_at_ && firing_at_) {
    auto rate = Measured(fired_with_, "error_rate");
    auto baseline = Measured(fired_with_, "baseline.error_rate");
    text += std::string(kRule) + " went pending at " + Mmss(*pending_at_) + " and fired at " +
            Mmss(*firing_at_) + " (v2 at " + (rate ? Pct(*rate) : "?") + " against " +
            (baseline ? Pct(*baseline) : "?") + " on v1). ";
  }
  if (decision_ && decision_->result == "rolled_back") {
    text += "The guards let it through, and the simulated orchestrator rolled " + kTarget.ns + "/" +
            kTarget.deployment + " back to v1 at " + Mmss(*decided_at_) + ", " +
            Secs(*decided_at_ - rollout_at_.value_or(kRolloutAt)) + " after the rollout began. ";
  } else if (decision_) {
    text += "The rollback was not done: " + decision_->result + ", " + decision_->message + ". ";
  } else if (!interrupted) {
    text += "No rollback was decided; that is a bug in obsgate or in this demo. ";
  }
  if (back_at_) text += "All traffic was on v1 again at " + Mmss(*back_at_) + ". ";
  text += "Slack was sent " + std::to_string(slack_messages_) +
          (slack_messages_ == 1 ? " message" : " messages") +
          ". Nothing outside this process was touched, and the demo's data directory is removed. "
          "Next: README.md shows how to point obsgate at your own logs, Slack and cluster.";
  Print("\n" + Wrap(text, kWidth - 2, "  ") + "\n");
}

int Demo::Run() {
  // Signals are taken by this thread alone, with sigtimedwait, so block them before threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string tmpl = (std::filesystem::temp_directory_path() / "obsgate-demo-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::cerr << "obsgate demo: cannot make a temporary directory under "
              << std::filesystem::temp_directory_path() << "; set TMPDIR to a writable one\n";
    return 1;
  }
  dir_ = tmpl;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{dir_};

  prometheus::Registry slack_registry;
  SimulatedSlack slack(slack_registry);
  if (core::Status s = slack.Start(); !s) {
    std::cerr << "obsgate demo: cannot start the simulated Slack webhook: " << s.error() << "\n";
    return 1;
  }
  slack_ = &slack;

  core::ConfigLoad load =
      ParseChecked(DemoConfig(dir_ + "/data", slack.url()), "<demo>", core::ProcessEnv());
  if (!load.config) {
    for (const core::ConfigProblem& p : load.problems) std::cerr << p.ToString() << "\n";
    return 1;
  }
  auto clock = std::make_unique<DemoClock>(speed_);
  clock_ = clock.get();
  auto cluster = std::make_unique<SimulatedOrchestrator>(*clock_, kRolloutTime);
  cluster->AddDeployment(kTarget, kImage + "v1");
  cluster_ = cluster.get();  // owned by the gateway's rollback controller from here

  Gateway gateway(std::move(*load.config), std::nullopt, core::ProcessEnv(), std::move(clock));
  gateway.UseOrchestrator(std::move(cluster));
  if (core::Status s = gateway.Start(); !s) {
    std::cerr << "obsgate demo: the gateway did not start: " << s.error() << "\n";
    return 1;
  }
  gateway_ = &gateway;
  net::HttpClientOptions api_options;
  api_options.timeout = 2s;
  auto api = net::HttpClient::Create(
      "http://127.0.0.1:" + std::to_string(gateway.port()) + "/api/v1/rollbacks", api_options);
  if (!api) {
    std::cerr << "obsgate demo: " << api.error() << "\n";
    return 1;
  }
  api_ = std::move(api).value();

  TrafficGenerator traffic(*clock_, *cluster_);
  traffic_ = &traffic;
  Header();
  if (core::Status s = traffic.Start(gateway.port()); !s) {
    std::cerr << "obsgate demo: the traffic generator did not start: " << s.error() << "\n";
    return 1;
  }
  Event(kGreen, "v1 serving shop/checkout; the generator sends it " +
                    Thousands(kRequestsPerSecond) + " requests/s");

  bool interrupted = false;
  bool story_told = false;
  for (;;) {
    timespec wait{0, 50'000'000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) {
      interrupted = true;
      break;
    }
    Seconds t = clock_->Elapsed();
    if (!rollout_at_ && t >= kRolloutAt) {
      rollout_at_ = t;
      rollback::ActionResult r = cluster_->SetImage(kTarget, "", kImage + "v2");
      std::string what = r.message.starts_with("simulated: ") ? r.message.substr(11) : r.message;
      Event(kYellow, "rollout of v2 by the simulated orchestrator: " + what,
            {"the simulated cluster moves traffic from v1 to v2 over " +
             std::to_string(std::chrono::seconds(kRolloutTime).count()) + "s"});
    }
    if (std::string e = traffic.last_error(); e != last_push_error_) {
      last_push_error_ = e;
      Event(kRed, "a push to the gateway failed: " + e);
    }
    WatchAlerts();
    WatchRollbacks();
    ShowSlack();
    WatchTraffic();
    core::TimePoint tick = gateway.store().LastTick();
    if (tick != last_tick_) {
      last_tick_ = tick;
      long ten = std::lround(t.count()) / 10;
      bool counted = gateway.store().Window({kTarget.ns, kTarget.deployment, "v1"}, 1h).has_value();
      if (counted && (!story_told || ten != last_follow_row_)) Row();
      if (story_told) last_follow_row_ = ten;
    }
    // Done once the alert has resolved and Slack has heard so, or (should it linger) a while
    // after traffic is back on v1.
    bool done =
        back_at_ &&
        ((resolved_real_ && std::chrono::steady_clock::now() - *resolved_real_ >=
                                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    kAfterResolved / speed_)) ||
         t - *back_at_ >= kLingerAfterBack);
    if (done && !story_told) {
      story_told = true;
      if (!follow_) break;
      last_follow_row_ = std::lround(t.count()) / 10;
      Event(kBold, "--follow: the story is told; obsgate keeps running until Ctrl-C. Look around:",
            {"the status page: http://127.0.0.1:" + std::to_string(gateway.port()) + "/",
             "curl http://127.0.0.1:" + std::to_string(gateway.port()) + "/api/v1/deployments",
             "curl http://127.0.0.1:" + std::to_string(gateway.port()) + "/api/v1/rollbacks",
             "curl http://127.0.0.1:" + std::to_string(gateway.port()) + "/metrics",
             "(a row every 10s from here)"});
    }
    if (!story_told && t >= kGiveUpAt) {
      Event(kRed, "no rollback after " + Mmss(kGiveUpAt) + "; giving up");
      break;
    }
  }
  traffic.Stop();
  ShowSlack();
  if (interrupted) Print("\n  stopped\n");
  Summary(interrupted);
  gateway.Stop();
  slack.Stop();
  bool rolled_back = decision_ && decision_->result == "rolled_back" && back_at_;
  if (interrupted && !story_told) return 130;
  return rolled_back ? 0 : 1;
}

}  // namespace

int DemoCommand(const std::vector<std::string>& args) {
  bool follow = false;
  double speed = 1;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--follow") {
      follow = true;
    } else if (a == "--speed" || a.starts_with("--speed=")) {
      std::string value;
      if (a == "--speed") {
        if (i + 1 >= args.size()) {
          std::cerr << "obsgate demo: --speed needs a number, 1 to 20\n";
          return 2;
        }
        value = args[++i];
      } else {
        value = std::string(a.substr(8));
      }
      char* end = nullptr;
      speed = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(speed >= 1 && speed <= 20)) {
        std::cerr << "obsgate demo: --speed \"" << value << "\" is not a number from 1 to 20\n";
        return 2;
      }
    } else {
      std::cerr << "obsgate demo: unexpected argument \"" << a << "\"; see obsgate demo --help\n";
      return 2;
    }
  }
  // The gateway's own log would break up the timeline; warnings and errors still show.
  if (!std::getenv("LOG_LEVEL")) log::SetLevel("error");
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  Style style{isatty(STDOUT_FILENO) == 1 && !(no_color && *no_color) &&
              !(term && std::string_view(term) == "dumb")};
  return Demo(follow, speed, style).Run();
}

}  // namespace obsgate::app
