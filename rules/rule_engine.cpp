#include "rules/rule_engine.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_set>

#include "core/json.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace obsgate::rules {
namespace {

// How long a resolved alert is remembered, as Prometheus does, so a flap within it is one alert.
constexpr auto kResolvedRetention = std::chrono::minutes(15);

const char* const kFixedVariables[] = {"namespace", "deployment", "version", "baseline_version",
                                       "alertname", "rule",       "value"};
const char* const kFunctionNames[] = {
    "requests",        "errors",    "error_rate", "log_lines", "log_errors",
    "log_error_ratio", "burn_rate", "age",        "p_value",   "sequential_p_value"};

std::string Fingerprint(Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xFF) * 1099511628211ULL;
  };
  for (const auto& [k, v] : labels) {
    mix(k);
    mix(v);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool Matches(const RuleSpec& r, const core::SeriesKey& k) {
  auto in = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
  };
  return in(r.match_namespaces, k.ns) && in(r.match_deployments, k.deployment);
}

std::string Number(std::optional<double> v, std::string_view filter) {
  if (!v) return "no data";
  char buf[64];
  if (filter == "pct") {
    std::snprintf(buf, sizeof buf, "%.2f%%", *v * 100);
  } else if (filter == "humanize") {
    std::snprintf(buf, sizeof buf, "%.4g", *v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", *v);
  }
  return buf;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Splits "{{ name | filter }}" pieces; calls text(piece) and var(name, filter) in order. Returns
// an error message for an unclosed brace.
template <typename Text, typename Var>
std::string Walk(const std::string& tmpl, Text text, Var var) {
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    std::size_t open = tmpl.find("{{", pos);
    if (open == std::string::npos) {
      text(std::string_view(tmpl).substr(pos));
      break;
    }
    text(std::string_view(tmpl).substr(pos, open - pos));
    std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) return "unclosed {{ at position " + std::to_string(open + 1);
    std::string_view inner = std::string_view(tmpl).substr(open + 2, close - open - 2);
    std::string_view name = inner, filter;
    if (auto bar = inner.find('|'); bar != std::string_view::npos) {
      name = inner.substr(0, bar);
      filter = Trim(inner.substr(bar + 1));
    }
    std::string err = var(Trim(name), filter);
    if (!err.empty()) return err;
    pos = close + 2;
  }
  return "";
}

// One series as every rule of a tick sees it: each distinct window is read from the store once,
// however many rules and functions ask for it.
class CachedSeries final : public SeriesData {
 public:
  explicit CachedSeries(const SeriesData& s) : s_(s) {}
  WindowCounts Window(core::Duration w) const override {
    for (std::size_t i = 0; i < n_; ++i) {
      if (cache_[i].first == w) return cache_[i].second;
    }
    WindowCounts c = s_.Window(w);
    if (n_ < cache_.size()) cache_[n_++] = {w, c};
    return c;
  }
  std::optional<core::Duration> Age() const override { return s_.Age(); }
  core::Duration Exact(core::Duration w) const override { return s_.Exact(w); }
  WindowCounts WindowEndingAgo(core::Duration w, core::Duration ago) const override {
    return s_.WindowEndingAgo(w, ago);
  }
  std::optional<core::Duration> Idle() const override { return s_.Idle(); }

 private:
  const SeriesData& s_;
  mutable std::array<std::pair<core::Duration, WindowCounts>, 8> cache_;
  mutable std::size_t n_ = 0;
};

}  // namespace

const char* AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kInactive:
      return "inactive";
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
    case AlertState::kResolved:
      return "resolved";
  }
  return "inactive";
}

std::string RuleEngine::CheckTemplate(const std::string& tmpl) {
  return Walk(
      tmpl, [](std::string_view) {},
      [](std::string_view name, std::string_view filter) -> std::string {
        if (!filter.empty() && filter != "pct" && filter != "humanize") {
          return "unknown filter \"" + std::string(filter) + "\"; use pct or humanize";
        }
        std::string_view fn = name.substr(0, 9) == "baseline." ? name.substr(9) : name;
        for (const char* v : kFixedVariables) {
          if (name == v) return "";
        }
        for (const char* f : kFunctionNames) {
          if (fn == f) return "";
        }
        return "unknown variable \"" + std::string(name) +
               "\"; use namespace, deployment, version, baseline_version, value, or a function "
               "of the expression such as error_rate or baseline.error_rate";
      });
}

