#include "ingest/scrape/scrape_target.hpp"

#include <re2/re2.h>

#include <bit>
#include <cmath>
#include <functional>

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
      requests_(std::move(requests)),
      errors_(std::move(errors)) {
  auto label = [&](const std::string& name) {
    SeriesLabel l{name, std::nullopt};
    if (auto t = target_labels.find(name); !name.empty() && t != target_labels.end()) {
      l.from_target = t->second;
    }
    return l;
  };
  ns_ = label(config.label_names.ns);
  deployment_ = label(config.label_names.deployment);
  version_ = label(config.label_names.version);
}

std::uint64_t SeriesTable::Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }

std::uint32_t SeriesTable::Find(std::string_view key) {
  if (next_ < entries_.size() && entries_[next_].key == key) return next_++;
  return Probe(key, Hash(key));
}

std::uint32_t SeriesTable::Probe(std::string_view key, std::uint64_t hash) {
  if (slots_.empty()) return kAbsent;
  std::size_t mask = slots_.size() - 1;
  for (std::size_t s = hash & mask; slots_[s] != 0; s = (s + 1) & mask) {
    std::uint32_t i = static_cast<std::uint32_t>(slots_[s]) - 1;
    if ((slots_[s] >> 32) == (hash >> 32) && entries_[i].hash == hash && entries_[i].key == key) {
      next_ = i + 1;
      return i;
    }
  }
  return kAbsent;
}

std::uint32_t SeriesTable::FindOrAdd(std::string_view key) {
  std::uint64_t hash = Hash(key);
  if (std::uint32_t i = Probe(key, hash); i != kAbsent) return i;
  if ((entries_.size() + 1) * 2 > slots_.size())
    Rebuild(std::max<std::size_t>(slots_.size() * 2, 16));
  entries_.push_back({hash, std::string(key), {}});
  auto i = static_cast<std::uint32_t>(entries_.size() - 1);
  Place(i);
  next_ = i + 1;
  return i;
}

void SeriesTable::Reserve(std::size_t series) {
  entries_.reserve(series);
  if (series * 2 > slots_.size()) Rebuild(std::bit_ceil(std::max<std::size_t>(series * 2, 16)));
}

void SeriesTable::Place(std::uint32_t i) {
  std::size_t mask = slots_.size() - 1;
  std::size_t s = entries_[i].hash & mask;
  while (slots_[s] != 0) s = (s + 1) & mask;
  slots_[s] = (entries_[i].hash >> 32 << 32) | (std::uint64_t{i} + 1);
}

void SeriesTable::Rebuild(std::size_t slots) {
  slots_.assign(slots, 0);
  for (std::uint32_t i = 0; i < entries_.size(); ++i) Place(i);
  next_ = 0;
}

// The sample's name and labels as the text name{label="value",...} with nothing between the tokens,
// so one series has one key whatever blanks its line holds, and two never share one: a value ends
// at a quote it cannot hold unescaped. Client libraries write lines so, and then the key is a view
// of the line itself; otherwise it is built in key_.
std::string_view TargetCounter::Key(const ExpositionSample& sample, std::string_view body) {
  if (sample.labels.empty()) return sample.name;
  // The parser leaves views into the body: where the pieces stand one and two bytes apart, the
  // bytes between can only be '{' or ',' and '="'.
  const char* p = sample.name.data() + sample.name.size();
  bool as_is = sample.name.data() >= body.data();
  for (const ExpositionLabel& l : sample.labels) {
    as_is = as_is && l.name.data() == p + 1 && l.value.data() == l.name.data() + l.name.size() + 2;
    p = l.value.data() + l.value.size() + 1;  // past the closing quote
  }
  if (as_is && p < body.data() + body.size() && *p == '}') {
    return {sample.name.data(), static_cast<std::size_t>(p + 1 - sample.name.data())};
  }
  key_.assign(sample.name);
  char before = '{';
  for (const ExpositionLabel& l : sample.labels) {
    key_ += before;
    key_ += l.name;
    key_ += "=\"";
    key_ += l.value;
    key_ += '"';
    before = ',';
  }
  key_ += '}';
  return key_;
}

// The series label from the target or the sample; which wins a clash is honor_labels.
std::string_view TargetCounter::Label(const SeriesLabel& label,
                                      std::span<const ExpositionLabel> labels) {
  if (label.name.empty()) return core::kUnknown;
  const ExpositionLabel* from_sample = nullptr;
  for (const ExpositionLabel& l : labels) {
    if (l.name == label.name) from_sample = &l;  // the last one, should a body repeat it
  }
  std::string_view v;
  if (from_sample != nullptr && (honor_labels_ || !label.from_target)) {
    if (from_sample->escaped) {
      v = unescaped_.emplace_back(Unescape(from_sample->value));
    } else {
      v = from_sample->value;
    }
  } else if (label.from_target) {
    v = *label.from_target;
  }
  return v.empty() ? std::string_view(core::kUnknown) : v;
}

// The index of (ns, deployment, version) in destinations_, added if new.
std::uint32_t TargetCounter::Destination(std::string_view ns, std::string_view deployment,
                                         std::string_view version) {
  core::SeriesKey key{std::string(ns), std::string(deployment), std::string(version)};
  auto [it, added] =
      destination_index_.try_emplace(key, static_cast<std::uint32_t>(destinations_.size()));
  if (added) {
    destinations_.push_back(std::move(key));
    destination_counts_.push_back(nullptr);
  }
  return it->second;
}

