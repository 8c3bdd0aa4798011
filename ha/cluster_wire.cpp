#include "ha/cluster_wire.hpp"

#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "core/json.hpp"

namespace obsgate::ha {
namespace {

// Kubernetes names are at most 253 bytes; versions and rule names far less.
constexpr std::size_t kMaxName = 1024;

std::string Counter(std::uint64_t v) { return std::to_string(v); }

core::Error Bad(const std::string& what) { return core::Error{"cluster message: " + what}; }

core::Result<std::string_view> Name(simdjson::dom::element e, const char* what) {
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) return Bad(std::string(what) + " is not a string");
  if (s.size() > kMaxName) return Bad(std::string(what) + " is longer than 1024 bytes");
  return s;
}

core::Result<std::uint64_t> Count(simdjson::dom::element e) {
  std::uint64_t v = 0;
  if (e.get(v) != simdjson::SUCCESS) return Bad("a count is not a whole number of 0 or more");
  return v;
}

// A finite number, or nullopt for null.
core::Result<std::optional<double>> Number(simdjson::dom::element e, const char* what) {
  if (e.is_null()) return std::optional<double>();
  double v = 0;
  if (e.get(v) != simdjson::SUCCESS || !std::isfinite(v)) {
    return Bad(std::string(what) + " is not a number");
  }
  return std::optional<double>(v);
}

}  // namespace

std::string EncodeCounts(const std::vector<std::pair<core::SeriesKey, core::Counts>>& series) {
  std::string out = "{\"series\":[";
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& [k, c] = series[i];
    if (i) out += ',';
    out += '[' + core::JsonQuote(k.ns) + ',' + core::JsonQuote(k.deployment) + ',' +
           core::JsonQuote(k.version) + ',' + Counter(c.requests) + ',' + Counter(c.errors) + ',' +
           Counter(c.log_lines) + ',' + Counter(c.error_lines) + ']';
  }
  return out + "]}";
}

core::Status DecodeCounts(std::string_view body, core::LocalCounts& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Bad("not JSON");
  }
  simdjson::dom::array series;
  if (doc["series"].get(series) != simdjson::SUCCESS) return Bad("no \"series\" list");
  for (simdjson::dom::element s : series) {
    simdjson::dom::array fields;
    if (s.get(fields) != simdjson::SUCCESS || fields.size() != 7) {
      return Bad("a series is not [ns, deployment, version, 4 counts]");
    }
    auto ns = Name(fields.at(0), "a namespace");
    auto deployment = Name(fields.at(1), "a deployment");
    auto version = Name(fields.at(2), "a version");
    if (!ns) return core::Error{ns.error()};
    if (!deployment) return core::Error{deployment.error()};
    if (!version) return core::Error{version.error()};
    std::uint64_t c[4];
    for (std::size_t i = 0; i < 4; ++i) {
      auto v = Count(fields.at(3 + i));
      if (!v) return core::Error{v.error()};
      c[i] = *v;
    }
    core::Counts& to = out.At(*ns, *deployment, *version);
    to += core::Counts{c[0], c[1], c[2], c[3]};
  }
  return core::Ok{};
}

std::string EncodeRollback(const ForwardedRollback& r) {
  const rollback::Candidate& c = r.candidate;
  std::string out =
      "{\"from\":" + core::JsonQuote(r.from) + ",\"rule\":" + core::JsonQuote(r.rule) +
      ",\"namespace\":" + core::JsonQuote(c.target.ns) +
      ",\"deployment\":" + core::JsonQuote(c.target.deployment) +
      ",\"bad_version\":" + core::JsonQuote(c.bad_version) +
      ",\"baseline_version\":" + core::JsonQuote(c.baseline_version) + ",\"age_seconds\":" +
      core::JsonNumber(c.age ? std::optional<double>(std::chrono::duration<double>(*c.age).count())
                             : std::nullopt) +
      ",\"baseline_error_rate\":" + core::JsonNumber(c.baseline_error_rate) +
      ",\"recent_error_rate\":" + core::JsonNumber(c.recent_error_rate) + ",\"peers\":[";
  for (std::size_t i = 0; i < c.peers.size(); ++i) {
    const rollback::PeerTraffic& p = c.peers[i];
    out += std::string(i ? "," : "") + "{\"name\":" + core::JsonQuote(p.name) +
           ",\"requests\":" + core::JsonNumber(p.requests) +
           ",\"errors\":" + core::JsonNumber(p.errors) +
           ",\"before_requests\":" + core::JsonNumber(p.before_requests) +
           ",\"before_errors\":" + core::JsonNumber(p.before_errors) + "}";
  }
  out += "],\"values\":{";
  for (std::size_t i = 0; i < r.values.size(); ++i) {
    out += std::string(i ? "," : "") + core::JsonQuote(r.values[i].first) + ':' +
           core::JsonNumber(r.values[i].second);
  }
  return out + "}}";
}