std::string RuleEngine::Render(const std::string& tmpl, const Alert& a) {
  std::string out;
  Walk(
      tmpl, [&](std::string_view t) { out += t; },
      [&](std::string_view name, std::string_view filter) -> std::string {
        if (name == "namespace") {
          out += a.series.ns;
        } else if (name == "deployment") {
          out += a.series.deployment;
        } else if (name == "version") {
          out += a.series.version;
        } else if (name == "baseline_version") {
          out += a.baseline_version.empty() ? "none" : a.baseline_version;
        } else if (name == "alertname" || name == "rule") {
          out += a.rule;
        } else if (name == "value") {
          out += Number(a.value, filter);
        } else {
          std::optional<double> v;
          bool found = false;
          for (const Measurement& m : a.measurements) {
            if (m.name.size() > name.size() && m.name.compare(0, name.size(), name) == 0 &&
                m.name[name.size()] == '(') {
              v = m.value;
              found = true;
              break;
            }
          }
          out += found ? Number(v, filter) : "no data";
        }
        return "";
      });
  return out;
}

// Evaluation happens at the store's last tick, so the engine reads time only through the store.
RuleEngine::RuleEngine(const WindowStore& store, const core::Clock& /*clock*/,
                       prometheus::Registry& registry)
    : store_(store),
      alerts_gauge_(prometheus::BuildGauge()
                        .Name("obsgate_alerts")
                        .Help("Alerts by rule and state (pending, firing).")
                        .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("obsgate_rule_evaluation_duration_seconds")
                    .Help("Time to evaluate every rule over every series once.")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{.001, .002, .005, .01, .02,
                                                                     .05, .1, .2, .5, 1})),
      failures_(prometheus::BuildCounter()
                    .Name("obsgate_rule_evaluation_failures_total")
                    .Help("Rule evaluations that failed.")
                    .Register(registry)
                    .Add({})) {}

RuleEngine::~RuleEngine() = default;

core::Result<std::unique_ptr<RuleEngine>> RuleEngine::Create(std::vector<RuleSpec> specs,
                                                             const WindowStore& store,
                                                             const core::Clock& clock,
                                                             prometheus::Registry& registry) {
  std::unique_ptr<RuleEngine> engine(new RuleEngine(store, clock, registry));
  for (RuleSpec& spec : specs) {
    auto expr = Expression::Compile(spec.expr);
    if (!expr) return core::Error{"rule " + spec.name + ": " + expr.error()};
    if (expr->LongestWindow() > store.options().horizon) {
      return core::Error{"rule " + spec.name + ": a window of " +
                         core::FormatDuration(expr->LongestWindow()) +
                         " is longer than windows.horizon (" +
                         core::FormatDuration(store.options().horizon) + "); raise the horizon"};
    }
    for (const std::string* t : {&spec.summary, &spec.description}) {
      if (std::string err = CheckTemplate(*t); !err.empty()) {
        return core::Error{"rule " + spec.name + ": template: " + err};
      }
    }
    for (const char* state : {"pending", "firing"}) {
      engine->alerts_gauge_.Add({{"alertname", spec.name}, {"state", state}});
    }
    engine->rules_.push_back(
        CompiledRule{std::move(spec), std::move(expr).value(), {}, core::TimePoint{}, 0});
  }
  return engine;
}

