#include "alerting/silences.hpp"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {
namespace {

// Expired silences stay listed this long, as in Alertmanager (--data.retention).
constexpr auto kRetention = std::chrono::hours(120);

std::string NewId() {
  // A random UUID (version 4), the form Alertmanager gives silence ids.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

std::string MatcherJson(const core::LabelMatcherConfig& m) {
  using Op = core::LabelMatcherConfig::Op;
  bool regex = m.op == Op::kRegex || m.op == Op::kNotRegex;
  bool equal = m.op == Op::kEqual || m.op == Op::kRegex;
  return "{\"name\":" + core::JsonQuote(m.name) + ",\"value\":" + core::JsonQuote(m.value) +
         ",\"isRegex\":" + (regex ? "true" : "false") +
         ",\"isEqual\":" + (equal ? "true" : "false") + "}";
}

std::string SilenceJson(const Silence& s, core::TimePoint now, bool with_status) {
  std::string out = "{\"id\":" + core::JsonQuote(s.id);
  if (with_status) out += ",\"status\":{\"state\":\"" + std::string(s.State(now)) + "\"}";
  out += ",\"updatedAt\":\"" + core::FormatRfc3339(s.updated_at) + "\",\"matchers\":[";
  for (std::size_t i = 0; i < s.matchers.size(); ++i) {
    out += (i ? "," : "") + MatcherJson(s.matchers[i]);
  }
  out += "],\"startsAt\":\"" + core::FormatRfc3339(s.starts_at) + "\",\"endsAt\":\"" +
         core::FormatRfc3339(s.ends_at) + "\",\"createdBy\":" + core::JsonQuote(s.created_by) +
         ",\"comment\":" + core::JsonQuote(s.comment) + "}";
  return out;
}

core::Result<core::TimePoint> TimeField(simdjson::ondemand::object& o, const char* key,
                                        bool required, core::TimePoint fallback) {
  std::string_view text;
  auto err = o[key].get_string().get(text);
  if (err == simdjson::NO_SUCH_FIELD && !required) return fallback;
  if (err) return core::Error{std::string(key) + " must be an RFC 3339 time string"};
  auto t = core::ParseRfc3339(text);
  if (!t) return core::Error{std::string(key) + " \"" + std::string(text) + "\" is not RFC 3339"};
  return *t;
}

// One silence from Alertmanager's postableSilence (API v2), or why not.
// `stored`: read back from the file, where ended silences and their updatedAt are kept.
core::Result<Silence> ParseSilence(std::string_view json, core::TimePoint now, bool stored) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object o;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(o)) {
    return core::Error{"the body is not a JSON object"};
  }
  Silence s;
  std::string_view text;
  if (!o["id"].get_string().get(text)) s.id = std::string(text);
  simdjson::ondemand::array matchers;
  if (o["matchers"].get_array().get(matchers)) {
    return core::Error{"matchers must be a list of {name, value, isRegex, isEqual}"};
  }
  for (auto item : matchers) {
    simdjson::ondemand::object m;
    if (item.get_object().get(m)) return core::Error{"each matcher must be an object"};
    core::LabelMatcherConfig c;
    std::string_view name, value;
    if (m["name"].get_string().get(name) || name.empty()) {
      return core::Error{"each matcher needs a non-empty name"};
    }
    if (m["value"].get_string().get(value)) return core::Error{"each matcher needs a value"};
    bool regex = false, equal = true;
    if (auto e = m["isRegex"].get_bool().get(regex); e && e != simdjson::NO_SUCH_FIELD) {
      return core::Error{"isRegex must be true or false"};
    }
    if (auto e = m["isEqual"].get_bool().get(equal); e && e != simdjson::NO_SUCH_FIELD) {
      return core::Error{"isEqual must be true or false"};
    }
    using Op = core::LabelMatcherConfig::Op;
    c.name = std::string(name);
    c.value = std::string(value);
    c.op = regex ? (equal ? Op::kRegex : Op::kNotRegex) : (equal ? Op::kEqual : Op::kNotEqual);
    // Checked by the same parser the configuration uses, so the rules are one.
    auto checked = core::ParseLabelMatcher(core::LabelMatcherText(c));
    if (!checked) return core::Error{checked.error()};
    s.matchers.push_back(std::move(c));
  }
  if (s.matchers.empty()) return core::Error{"a silence needs at least one matcher"};
  auto starts = TimeField(o, "startsAt", false, now);
  if (!starts) return core::Error{starts.error()};
  auto ends = TimeField(o, "endsAt", true, now);
  if (!ends) return core::Error{ends.error()};
  s.starts_at = *starts;
  s.ends_at = *ends;
  if (!stored && s.ends_at <= s.starts_at) return core::Error{"endsAt must be after startsAt"};
  if (!stored && s.ends_at <= now) {
    return core::Error{"endsAt is in the past; the silence would do nothing"};
  }
  if (!o["createdBy"].get_string().get(text)) s.created_by = std::string(text);
  if (!o["comment"].get_string().get(text)) s.comment = std::string(text);
  if (s.created_by.empty())
    return core::Error{"createdBy must say who silences, as Alertmanager asks"};
  s.updated_at = now;
  if (stored && !o["updatedAt"].get_string().get(text)) {
    if (auto t = core::ParseRfc3339(text)) s.updated_at = *t;
  }
  return s;
}

}  // namespace

