#include "alerting/matcher.hpp"

#include <re2/re2.h>

namespace obsgate::alerting {

using Op = core::LabelMatcherConfig::Op;

LabelMatcher::LabelMatcher(core::LabelMatcherConfig config) : config_(std::move(config)) {
  if (config_.op == Op::kRegex || config_.op == Op::kNotRegex) {
    regex_ = std::make_unique<re2::RE2>("^(?:" + config_.value + ")$", re2::RE2::Quiet);
  }
}
LabelMatcher::~LabelMatcher() = default;
LabelMatcher::LabelMatcher(LabelMatcher&&) noexcept = default;
LabelMatcher& LabelMatcher::operator=(LabelMatcher&&) noexcept = default;

bool LabelMatcher::Matches(const LabelSet& labels) const {
  auto it = labels.find(config_.name);
  const std::string& value = it == labels.end() ? std::string() : it->second;
  switch (config_.op) {
    case Op::kEqual:
      return value == config_.value;
    case Op::kNotEqual:
      return value != config_.value;
    case Op::kRegex:
      return regex_->ok() && re2::RE2::FullMatch(value, *regex_);
    case Op::kNotRegex:
      return regex_->ok() && !re2::RE2::FullMatch(value, *regex_);
  }
  return false;
}

Matchers::Matchers(const std::vector<core::LabelMatcherConfig>& configs) {
  for (const core::LabelMatcherConfig& c : configs) matchers_.emplace_back(c);
}

bool Matchers::Matches(const LabelSet& labels) const {
  for (const LabelMatcher& m : matchers_) {
    if (!m.Matches(labels)) return false;
  }
  return true;
}

std::string Matchers::Text() const {
  std::string out = "{";
  for (std::size_t i = 0; i < matchers_.size(); ++i) {
    out += (i ? "," : "") + core::LabelMatcherText(matchers_[i].config());
  }
  return out + "}";
}

}  // namespace obsgate::alerting
