#include "tests/fakes/pagerduty.hpp"

#include <simdjson.h>

#include <cstdio>

#include "core/json.hpp"
#include "tests/fakes/json_rules.hpp"

namespace obsgate::fakes {
namespace {

using rules::Characters;
using rules::Member;
using rules::TypeName;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// From PagerDuty's "Send an Alert Event" and "Events API v2 Overview" pages
// (github.com/PagerDuty/developer-docs, docs/events-API-v2).
constexpr std::size_t kRoutingKeyLength = 32;  // "the 32 character Integration Key"
constexpr std::size_t kMaxDedupKey = 255;
constexpr std::size_t kMaxSummary = 1024;
constexpr std::size_t kMaxBody = 512 * 1024;  // "Events API payloads are limited to 512 KB"

bool Digits(std::string_view s, std::size_t& i, std::size_t n) {
  if (i + n > s.size()) return false;
  for (std::size_t k = i; k < i + n; ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
  }
  i += n;
  return true;
}

// ISO 8601 date and time: 2015-07-17T08:42:58.315+0000, ...Z, ...+02:00, seconds and zone
// optional, as PagerDuty's example and PD-CEF ("Timestamp (ISO 8601)") allow.
bool Iso8601(std::string_view s) {
  std::size_t i = 0;
  auto at = [&](char c) { return i < s.size() && s[i] == c ? (++i, true) : false; };
  if (!Digits(s, i, 4) || !at('-') || !Digits(s, i, 2) || !at('-') || !Digits(s, i, 2)) {
    return false;
  }
  if (!at('T') && !at('t') && !at(' ')) return false;
  if (!Digits(s, i, 2) || !at(':') || !Digits(s, i, 2)) return false;
  if (at(':')) {
    if (!Digits(s, i, 2)) return false;
    if (at('.') || at(',')) {
      std::size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      if (i == start) return false;
    }
  }
  if (at('Z') || at('z')) return i == s.size();
  if (at('+') || at('-')) {
    if (!Digits(s, i, 2)) return false;
    if (i == s.size()) return true;
    at(':');
    if (!Digits(s, i, 2)) return false;
  }
  return i == s.size();
}

server::Response InvalidEvent(const std::vector<std::string>& errors) {
  std::string body = R"({"status":"invalid event","message":"Event object is invalid","errors":[)";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) body += ',';
    body += core::JsonQuote(errors[i]);
  }
  body += "]}";
  return server::Response::Json(400, std::move(body));
}

server::Response CannedReply(int status) {
  switch (status) {
    case 202:
      return server::Response::Json(
          202, R"({"status":"success","message":"Event processed","dedup_key":""})");
    case 400:
      return InvalidEvent({});
    case 429:
      return server::Response::Json(
          429,
          R"({"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."})");
    default:
      return server::Response::Json(
          status, R"({"status":"error","message":"PagerDuty could not process the event"})");
  }
}

// Collects PagerDuty's error strings for one event.
class EventCheck {
 public:
  std::vector<std::string> errors;

  // An optional string member; returns whether it is a string and sets out.
  bool OptionalString(object o, std::string_view path, std::string_view key,
                      std::string_view& out) {
    element e;
    if (!Member(o, key, e)) return false;
    if (e.get(out) != simdjson::SUCCESS) {
      errors.push_back("'" + std::string(path) + "' must be a string, not " + TypeName(e));
      return false;
    }
    return true;
  }

  // A required, non-blank string member.
  bool RequiredString(object o, std::string_view path, std::string_view key,
                      std::string_view& out) {
    element e;
    if (!Member(o, key, e) || e.get(out) != simdjson::SUCCESS || out.empty()) {
      errors.push_back("'" + std::string(path) + "' is missing or blank");
      return false;
    }
    return true;
  }

  void Links(object event) {
    element e;
    if (!Member(event, "links", e)) return;
    array list;
    if (e.get(list) != simdjson::SUCCESS) {
      errors.push_back("'links' must be an array of objects");
      return;
    }
    std::size_t i = 0;
    for (element item : list) {
      std::string at = "links[" + std::to_string(i++) + "]";
      object link;
      std::string_view s;
      if (item.get(link) != simdjson::SUCCESS) {
        errors.push_back("'" + at + "' must be an object");
        continue;
      }
      RequiredString(link, at + ".href", "href", s);
      OptionalString(link, at + ".text", "text", s);
    }
  }

