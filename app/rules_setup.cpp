#include "app/rules_setup.hpp"

#include <prometheus/registry.h>

#include <algorithm>
#include <tuple>

#include "core/log.hpp"
#include "rules/expr.hpp"

namespace obsgate::app {

const char* const kDefaultRulesYaml = R"(rules:
  - name: ErrorRateAbove1Percent
    expr: error_rate(5m) > 1% and requests(5m) >= 100 and worse_than_baseline(5m, 0.01)
    for: 30s
    keep_firing_for: 1m
    labels: {severity: critical}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed over 5m, against {{ baseline.error_rate | pct }} on {{ baseline_version }}"
    description: "{{ requests }} requests in 5m; the difference from {{ baseline_version }} is significant (p = {{ p_value | humanize }})."
    actions: [notify, rollback]
  - name: ErrorRateConclusivelyWorse
    expr: error_rate(5m) > 1% and requests(5m) >= 100 and sequential_worse_than_baseline(1%)
    labels: {severity: critical}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed over 5m, against {{ baseline.error_rate | pct }} on {{ baseline_version }}"
    description: "{{ requests }} requests in 5m; the evidence that it fails more often than {{ baseline_version }} since its release is conclusive (sequential p = {{ sequential_p_value | humanize }}), so the rule fired without waiting for a for:."
    actions: [notify, rollback]
  - name: HighErrorRate
    expr: error_rate(5m) > 5% and requests(5m) >= 100
    for: 1m
    labels: {severity: warning}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed over 5m"
    actions: [notify]
)";

namespace {

rules::RuleSpec SpecFrom(const core::RuleConfig& r) {
  rules::RuleSpec s;
  s.name = r.name;
  s.expr = r.expr;
  s.for_ = r.for_;
  s.keep_firing_for = r.keep_firing_for;
  s.labels = r.labels;
  s.summary = r.summary;
  s.description = r.description;
  s.notify = r.notify;
  s.rollback = r.rollback;
  s.match_namespaces = r.match_namespaces;
  s.match_deployments = r.match_deployments;
  return s;
}

std::vector<core::RuleConfig> DefaultRules() {
  core::ConfigLoad load =
      core::ParseConfig(kDefaultRulesYaml, "<default rules>", core::ProcessEnv());
  return load.config ? load.config->rules : std::vector<core::RuleConfig>{};
}

}  // namespace

std::vector<rules::RuleSpec> RuleSpecsFrom(const core::Config& config) {
  std::vector<rules::RuleSpec> out;
  for (const core::RuleConfig& r : config.rules_given ? config.rules : DefaultRules()) {
    out.push_back(SpecFrom(r));
  }
  return out;
}

std::vector<core::ConfigProblem> CheckRules(const core::Config& config) {
  std::vector<core::ConfigProblem> problems;
  core::FakeClock clock;
  rules::WindowOptions options;
  options.horizon = config.windows.horizon;
  options.resolution = config.windows.resolution;
  rules::WindowStore store(options, clock);
  for (std::size_t i = 0; i < config.rules.size(); ++i) {
    const core::RuleConfig& r = config.rules[i];
    prometheus::Registry registry;
    auto engine = rules::RuleEngine::Create({SpecFrom(r)}, store, clock, registry);
    if (engine) continue;
    std::string message = engine.error();
    const std::string prefix = "rule " + r.name + ": ";
    if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
    problems.push_back(core::ConfigProblem{config.file, r.expr_line, r.expr_column,
                                           "rules[" + std::to_string(i) + "] (" + r.name + ")",
                                           message});
  }
  // Deploy pipelines' analyze steps: compiled here, where rules are, so core need not know them.
  for (std::size_t i = 0; i < config.pipelines.size(); ++i) {
    const core::PipelineConfig& p = config.pipelines[i];
    for (std::size_t k = 0; k < p.steps.size(); ++k) {
      const core::PipelineStepConfig& s = p.steps[k];
      if (s.kind != core::PipelineStepConfig::Kind::kAnalyze) continue;
      std::string key = "pipelines[" + std::to_string(i) + "].steps[" + std::to_string(k) + "]";
      for (auto [text, line, column, name] :
           {std::tuple{&s.expr, s.expr_line, s.expr_column, "expr"},
            std::tuple{&s.fail, s.fail_line, s.fail_column, "fail"}}) {
        if (text->empty()) continue;
        auto e = rules::Expression::Compile(*text);
        if (!e) {
          problems.push_back(
              core::ConfigProblem{config.file, line, column, key + ".analyze." + name, e.error()});
        } else if (e->LongestWindow() > config.windows.horizon) {
          problems.push_back(core::ConfigProblem{config.file, line, column,
                                                 key + ".analyze." + name,
                                                 "a window is longer than windows.horizon (" +
                                                     core::FormatDuration(config.windows.horizon) +
                                                     "); shorten it or raise the horizon"});
        }
      }
    }
  }
  return problems;
}

namespace {

core::ConfigLoad Checked(core::ConfigLoad load) {
  std::vector<core::ConfigProblem> more = CheckRules(load.parsed);
  if (more.empty()) return load;
  load.problems.insert(load.problems.end(), more.begin(), more.end());
  std::stable_sort(load.problems.begin(), load.problems.end(),
                   [](const core::ConfigProblem& a, const core::ConfigProblem& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  load.config.reset();
  return load;
}

}  // namespace

core::ConfigLoad LoadChecked(const std::string& path, const core::Env& env) {
  return Checked(core::LoadConfigFile(path, env));
}

core::ConfigLoad ParseChecked(std::string_view yaml, std::string name, const core::Env& env) {
  return Checked(core::ParseConfig(yaml, std::move(name), env));
}

void LogAlerts::OnAlert(const rules::Alert& a, rules::AlertState from) {
  if (!a.notify) return;
  std::string state = rules::AlertStateName(a.state);
  log::Level level = a.state == rules::AlertState::kFiring ? log::Level::kWarn : log::Level::kInfo;
  if (!log::Enabled(level)) return;
  log::Write(level, "alert " + state,
             {{"alertname", a.rule},
              {"namespace", a.series.ns},
              {"deployment", a.series.deployment},
              {"version", a.series.version},
              {"from", rules::AlertStateName(from)},
              {"summary", a.summary},
              {"value", a.value.value_or(0)},
              {"rollback", a.rollback},
              {"fingerprint", a.fingerprint}});
}

}  // namespace obsgate::app