// Drops the destinations no series in the table counts toward any more, so a target whose versions
// come and go does not gather them without bound.
void TargetCounter::ForgetUnusedDestinations() {
  std::vector<std::uint32_t> moved(destinations_.size(), SeriesTable::kAbsent);
  std::vector<core::SeriesKey> kept;
  for (std::uint32_t i = 0; i < series_.size(); ++i) {
    std::uint32_t& d = series_[i].destination;
    if (moved[d] == SeriesTable::kAbsent) {
      moved[d] = static_cast<std::uint32_t>(kept.size());
      kept.push_back(std::move(destinations_[d]));
    }
    d = moved[d];
  }
  destinations_ = std::move(kept);
  destination_index_.clear();
  for (std::uint32_t i = 0; i < destinations_.size(); ++i) {
    destination_index_.emplace(destinations_[i], i);
  }
}

// Prometheus's rule: a drop means the counter restarted, so the increase is the new value. The
// target's first good scrape is the baseline; a series first seen later started at 0.
double TargetCounter::Increase(SeriesReading& last, double value) const {
  std::uint64_t now = generation_ + 1;
  std::optional<double> previous;
  if (last.seen == now) {  // a repeat within this scrape
    if (last.had_before) previous = last.before;
  } else {
    last.had_before = last.seen != 0 && last.seen == generation_;
    if (last.had_before) previous = last.before = last.value;
    last.seen = now;
  }
  last.value = value;
  if (!previous) return generation_ == 0 ? 0.0 : value;
  return value >= *previous ? value - *previous : value;
}

ScrapeOutcome TargetCounter::Apply(std::string_view body, ExpositionFormat format,
                                   core::LocalCounts& out) {
  // Owned by this call: gathers matched samples so a failed scrape changes nothing.
  class Gather final : public ExpositionVisitor {
   public:
    Gather(TargetCounter& t, std::string_view body) : t_(t), body_(body) {}
    void OnFamily(const ExpositionFamily&) override {}
    bool OnSample(const ExpositionFamily&, const ExpositionSample& s) override {
      ++samples;
      if (t_.sample_limit_ != 0 && samples > t_.sample_limit_) {
        over_limit = true;
        return false;
      }
      // A NaN or negative counter is no reading: the series is as absent from this scrape.
      if (std::isnan(s.value) || s.value < 0) return true;
      if (!(t_.requests_ && t_.requests_->MatchesName(s.name)) &&
          !(t_.errors_ && t_.errors_->MatchesName(s.name))) {
        return true;
      }
      std::string_view key = t_.Key(s, body_);
      Matched m{0, 0, s.value, {}, {}, {}, false, false};
      // The table holds only series that matched, with what they matched.
      m.series = t_.series_.Find(key);
      if (m.series == SeriesTable::kAbsent) {
        m.request = t_.requests_ && t_.requests_->Matches(s.name, s.labels);
        m.error = t_.errors_ && t_.errors_->Matches(s.name, s.labels);
        if (!m.request && !m.error) return true;
        m.fresh = static_cast<std::uint32_t>(t_.fresh_keys_.size());
        t_.fresh_keys_.emplace_back(key);
        m.ns = t_.Label(t_.ns_, s.labels);
        m.deployment = t_.Label(t_.deployment_, s.labels);
        m.version = t_.Label(t_.version_, s.labels);
      }
      t_.matched_.push_back(m);
      return true;
    }
    TargetCounter& t_;
    std::string_view body_;
    std::uint64_t samples = 0;
    bool over_limit = false;
  } gather(*this, body);

  matched_.clear();
  fresh_keys_.clear();
  unescaped_.clear();
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
  series_.Reserve(series_.size() + fresh_keys_.size());
  destination_counts_.assign(destinations_.size(), nullptr);
  std::size_t live = 0;  // series this scrape has
  for (const Matched& m : matched_) {
    SeriesReading* last;
    if (m.series != SeriesTable::kAbsent) {
      last = &series_[m.series];
    } else {
      last = &series_[series_.FindOrAdd(fresh_keys_[m.fresh])];
      last->request = m.request;
      last->error = m.error;
      last->destination = Destination(m.ns, m.deployment, m.version);
    }
    if (last->seen != generation_ + 1) ++live;
    double inc = Increase(*last, m.value);
    if (!(inc > 0 && std::isfinite(inc))) inc = 0;
    // Looked up at its first sample, so `out` meets the destinations in the order it always did.
    core::Counts*& c = destination_counts_[last->destination];
    if (c == nullptr) {
      const core::SeriesKey& d = destinations_[last->destination];
      c = &out.At(d.ns, d.deployment, d.version);
    }
    auto n = static_cast<std::uint64_t>(std::llround(inc));
    if (last->request) c->requests += n;
    if (last->error) c->errors += n;
  }
  // Series missing from this scrape are forgotten: if they come back they count from 0. They
  // already read as absent; dropping them only bounds the map.
  if (series_.size() > live) {
    series_.Retain([&](const SeriesReading& r) { return r.seen == generation_ + 1; });
    ForgetUnusedDestinations();
  }
  ++generation_;
  outcome.ok = true;
  return outcome;
}

}  // namespace obsgate::ingest
