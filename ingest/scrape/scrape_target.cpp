#include "ingest/scrape/scrape_target.hpp"

#include <re2/re2.h>

#include <cmath>

namespace obsgate::ingest {

struct SeriesSelector::Matcher {
  std::string label;
  std::string value;
  bool negate = false;
  std::unique_ptr<re2::RE2> regex;  // null: equality
};

SeriesSelector::SeriesSelector() = default;
SeriesSelector::SeriesSelector(SeriesSelector&&) noexcept = default;
SeriesSelector& SeriesSelector::operator=(SeriesSelector&&) noexcept = default;
SeriesSelector::~SeriesSelector() = default;

core::Result<SeriesSelector> SeriesSelector::Parse(std::string_view text) {
  SeriesSelector s;
  std::size_t brace = text.find('{');
  s.name_ = std::string(text.substr(0, brace));
  if (brace == std::string_view::npos) return s;
  // The label part is an exposition label set but for the operators: read it by hand.
  std::size_t i = brace + 1;
  auto skip = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  for (;;) {
    skip();
    if (i < text.size() && text[i] == '}') break;
    std::size_t start = i;
    while (i < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) {
      ++i;
    }
    Matcher m;
    m.label = std::string(text.substr(start, i - start));
    if (m.label.empty()) return core::Error{"expected a label name in " + std::string(text)};
    skip();
    bool regex = false;
    if (text.substr(i, 2) == "=~") {
      regex = true;
      i += 2;
    } else if (text.substr(i, 2) == "!~") {
      regex = m.negate = true;
      i += 2;
    } else if (text.substr(i, 2) == "!=") {
      m.negate = true;
      i += 2;
    } else if (text.substr(i, 1) == "=") {
      i += 1;
    } else {
      return core::Error{"expected =, !=, =~ or !~ after " + m.label + " in " + std::string(text)};
    }
    skip();
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'')) {
      return core::Error{"expected a quoted value for " + m.label + " in " + std::string(text)};
    }
    char quote = text[i++];
    while (i < text.size() && text[i] != quote) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      m.value += text[i++];
    }
    if (i >= text.size()) return core::Error{"unclosed quote in " + std::string(text)};
    ++i;
    if (regex) {
      m.regex = std::make_unique<re2::RE2>("^(?:" + m.value + ")$", re2::RE2::Quiet);
      if (!m.regex->ok()) {
        return core::Error{"bad regex for " + m.label + ": " + m.regex->error()};
      }
    }
    s.matchers_.push_back(std::move(m));
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') break;
    return core::Error{"expected ',' or '}' in " + std::string(text)};
  }
  if (i + 1 != text.size()) return core::Error{"unexpected text after '}' in " + std::string(text)};
  return s;
}

bool SeriesSelector::Matches(std::string_view name, std::span<const ExpositionLabel> labels) const {
  if (!name_.empty() && name != name_) return false;
  std::string unescaped;
  for (const Matcher& m : matchers_) {
    std::string_view value;  // an absent label matches as "", as in PromQL
    for (const ExpositionLabel& l : labels) {
      if (l.name == m.label) {
        if (l.escaped) {
          unescaped = Unescape(l.value);
          value = unescaped;
        } else {
          value = l.value;
        }
        break;
      }
    }
    bool hit = m.regex ? re2::RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *m.regex)
                       : value == m.value;
    if (hit == m.negate) return false;
  }
  return true;
}

TargetCounter::TargetCounter(const core::ScrapeSourceConfig& config,
                             std::map<std::string, std::string> target_labels,
                             std::shared_ptr<const SeriesSelector> requests,
                             std::shared_ptr<const SeriesSelector> errors)
    : sample_limit_(config.sample_limit),
      honor_labels_(config.honor_labels),
      label_names_(config.label_names),
      target_labels_(std::move(target_labels)),
      requests_(std::move(requests)),
      errors_(std::move(errors)) {}

namespace {

struct Matched {
  std::string key;
  std::string ns, deployment, version;
  double value;
  bool request, error;
};

}  // namespace