const char* Silence::State(core::TimePoint now) const {
  if (now < starts_at) return "pending";
  if (now < ends_at) return "active";
  return "expired";
}

core::Result<std::unique_ptr<Silences>> Silences::Open(std::string path, const core::Clock& clock) {
  std::unique_ptr<Silences> out(new Silences(std::move(path), clock));
  if (!std::filesystem::exists(out->path_)) return out;
  auto text = core::ReadWholeFile(out->path_);
  if (!text) return core::Error{text.error()};
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  if (parser.parse(*text).get_array().get(list)) {
    return core::Error{out->path_ + " is not a JSON list of silences; move it away to start"};
  }
  core::TimePoint now = clock.Now();
  for (simdjson::dom::element item : list) {
    std::string raw = simdjson::minify(item);
    auto s = ParseSilence(raw, now, true);
    if (!s) return core::Error{out->path_ + ": " + s.error()};
    Silence silence = std::move(s).value();
    out->compiled_.emplace_back(silence.matchers);
    out->silences_.push_back(std::move(silence));
  }
  out->Prune(now);
  return out;
}

core::Result<std::string> Silences::Post(std::string_view json) {
  core::TimePoint now = clock_.Now();
  auto parsed = ParseSilence(json, now, false);
  if (!parsed) return core::Error{parsed.error()};
  Silence s = std::move(parsed).value();
  std::lock_guard lock(mu_);
  Prune(now);
  auto it = std::find_if(silences_.begin(), silences_.end(),
                         [&](const Silence& x) { return !s.id.empty() && x.id == s.id; });
  if (!s.id.empty() && it == silences_.end()) {
    return core::Error{"no silence has the id " + s.id + "; leave id out to create one"};
  }
  if (it != silences_.end()) {
    std::size_t i = static_cast<std::size_t>(it - silences_.begin());
    silences_[i] = s;
    compiled_[i] = Matchers(s.matchers);
  } else {
    s.id = NewId();
    compiled_.emplace_back(s.matchers);
    silences_.push_back(s);
  }
  if (core::Status saved = SaveLocked(); !saved) return core::Error{saved.error()};
  return s.id;
}

core::Status Silences::Expire(const std::string& id) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  for (Silence& s : silences_) {
    if (s.id != id) continue;
    if (s.ends_at <= now) return core::Error{"silence " + id + " has already expired"};
    s.ends_at = now;
    if (s.starts_at > now) s.starts_at = now;
    s.updated_at = now;
    return SaveLocked();
  }
  return core::Error{"no silence has the id " + id};
}

std::string Silences::ListJson() const {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  std::string out = "[";
  for (std::size_t i = 0; i < silences_.size(); ++i) {
    out += (i ? "," : "") + SilenceJson(silences_[i], now, true);
  }
  return out + "]";
}

std::string Silences::SilencedBy(const LabelSet& labels) const {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < silences_.size(); ++i) {
    const Silence& s = silences_[i];
    if (s.starts_at <= now && now < s.ends_at && compiled_[i].Matches(labels)) return s.id;
  }
  return {};
}

std::size_t Silences::active() const {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(std::count_if(silences_.begin(), silences_.end(), [&](auto& s) {
    return s.starts_at <= now && now < s.ends_at;
  }));
}

void Silences::Prune(core::TimePoint now) {
  for (std::size_t i = silences_.size(); i-- > 0;) {
    if (silences_[i].ends_at + kRetention < now) {
      silences_.erase(silences_.begin() + static_cast<std::ptrdiff_t>(i));
      compiled_.erase(compiled_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

core::Status Silences::SaveLocked() const {
  std::string out = "[";
  for (std::size_t i = 0; i < silences_.size(); ++i) {
    out += (i ? ",\n" : "\n") + SilenceJson(silences_[i], core::TimePoint{}, false);
  }
  out += "\n]\n";
  return core::WriteFileAtomically(path_, out);
}

}  // namespace obsgate::alerting
