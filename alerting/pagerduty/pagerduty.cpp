#include "alerting/pagerduty/pagerduty.hpp"

#include <simdjson.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "core/json.hpp"
#include "core/time.hpp"
#include "net/http_client.hpp"

namespace obsgate::alerting {
namespace {

// Events API v2 limits.
constexpr std::size_t kMaxSummary = 1024;  // payload.summary, characters
constexpr std::size_t kMaxDedupKey = 255;
constexpr std::size_t kMaxDetailText = 8 * 1024;  // a description in custom_details; the whole
                                                  // event must stay under 512 KB

// FNV-1a, 64 bits: stable across builds and machines, unlike std::hash, so a dedup_key made by
// one obsgate is the same after a restart or on another instance.
std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Summary(const Notification& n, const AlertSnapshot& a) {
  std::string_view summary = Label(a.annotations, "summary");
  if (summary.empty() && n.alerts.size() == 1) summary = Label(n.common_annotations, "summary");
  std::string text;
  if (!summary.empty()) {
    text = std::string(summary);
  } else {
    // No summary annotation: say which alert on which deployment, with the error rate.
    text = std::string(Label(a.labels, "alertname"));
    std::string_view deployment = Label(a.labels, "deployment");
    if (!deployment.empty()) {
      text += " on " + std::string(Label(a.labels, "namespace")) + "/" + std::string(deployment);
      if (!Label(a.labels, "version").empty()) {
        text += " " + std::string(Label(a.labels, "version"));
      }
    }
    if (const double* rate = FindValue(a, "error_rate")) {
      text += ": error rate " + FormatPercent(*rate);
    }
    if (text.empty()) text = "obsgate alert";
  }
  return Truncate(text, kMaxSummary, "…");
}

std::string Source(const AlertSnapshot& a, const core::PagerDutyReceiverConfig& config) {
  if (!config.source.empty()) return config.source;
  std::string_view ns = Label(a.labels, "namespace");
  std::string_view deployment = Label(a.labels, "deployment");
  if (!deployment.empty()) {
    return ns.empty() ? std::string(deployment) : std::string(ns) + "/" + std::string(deployment);
  }
  return "obsgate";  // PagerDuty requires a source
}

void Member(std::string& out, std::string_view key, std::string_view json_value) {
  if (out.back() != '{') out += ',';
  out += core::JsonQuote(key);
  out += ':';
  out += json_value;
}

void StringMember(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) Member(out, key, core::JsonQuote(value));
}

std::string CustomDetails(const AlertSnapshot& a) {
  std::string out = "{";
  StringMember(out, "status", a.status);
  StringMember(out, "namespace", Label(a.labels, "namespace"));
  StringMember(out, "deployment", Label(a.labels, "deployment"));
  StringMember(out, "version", Label(a.labels, "version"));
  StringMember(out, "baseline_version", a.baseline_version);
  for (const auto& [name, v] : a.values) StringMember(out, name, FormatValue(name, v));
  StringMember(out, "action", ActionText(a));
  StringMember(out, "description", Truncate(Label(a.annotations, "description"), kMaxDetailText));
  StringMember(out, "starts_at", core::FormatRfc3339(a.starts_at));
  Member(out, "labels", LabelSetJson(a.labels));
  out += '}';
  return out;
}

// PagerDuty's own words from a refusal: {"status","message","errors":[...]}.
std::string ErrorWords(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), true).get(root)) return std::string(body);
  std::string words;
  std::string_view message;
  if (!root["message"].get_string().get(message)) words = std::string(message);
  simdjson::dom::array errors;
  if (!root["errors"].get_array().get(errors)) {
    for (auto e : errors) {
      std::string_view s;
      if (e.get_string().get(s)) continue;
      words += words.empty() ? "" : "; ";
      words += s;
    }
  }
  return words.empty() ? std::string(body) : words;
}

}  // namespace

// PagerDuty knows four severities. The label's value, in any case, maps as:
//   critical, page, pager, emergency, emerg, alert, fatal, high, p1, sev1   -> critical
//   error, err, major, p2, sev2                                             -> error
//   warning, warn, minor, medium, p3, sev3                                  -> warning
//   info, informational, notice, low, none, debug, p4, p5, sev4, sev5       -> info
// and anything else, or no label, to error: loud enough to be seen, not loud enough to wake.
std::string_view PagerDutySeverity(std::string_view label) {
  const std::string s = Lower(label);
  for (std::string_view v : {"critical", "page", "pager", "emergency", "emerg", "alert", "fatal",
                             "high", "p1", "sev1"}) {
    if (s == v) return "critical";
  }
  for (std::string_view v : {"warning", "warn", "minor", "medium", "p3", "sev3"}) {
    if (s == v) return "warning";
  }
  for (std::string_view v :
       {"info", "informational", "notice", "low", "none", "debug", "p4", "p5", "sev4", "sev5"}) {
    if (s == v) return "info";
  }
  return "error";  // error, err, major, p2, sev2 and everything unknown
}