  void Images(object event) {
    element e;
    if (!Member(event, "images", e)) return;
    array list;
    if (e.get(list) != simdjson::SUCCESS) {
      errors.push_back("'images' must be an array of objects");
      return;
    }
    std::size_t i = 0;
    for (element item : list) {
      std::string at = "images[" + std::to_string(i++) + "]";
      object image;
      std::string_view s;
      if (item.get(image) != simdjson::SUCCESS) {
        errors.push_back("'" + at + "' must be an object");
        continue;
      }
      RequiredString(image, at + ".src", "src", s);
      OptionalString(image, at + ".href", "href", s);
      OptionalString(image, at + ".alt", "alt", s);
    }
  }

  void Payload(object event, Incident& trigger) {
    element e;
    object payload;
    if (!Member(event, "payload", e) || e.get(payload) != simdjson::SUCCESS) {
      errors.push_back("'payload' is missing or not an object");
      return;
    }
    std::string_view s;
    if (RequiredString(payload, "payload.summary", "summary", s)) {
      if (Characters(s) > kMaxSummary) {
        errors.push_back("'payload.summary' is " + std::to_string(Characters(s)) +
                         " characters; the maximum is 1024");
      }
      trigger.summary = s;
    }
    if (RequiredString(payload, "payload.source", "source", s)) trigger.source = s;
    if (RequiredString(payload, "payload.severity", "severity", s)) {
      if (s != "critical" && s != "error" && s != "warning" && s != "info") {
        errors.push_back(
            "'payload.severity' must be one of critical, error, warning or info, not '" +
            std::string(s) + "'");
      }
      trigger.severity = s;
    }
    if (OptionalString(payload, "payload.timestamp", "timestamp", s) && !Iso8601(s)) {
      errors.push_back("'payload.timestamp' is not an ISO 8601 date and time: '" + std::string(s) +
                       "'");
    }
    OptionalString(payload, "payload.component", "component", s);
    OptionalString(payload, "payload.group", "group", s);
    OptionalString(payload, "payload.class", "class", s);
    if (Member(payload, "custom_details", e) && !e.is_object()) {
      errors.push_back(std::string("'payload.custom_details' must be an object, not ") +
                       TypeName(e));
    }
  }
};

}  // namespace

FakePagerDuty::FakePagerDuty()
    : PeerServer(
          std::string(kPath),
          [this](const server::Request& r, bool process) { return Evaluate(r, process); },
          CannedReply) {}

Verdict FakePagerDuty::Evaluate(const server::Request& request, bool process) {
  EventCheck check;
  Incident trigger;
  std::string_view routing_key, action, dedup_key;
  bool has_dedup_key = false;

  simdjson::dom::parser parser;
  element root;
  object event;
  if (request.body.size() > kMaxBody) {
    check.errors.push_back("the event is " + std::to_string(request.body.size()) +
                           " bytes; Events API payloads are limited to 512 KB");
  } else if (auto err = parser.parse(request.body).get(root); err != simdjson::SUCCESS) {
    check.errors.push_back(std::string("the body is not valid JSON: ") +
                           simdjson::error_message(err));
  } else if (root.get(event) != simdjson::SUCCESS) {
    check.errors.push_back(std::string("the event must be a JSON object, not ") + TypeName(root));
  } else {
    if (check.RequiredString(event, "routing_key", "routing_key", routing_key) &&
        routing_key.size() != kRoutingKeyLength) {
      check.errors.push_back("Length of 'routing_key' is incorrect (should be 32 characters)");
    }
    if (check.RequiredString(event, "event_action", "event_action", action) &&
        action != "trigger" && action != "acknowledge" && action != "resolve") {
      check.errors.push_back(
          "'event_action' must be one of trigger, acknowledge or resolve, not '" +
          std::string(action) + "'");
    }
    has_dedup_key = check.OptionalString(event, "dedup_key", "dedup_key", dedup_key);
    if (has_dedup_key && Characters(dedup_key) > kMaxDedupKey) {
      check.errors.push_back("'dedup_key' is " + std::to_string(Characters(dedup_key)) +
                             " characters; the maximum is 255");
    }
    if ((action == "acknowledge" || action == "resolve") && (!has_dedup_key || dedup_key.empty())) {
      check.errors.push_back("'dedup_key' is required for " + std::string(action) + " events");
    }
    if (action == "trigger") {
      check.Payload(event, trigger);
      check.Images(event);
      check.Links(event);
      std::string_view s;
      check.OptionalString(event, "client", "client", s);
      check.OptionalString(event, "client_url", "client_url", s);
    }
  }

  Verdict v;
  if (!check.errors.empty()) {
    v.response = InvalidEvent(check.errors);
    v.problems = std::move(check.errors);
    return v;
  }
  if (process) {
    std::string key = Apply(routing_key, action, dedup_key, trigger);
    v.response = server::Response::Json(
        202, R"({"status":"success","message":"Event processed","dedup_key":)" +
                 core::JsonQuote(key) + "}");
  }
  return v;
}