void RuleEngine::Evaluate() {
  const core::TimePoint now = store_.LastTick();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::pair<Alert, AlertState>> changes;
  std::unordered_set<std::string> seen;
  {
    std::lock_guard lock(mu_);
    try {
      store_.ForEach([&](const WindowStore::SeriesRef& s) {
        std::optional<WindowStore::SeriesRef> baseline;
        std::optional<CachedSeries> cached_baseline;
        bool baseline_known = false;
        CachedSeries cached(s);
        for (CompiledRule& r : rules_) {
          const core::SeriesKey& key = s.key();
          if (!Matches(r.spec, key)) continue;
          if (!baseline_known) {
            baseline = s.Baseline();
            if (baseline) cached_baseline.emplace(*baseline);
            baseline_known = true;
          }
          const SeriesData* base = cached_baseline ? &*cached_baseline : nullptr;
          Evaluation ev = r.expr.Evaluate(cached, base, /*record=*/false);
          if (!ev.result && !r.active.count(s.id())) continue;
          if (ev.result) ev = r.expr.Evaluate(cached, base, /*record=*/true);  // the alert's values
          Labels labels = {{"alertname", r.spec.name},
                           {"namespace", key.ns},
                           {"deployment", key.deployment},
                           {"version", key.version}};
          labels.insert(labels.end(), r.spec.labels.begin(), r.spec.labels.end());
          std::string fp = Fingerprint(labels);
          auto it = alerts_.find(fp);
          if (!ev.result && it == alerts_.end()) continue;
          seen.insert(fp);
          if (it == alerts_.end()) {
            Alert a;
            a.rule = r.spec.name;
            a.fingerprint = fp;
            a.series = key;
            a.labels = std::move(labels);
            a.notify = r.spec.notify;
            a.rollback = r.spec.rollback;
            it = alerts_.emplace(fp, std::move(a)).first;
          }
          Alert& a = it->second;
          AlertState from = a.state;
          if (ev.result) {
            a.last_true = now;
            a.value = ev.value;
            a.measurements = std::move(ev.measurements);
            a.baseline_version = baseline ? baseline->key().version : "";
            a.summary = Render(r.spec.summary, a);
            a.description = Render(r.spec.description, a);
            if (a.state == AlertState::kInactive || a.state == AlertState::kResolved) {
              a.active_at = now;
              a.state = AlertState::kPending;
              r.active.insert(s.id());
              a.series_id = s.id();
            }
            if (a.state == AlertState::kPending && now - a.active_at >= r.spec.for_) {
              a.state = AlertState::kFiring;
              a.fired_at = now;
            }
          } else if (a.state == AlertState::kPending) {
            a.state = AlertState::kInactive;
          } else if (a.state == AlertState::kFiring &&
                     !(r.spec.keep_firing_for.count() > 0 &&
                       now - a.last_true < r.spec.keep_firing_for)) {
            a.state = AlertState::kResolved;
            a.resolved_at = now;
          }
          if (a.state != from) {
            if (a.state == AlertState::kInactive || a.state == AlertState::kResolved) {
              r.active.erase(s.id());
            }
            changes.emplace_back(a, from);
          }
        }
      });
    } catch (const std::exception& e) {
      failures_.Increment();
      log::Error("rule evaluation failed", {{"error", e.what()}});
    }
    // Alerts whose series is gone or no longer matches: resolved (or dropped when pending).
    for (auto it = alerts_.begin(); it != alerts_.end();) {
      Alert& a = it->second;
      if (!seen.count(it->first)) {
        AlertState from = a.state;
        if (a.state == AlertState::kPending) a.state = AlertState::kInactive;
        if (a.state == AlertState::kFiring) {
          a.state = AlertState::kResolved;
          a.resolved_at = now;
        }
        if (a.state != from) {
          for (CompiledRule& r : rules_) {
            if (r.spec.name == a.rule) r.active.erase(a.series_id);
          }
          changes.emplace_back(a, from);
        }
      }
      bool expired =
          a.state == AlertState::kInactive ||
          (a.state == AlertState::kResolved && now - a.resolved_at >= kResolvedRetention);
      it = expired ? alerts_.erase(it) : std::next(it);
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (CompiledRule& r : rules_) {
      r.last_evaluation = now;
      r.last_duration_seconds = seconds / static_cast<double>(rules_.size());
    }
    duration_.Observe(seconds);
    UpdateGauges();
  }
  // Listeners hear of changes once the locks are let go, so they may read the engine.
  for (const auto& [alert, from] : changes) {
    for (AlertListener* l : listeners_) l->OnAlert(alert, from);
  }
}

void RuleEngine::UpdateGauges() {
  for (const CompiledRule& r : rules_) {
    double pending = 0, firing = 0;
    for (const auto& [fp, a] : alerts_) {
      if (a.rule != r.spec.name) continue;
      pending += a.state == AlertState::kPending;
      firing += a.state == AlertState::kFiring;
    }
    alerts_gauge_.Add({{"alertname", r.spec.name}, {"state", "pending"}}).Set(pending);
    alerts_gauge_.Add({{"alertname", r.spec.name}, {"state", "firing"}}).Set(firing);
  }
}

std::vector<Alert> RuleEngine::Alerts() const {
  std::lock_guard lock(mu_);
  std::vector<Alert> out;
  for (const auto& [fp, a] : alerts_) {
    if (a.state == AlertState::kPending || a.state == AlertState::kFiring) out.push_back(a);
  }
  std::sort(out.begin(), out.end(), [](const Alert& x, const Alert& y) {
    return std::tie(x.rule, x.series.ns, x.series.deployment, x.series.version) <
           std::tie(y.rule, y.series.ns, y.series.deployment, y.series.version);
  });
  return out;
}

namespace {

std::string LabelsJson(const Labels& labels) {
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    out +=
        (i ? "," : "") + core::JsonQuote(labels[i].first) + ":" + core::JsonQuote(labels[i].second);
  }
  return out + "}";
}

std::string AlertJson(const Alert& a) {
  std::string m = "{";
  for (std::size_t i = 0; i < a.measurements.size(); ++i) {
    m += (i ? "," : "") + core::JsonQuote(a.measurements[i].name) + ":" +
         core::JsonNumber(a.measurements[i].value);
  }
  m += "}";
  return "{\"labels\":" + LabelsJson(a.labels) +
         ",\"annotations\":{\"summary\":" + core::JsonQuote(a.summary) +
         ",\"description\":" + core::JsonQuote(a.description) + "},\"state\":\"" +
         AlertStateName(a.state) + "\",\"activeAt\":\"" + core::FormatRfc3339(a.active_at) +
         "\",\"value\":" + core::JsonNumber(a.value) + ",\"measurements\":" + m +
         ",\"baseline_version\":" + core::JsonQuote(a.baseline_version) + ",\"fingerprint\":\"" +
         a.fingerprint + "\",\"actions\":[" + (a.notify ? "\"notify\"" : "") +
         (a.notify && a.rollback ? "," : "") + (a.rollback ? "\"rollback\"" : "") + "]}";
}

}  // namespace