std::string PagerDutyDedupKey(const Notification& n, const AlertSnapshot& a) {
  // The fingerprint names the alert; the group key keeps two routes to one service apart.
  std::string alert = a.fingerprint.empty() ? Hex(Fnv1a(LabelSetJson(a.labels))) : a.fingerprint;
  std::string key = "obsgate-" + Hex(Fnv1a(n.group_key)) + "-" + alert;
  if (key.size() > kMaxDedupKey)
    key = "obsgate-" + Hex(Fnv1a(n.group_key)) + "-" + Hex(Fnv1a(alert));
  return key;
}

std::string PagerDutyEvent(const Notification& n, const AlertSnapshot& a,
                           const core::PagerDutyReceiverConfig& config) {
  const bool resolve = a.status == "resolved";
  std::string out = "{";
  Member(out, "routing_key", core::JsonQuote(config.routing_key));
  Member(out, "event_action", resolve ? "\"resolve\"" : "\"trigger\"");
  Member(out, "dedup_key", core::JsonQuote(PagerDutyDedupKey(n, a)));
  if (resolve) {
    out += '}';  // a resolve needs nothing but the key; PagerDuty ignores a payload on it
    return out;
  }
  std::string payload = "{";
  Member(payload, "summary", core::JsonQuote(Summary(n, a)));
  Member(payload, "source", core::JsonQuote(Source(a, config)));
  Member(payload, "severity", core::JsonQuote(PagerDutySeverity(Label(a.labels, "severity"))));
  Member(payload, "timestamp", core::JsonQuote(core::FormatRfc3339(a.starts_at)));
  StringMember(payload, "component", Label(a.labels, "deployment"));
  StringMember(payload, "group", Label(a.labels, "namespace"));
  StringMember(payload, "class", Label(a.labels, "alertname"));
  Member(payload, "custom_details", CustomDetails(a));
  payload += '}';
  Member(out, "payload", payload);
  StringMember(out, "client", config.client);
  const std::string& client_url = config.client_url.empty() ? n.external_url : config.client_url;
  StringMember(out, "client_url", client_url);
  if (!n.external_url.empty()) {
    Member(out, "links",
           "[{\"href\":" + core::JsonQuote(n.external_url) + ",\"text\":\"Open in obsgate\"}]");
  }
  out += '}';
  return out;
}

PagerDutyNotifier::PagerDutyNotifier(std::string name, core::PagerDutyReceiverConfig config,
                                     std::unique_ptr<net::HttpClient> client)
    : name_(std::move(name)), config_(std::move(config)), client_(std::move(client)) {}

PagerDutyNotifier::~PagerDutyNotifier() = default;

core::Result<std::unique_ptr<PagerDutyNotifier>> PagerDutyNotifier::Create(
    std::string name, core::PagerDutyReceiverConfig config, core::Env env) {
  net::HttpClientOptions options;
  options.timeout = config.http.timeout;
  options.ca_file = config.http.ca_file;
  options.insecure_skip_verify = config.http.insecure_skip_verify;
  options.env = std::move(env);
  auto client = net::HttpClient::Create(config.url, std::move(options));
  if (!client.ok()) {
    return core::Error{"receiver " + name +
                       ": pagerduty url: " + Redact(client.error(), {config.routing_key}) +
                       "; leave it out for https://events.pagerduty.com/v2/enqueue"};
  }
  return std::unique_ptr<PagerDutyNotifier>(
      new PagerDutyNotifier(std::move(name), std::move(config), std::move(client).value()));
}

Delivery PagerDutyNotifier::Deliver(const Notification& n, core::TimePoint now) {
  const Notification events = config_.send_resolved ? n : FiringOnly(n);
  int refused = 0;
  int refused_status = 0;
  int last_status = 0;
  std::string refusals;
  for (const AlertSnapshot& a : events.alerts) {
    net::HttpCall call;
    call.method = "POST";
    call.content_type = "application/json";
    call.body = PagerDutyEvent(events, a, config_);
    net::HttpFetch fetch = client_->Send(call);
    Delivery d = fetch.status == 0 ? DeliveryForFailure("PagerDuty", fetch.reason, fetch.error)
                                   : DeliveryForStatus("PagerDuty", fetch.status, fetch.retry_after,
                                                       ErrorWords(Truncate(fetch.body, 2048)), now);
    d.detail = Redact(std::move(d.detail), {config_.routing_key});
    if (d.outcome == Delivery::Outcome::kRetry) return d;  // the rest wait for the retry
    last_status = fetch.status;
    if (d.outcome == Delivery::Outcome::kGiveUp) {
      // A refused event never becomes valid; the others still go out.
      if (refused++ == 0) {
        refusals = d.detail;
        refused_status = d.status;
      }
    }
  }
  if (refused > 0) {
    std::string detail = refusals;
    if (events.alerts.size() > 1) {
      detail = std::to_string(refused) + " of " + std::to_string(events.alerts.size()) +
               " events refused; first: " + detail;
    }
    return Delivery::GiveUp(std::move(detail), refused_status);
  }
  return Delivery::Delivered(last_status);
}

}  // namespace obsgate::alerting
