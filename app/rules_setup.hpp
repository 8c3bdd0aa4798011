#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"
#include "rules/rule_engine.hpp"

namespace obsgate::app {

// The rules obsgate runs when the configuration names none: the seed's policy (error rate above
// 1%) held to a minimum of traffic and to a significant difference from the previous version.
extern const char* const kDefaultRulesYaml;

// The rules to run: the configured ones, or the defaults when the file has no rules: key.
std::vector<rules::RuleSpec> RuleSpecsFrom(const core::Config& config);

// Compiles every rule as the engine would and reports each problem at its expression's line.
std::vector<core::ConfigProblem> CheckRules(const core::Config& config);

// Loads a configuration and checks its rules: what `run`, `check-config` and reload all use.
core::ConfigLoad LoadChecked(const std::string& path, const core::Env& env);
core::ConfigLoad ParseChecked(std::string_view yaml, std::string name, const core::Env& env);

// Writes every alert state change to the log: the receiver of the embedded default.
class LogAlerts final : public rules::AlertListener {
 public:
  void OnAlert(const rules::Alert& alert, rules::AlertState from) override;
};

}  // namespace obsgate::app
