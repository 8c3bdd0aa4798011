#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace obsgate::core::testing {

// An environment of exactly these variables.
inline Env FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Every problem ParseConfig finds, as "file:line:column: key: message".
inline std::vector<std::string> ProblemsOf(std::string_view yaml, const Env& env) {
  ConfigLoad load = ParseConfig(yaml, "obsgate.yaml", env);
  std::vector<std::string> out;
  for (const ConfigProblem& p : load.problems) out.push_back(p.ToString());
  return out;
}

}  // namespace obsgate::core::testing