std::string FakePagerDuty::Apply(std::string_view routing_key, std::string_view action,
                                 std::string_view dedup_key, const Incident& trigger) {
  std::lock_guard lock(mu_);
  std::string key(dedup_key);
  if (key.empty()) {
    // PagerDuty makes up a UUID; 32 hex digits, as it writes them.
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(random_()),
                  static_cast<unsigned long long>(random_()));
    key = hex;
  }
  Incident* open = Latest(key, routing_key);
  if (open != nullptr && open->state == IncidentState::kResolved) open = nullptr;
  if (action == "trigger") {
    if (open == nullptr) {
      open = &incidents_.emplace_back();
      open->routing_key = routing_key;
      open->dedup_key = key;
    }
    open->summary = trigger.summary;
    open->severity = trigger.severity;
    open->source = trigger.source;
    ++open->events;
  } else if (open != nullptr) {
    // Acknowledge or resolve apply only to an open alert under the same routing key; anything
    // else is accepted and dropped.
    open->state = action == "resolve" ? IncidentState::kResolved : IncidentState::kAcknowledged;
    ++open->events;
  }
  return key;
}

Incident* FakePagerDuty::Latest(std::string_view dedup_key, std::string_view routing_key) {
  for (auto it = incidents_.rbegin(); it != incidents_.rend(); ++it) {
    if (it->dedup_key == dedup_key && (routing_key.empty() || it->routing_key == routing_key)) {
      return &*it;
    }
  }
  return nullptr;
}

const Incident* FakePagerDuty::Latest(std::string_view dedup_key,
                                      std::string_view routing_key) const {
  return const_cast<FakePagerDuty*>(this)->Latest(dedup_key, routing_key);
}

std::optional<Incident> FakePagerDuty::Find(std::string_view dedup_key,
                                            std::string_view routing_key) const {
  std::lock_guard lock(mu_);
  const Incident* i = Latest(dedup_key, routing_key);
  if (i == nullptr) return std::nullopt;
  return *i;
}

bool FakePagerDuty::IsOpen(std::string_view dedup_key, std::string_view routing_key) const {
  auto i = Find(dedup_key, routing_key);
  return i && i->state != IncidentState::kResolved;
}

bool FakePagerDuty::IsResolved(std::string_view dedup_key, std::string_view routing_key) const {
  auto i = Find(dedup_key, routing_key);
  return i && i->state == IncidentState::kResolved;
}

std::vector<Incident> FakePagerDuty::Incidents() const {
  std::lock_guard lock(mu_);
  return incidents_;
}

std::vector<Incident> FakePagerDuty::OpenIncidents(std::string_view routing_key) const {
  std::lock_guard lock(mu_);
  std::vector<Incident> open;
  for (const Incident& i : incidents_) {
    if (i.routing_key == routing_key && i.state != IncidentState::kResolved) open.push_back(i);
  }
  return open;
}

}  // namespace obsgate::fakes