core::Result<ForwardedRollback> DecodeRollback(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Bad("not JSON");
  }
  simdjson::dom::object o;
  if (doc.get(o) != simdjson::SUCCESS) return Bad("not a JSON object");
  ForwardedRollback r;
  rollback::Candidate& c = r.candidate;
  c.origin = rollback::Candidate::Origin::kRule;
  for (auto [field, out] : {std::pair<const char*, std::string*>{"from", &r.from},
                            {"rule", &r.rule},
                            {"namespace", &c.target.ns},
                            {"deployment", &c.target.deployment},
                            {"bad_version", &c.bad_version},
                            {"baseline_version", &c.baseline_version}}) {
    simdjson::dom::element e;
    if (o[field].get(e) != simdjson::SUCCESS) return Bad(std::string("no \"") + field + "\"");
    auto s = Name(e, field);
    if (!s) return core::Error{s.error()};
    out->assign(*s);
  }
  if (c.target.deployment.empty() || c.bad_version.empty()) {
    return Bad("deployment and bad_version must not be empty");
  }
  for (auto [field, out] : {std::pair<const char*, std::optional<double>*>{"baseline_error_rate",
                                                                           &c.baseline_error_rate},
                            {"recent_error_rate", &c.recent_error_rate}}) {
    simdjson::dom::element e;
    if (o[field].get(e) != simdjson::SUCCESS) continue;
    auto v = Number(e, field);
    if (!v) return core::Error{v.error()};
    *out = *v;
  }
  if (simdjson::dom::element e; o["age_seconds"].get(e) == simdjson::SUCCESS) {
    auto v = Number(e, "age_seconds");
    if (!v) return core::Error{v.error()};
    // Past a year is no age a release has here; it would overflow the duration.
    if (*v && (**v < 0 || **v > 366.0 * 86400)) return Bad("age_seconds is out of range");
    if (*v) {
      c.age = std::chrono::duration_cast<core::Duration>(std::chrono::duration<double>(**v));
    }
  }
  if (simdjson::dom::array peers; o["peers"].get(peers) == simdjson::SUCCESS) {
    for (simdjson::dom::element p : peers) {
      rollback::PeerTraffic t;
      simdjson::dom::element name_field;
      if (p["name"].get(name_field) != simdjson::SUCCESS) return Bad("a peer has no name");
      auto name = Name(name_field, "a peer's name");
      if (!name) return core::Error{name.error()};
      t.name.assign(*name);
      for (auto [field, out] : {std::pair<const char*, double*>{"requests", &t.requests},
                                {"errors", &t.errors},
                                {"before_requests", &t.before_requests},
                                {"before_errors", &t.before_errors}}) {
        simdjson::dom::element e;
        if (p[field].get(e) != simdjson::SUCCESS) return Bad(std::string("a peer has no ") + field);
        auto v = Number(e, field);
        if (!v) return core::Error{v.error()};
        *out = v->value_or(0);
      }
      c.peers.push_back(std::move(t));
    }
  }
  if (simdjson::dom::object values; o["values"].get(values) == simdjson::SUCCESS) {
    for (auto [name, value] : values) {
      auto v = Number(value, "a value");
      if (!v) return core::Error{v.error()};
      if (*v) r.values.emplace_back(std::string(name), **v);
    }
  }
  return r;
}

}  // namespace obsgate::ha