ScrapeOutcome TargetCounter::Apply(std::string_view body, ExpositionFormat format,
                                   core::LocalCounts& out) {
  // Owned by this call: gathers matched samples so a failed scrape changes nothing.
  class Gather final : public ExpositionVisitor {
   public:
    explicit Gather(TargetCounter& t) : t_(t) {}
    void OnFamily(const ExpositionFamily&) override {}
    bool OnSample(const ExpositionFamily&, const ExpositionSample& s) override {
      ++samples;
      if (t_.sample_limit_ != 0 && samples > t_.sample_limit_) {
        over_limit = true;
        return false;
      }
      bool request = t_.requests_ && t_.requests_->Matches(s.name, s.labels);
      bool error = t_.errors_ && t_.errors_->Matches(s.name, s.labels);
      if (!request && !error) return true;
      Matched m{std::string(s.name), {}, {}, {}, s.value, request, error};
      for (const ExpositionLabel& l : s.labels) {
        m.key += '\0';
        m.key += l.name;
        m.key += '=';
        m.key += l.value;
      }
      m.ns = Label(t_.label_names_.ns, s.labels);
      m.deployment = Label(t_.label_names_.deployment, s.labels);
      m.version = Label(t_.label_names_.version, s.labels);
      matched.push_back(std::move(m));
      return true;
    }
    // The series label from the target or the sample; which wins a clash is honor_labels.
    std::string Label(const std::string& name, std::span<const ExpositionLabel> labels) const {
      if (name.empty()) return core::kUnknown;
      std::optional<std::string> from_sample;
      for (const ExpositionLabel& l : labels) {
        if (l.name == name) from_sample = l.escaped ? Unescape(l.value) : std::string(l.value);
      }
      auto t = t_.target_labels_.find(name);
      std::optional<std::string> from_target;
      if (t != t_.target_labels_.end()) from_target = t->second;
      std::optional<std::string> v = t_.honor_labels_ ? (from_sample ? from_sample : from_target)
                                                      : (from_target ? from_target : from_sample);
      return v && !v->empty() ? *v : std::string(core::kUnknown);
    }
    TargetCounter& t_;
    std::uint64_t samples = 0;
    bool over_limit = false;
    std::vector<Matched> matched;
  } gather(*this);

  ScrapeOutcome outcome;
  core::Status s = ParseExposition(body, format, gather);
  outcome.samples = gather.samples;
  if (gather.over_limit) {
    outcome.reason = "sample_limit";
    outcome.error = "more than sample_limit=" + std::to_string(sample_limit_) + " samples";
    return outcome;
  }
  if (!s) {
    outcome.reason = "parse";
    outcome.error = s.error();
    return outcome;
  }
  std::unordered_map<std::string, Last> requests, errors;
  // Prometheus's rule: a drop means the counter restarted, so the increase is the new value.
  // The target's first good scrape is the baseline; a series first seen later started at 0.
  auto increase = [&](std::unordered_map<std::string, Last>& previous, const Matched& m) {
    auto it = previous.find(m.key);
    if (it == previous.end()) return generation_ == 0 ? 0.0 : m.value;
    return m.value >= it->second.value ? m.value - it->second.value : m.value;
  };
  for (const Matched& m : gather.matched) {
    if (std::isnan(m.value) || m.value < 0) continue;
    core::Counts& c = out.At(m.ns, m.deployment, m.version);
    if (m.request) {
      double inc = increase(last_requests_, m);
      if (inc > 0 && std::isfinite(inc))
        c.requests += static_cast<std::uint64_t>(std::llround(inc));
      requests[m.key] = {m.value, generation_};
    }
    if (m.error) {
      double inc = increase(last_errors_, m);
      if (inc > 0 && std::isfinite(inc)) c.errors += static_cast<std::uint64_t>(std::llround(inc));
      errors[m.key] = {m.value, generation_};
    }
  }
  // Series missing from this scrape are forgotten: if they come back they count from 0.
  last_requests_ = std::move(requests);
  last_errors_ = std::move(errors);
  ++generation_;
  outcome.ok = true;
  return outcome;
}

}  // namespace obsgate::ingest
