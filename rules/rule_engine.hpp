#pragma once

#include <prometheus/family.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "core/series.hpp"
#include "core/units.hpp"
#include "rules/expr.hpp"
#include "rules/window_store.hpp"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
class Histogram;
}  // namespace prometheus

namespace obsgate::rules {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A rule as the configuration gives it.
struct RuleSpec {
  std::string name;
  std::string expr;
  core::Duration for_{0};
  core::Duration keep_firing_for{0};
  Labels labels;  // e.g. severity
  std::string summary;
  std::string description;
  bool notify = true;
  bool rollback = false;
  std::vector<std::string> match_namespaces;   // empty: every namespace
  std::vector<std::string> match_deployments;  // empty: every deployment
};

enum class AlertState { kInactive, kPending, kFiring, kResolved };
const char* AlertStateName(AlertState s);

// One rule's alert for one series, as Prometheus keeps it.
struct Alert {
  std::string rule;
  std::string fingerprint;  // stable: a hash of the labels, hex
  core::SeriesKey series;
  std::string baseline_version;  // empty when there is none
  Labels labels;                 // alertname, namespace, deployment, version, then the rule's
  AlertState state = AlertState::kInactive;
  core::TimePoint active_at;    // when the expression first held
  core::TimePoint fired_at;     // when it started firing
  core::TimePoint resolved_at;  // when it resolved
  core::TimePoint last_true;    // the last evaluation at which the expression held
  std::optional<double> value;
  std::vector<Measurement> measurements;
  std::string summary;
  std::string description;
  bool notify = true;
  bool rollback = false;
  std::uint32_t series_id = 0;  // the store's index of the series, while it lives
};

// Told of every alert state change: pending, firing, resolved (and pending dropped back to
// inactive). Called on the evaluation thread; must not block.
class AlertListener {
 public:
  virtual ~AlertListener() = default;
  virtual void OnAlert(const Alert& alert, AlertState from) = 0;
};

// Evaluates every rule over every live series on each tick and keeps alert state, with `for`
// and `keep_firing_for` as Prometheus defines them. Evaluate() from one thread (the tick);
// the read-only views are thread-safe.
class RuleEngine {
 public:
  // Compiles every rule; the error names the rule and shows the expression with a caret.
  static core::Result<std::unique_ptr<RuleEngine>> Create(std::vector<RuleSpec> specs,
                                                          const WindowStore& store,
                                                          const core::Clock& clock,
                                                          prometheus::Registry& registry);
  ~RuleEngine();

  void AddListener(AlertListener* listener) { listeners_.push_back(listener); }
  // One evaluation of every rule over every series, at the store's last tick.
  void Evaluate();

  std::vector<Alert> Alerts() const;  // pending and firing
  std::string AlertsJson() const;     // GET /api/v1/alerts
  std::string RulesJson() const;      // GET /api/v1/rules

  // {{ namespace }}, {{ value | pct }}, {{ baseline.error_rate | pct }}, ... for an alert.
  static std::string Render(const std::string& tmpl, const Alert& alert);
  // Why a template cannot be rendered, or empty.
  static std::string CheckTemplate(const std::string& tmpl);

 private:
  struct CompiledRule {
    RuleSpec spec;
    Expression expr;
    // Series (store indexes) with a pending or firing alert of this rule: only they need their
    // alert looked up when the expression does not hold.
    std::unordered_set<std::uint32_t> active;
    core::TimePoint last_evaluation;
    double last_duration_seconds = 0;
  };
  RuleEngine(const WindowStore& store, const core::Clock& clock, prometheus::Registry& registry);
  void UpdateGauges();

  const WindowStore& store_;
  std::vector<CompiledRule> rules_;
  std::vector<AlertListener*> listeners_;
  mutable std::mutex mu_;  // guards alerts_ and the rules' evaluation times for readers
  std::unordered_map<std::string, Alert> alerts_;  // by fingerprint; inactive ones are removed
  prometheus::Family<prometheus::Gauge>& alerts_gauge_;
  prometheus::Histogram& duration_;
  prometheus::Counter& failures_;
};

}  // namespace obsgate::rules
