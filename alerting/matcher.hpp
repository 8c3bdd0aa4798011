#pragma once

#include <memory>
#include <string>
#include <vector>

#include "alerting/notification.hpp"
#include "core/config.hpp"

namespace re2 {
class RE2;
}

namespace obsgate::alerting {

// One compiled label matcher; a missing label matches as the empty string, as in Alertmanager.
// Immutable after construction: thread-safe.
class LabelMatcher {
 public:
  // The configuration has checked the regular expression; a bad one here matches nothing.
  explicit LabelMatcher(core::LabelMatcherConfig config);
  ~LabelMatcher();
  LabelMatcher(LabelMatcher&&) noexcept;
  LabelMatcher& operator=(LabelMatcher&&) noexcept;

  bool Matches(const LabelSet& labels) const;
  const core::LabelMatcherConfig& config() const { return config_; }

 private:
  core::LabelMatcherConfig config_;
  std::unique_ptr<re2::RE2> regex_;
};

// All of them must match.
class Matchers {
 public:
  Matchers() = default;
  explicit Matchers(const std::vector<core::LabelMatcherConfig>& configs);
  bool Matches(const LabelSet& labels) const;
  bool empty() const { return matchers_.empty(); }
  // {severity="critical",team=~"db|web"}, as Alertmanager writes a route's key.
  std::string Text() const;

 private:
  std::vector<LabelMatcher> matchers_;
};

}  // namespace obsgate::alerting