std::string RuleEngine::AlertsJson() const {
  std::string out = "{\"status\":\"success\",\"data\":{\"alerts\":[";
  bool first = true;
  for (const Alert& a : Alerts()) {
    out += (first ? "" : ",") + AlertJson(a);
    first = false;
  }
  return out + "]}}\n";
}

std::string RuleEngine::RulesJson() const {
  std::vector<Alert> alerts = Alerts();
  std::lock_guard lock(mu_);
  std::string out =
      "{\"status\":\"success\",\"data\":{\"groups\":[{\"name\":\"obsgate\",\"rules\":[";
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const CompiledRule& r = rules_[i];
    std::string state = "inactive";
    std::string rule_alerts;
    for (const Alert& a : alerts) {
      if (a.rule != r.spec.name) continue;
      if (a.state == AlertState::kFiring) state = "firing";
      if (a.state == AlertState::kPending && state != "firing") state = "pending";
      rule_alerts += (rule_alerts.empty() ? "" : ",") + AlertJson(a);
    }
    out += (i ? "," : "") + std::string("{\"type\":\"alerting\",\"name\":") +
           core::JsonQuote(r.spec.name) + ",\"query\":" + core::JsonQuote(r.spec.expr) +
           ",\"duration\":" + core::JsonNumber(r.spec.for_.count() / 1000.0) +
           ",\"keepFiringFor\":" + core::JsonNumber(r.spec.keep_firing_for.count() / 1000.0) +
           ",\"labels\":" + LabelsJson(r.spec.labels) +
           ",\"annotations\":{\"summary\":" + core::JsonQuote(r.spec.summary) +
           ",\"description\":" + core::JsonQuote(r.spec.description) + "},\"actions\":[" +
           (r.spec.notify ? "\"notify\"" : "") + (r.spec.notify && r.spec.rollback ? "," : "") +
           (r.spec.rollback ? "\"rollback\"" : "") + "],\"health\":\"ok\",\"state\":\"" + state +
           "\",\"lastEvaluation\":\"" + core::FormatRfc3339(r.last_evaluation) +
           "\",\"evaluationTime\":" + core::JsonNumber(r.last_duration_seconds) + ",\"alerts\":[" +
           rule_alerts + "]}";
  }
  return out + "]}]}}\n";
}

}  // namespace obsgate::rules
