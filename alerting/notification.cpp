#include "alerting/notification.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "alerting/notifier.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {
namespace {

// RFC 3339 in UTC: milliseconds, as everywhere else, unless the time has a finer part, which is
// then written in full so the outbox gives back exactly what it was given.
std::string TimeText(core::TimePoint t) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  using std::chrono::nanoseconds;
  auto ms = std::chrono::floor<milliseconds>(t);
  std::string text = core::FormatRfc3339(ms);
  const auto finer = duration_cast<nanoseconds>(t - ms).count();  // [0, 1ms)
  if (finer != 0 && text.size() > 1) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(finer));
    text.insert(text.size() - 1, buf);
  }
  return text;
}

void AppendLabels(std::string& out, const LabelSet& labels) { out += LabelSetJson(labels); }

void AppendMember(std::string& out, std::string_view key, std::string_view json_value) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
  out += json_value;
}

using Object = simdjson::dom::object;

// Each reader leaves the field as it was when the key is absent, so older outbox entries read.
bool ReadString(const Object& o, const char* key, std::string& out, std::string& error) {
  simdjson::dom::element e;
  if (o[key].get(e)) return true;
  std::string_view s;
  if (e.get_string().get(s)) {
    error = std::string(key) + " must be a string";
    return false;
  }
  out.assign(s);
  return true;
}

bool ReadTime(const Object& o, const char* key, core::TimePoint& out, std::string& error) {
  std::string text;
  if (!ReadString(o, key, text, error)) return false;
  if (text.empty()) return true;
  auto t = core::ParseRfc3339(text);
  if (!t) {
    error = std::string(key) + " must be an RFC 3339 time";
    return false;
  }
  out = *t;
  return true;
}

bool ReadLabels(const Object& o, const char* key, LabelSet& out, std::string& error) {
  simdjson::dom::element e;
  if (o[key].get(e)) return true;
  Object labels;
  if (e.get_object().get(labels)) {
    error = std::string(key) + " must be an object of strings";
    return false;
  }
  for (auto field : labels) {
    std::string_view v;
    if (field.value.get_string().get(v)) {
      error = std::string(key) + "." + std::string(field.key) + " must be a string";
      return false;
    }
    out[std::string(field.key)] = std::string(v);
  }
  return true;
}

bool ReadAlert(simdjson::dom::element e, AlertSnapshot& a, std::string& error) {
  Object o;
  if (e.get_object().get(o)) {
    error = "each alert must be an object";
    return false;
  }
  if (!ReadString(o, "fingerprint", a.fingerprint, error) ||
      !ReadString(o, "status", a.status, error) || !ReadLabels(o, "labels", a.labels, error) ||
      !ReadLabels(o, "annotations", a.annotations, error) ||
      !ReadTime(o, "startsAt", a.starts_at, error) || !ReadTime(o, "endsAt", a.ends_at, error) ||
      !ReadString(o, "baselineVersion", a.baseline_version, error) ||
      !ReadString(o, "action", a.action, error)) {
    return false;
  }
  simdjson::dom::element values;
  if (!o["values"].get(values)) {
    Object vo;
    if (values.get_object().get(vo)) {
      error = "values must be an object of numbers";
      return false;
    }
    for (auto field : vo) {
      double v;
      if (field.value.is_null()) {
        v = std::numeric_limits<double>::quiet_NaN();  // JSON has no NaN; written as null
      } else if (field.value.get_double().get(v)) {
        error = "values." + std::string(field.key) + " must be a number";
        return false;
      }
      a.values.emplace_back(std::string(field.key), v);
    }
  }
  return true;
}

}  // namespace

std::string NotificationToJson(const Notification& n) {
  std::string out = "{";
  AppendMember(out, "id", core::JsonQuote(n.id));
  AppendMember(out, "receiver", core::JsonQuote(n.receiver));
  AppendMember(out, "groupKey", core::JsonQuote(n.group_key));
  AppendMember(out, "status", core::JsonQuote(n.status));
  std::string labels;
  AppendLabels(labels, n.group_labels);
  AppendMember(out, "groupLabels", labels);
  labels.clear();
  AppendLabels(labels, n.common_labels);
  AppendMember(out, "commonLabels", labels);
  labels.clear();
  AppendLabels(labels, n.common_annotations);
  AppendMember(out, "commonAnnotations", labels);
  AppendMember(out, "truncatedAlerts", std::to_string(n.truncated_alerts));
  AppendMember(out, "createdAt", core::JsonQuote(TimeText(n.created_at)));
  AppendMember(out, "externalURL", core::JsonQuote(n.external_url));
  out += ",\"alerts\":[";
  for (std::size_t i = 0; i < n.alerts.size(); ++i) {
    const AlertSnapshot& a = n.alerts[i];
    if (i) out += ',';
    out += '{';
    AppendMember(out, "fingerprint", core::JsonQuote(a.fingerprint));
    AppendMember(out, "status", core::JsonQuote(a.status));
    labels.clear();
    AppendLabels(labels, a.labels);
    AppendMember(out, "labels", labels);
    labels.clear();
    AppendLabels(labels, a.annotations);
    AppendMember(out, "annotations", labels);
    AppendMember(out, "startsAt", core::JsonQuote(TimeText(a.starts_at)));
    AppendMember(out, "endsAt", core::JsonQuote(TimeText(a.ends_at)));
    std::string values = "{";
    for (const auto& [name, v] : a.values) {
      if (values.size() > 1) values += ',';
      values += core::JsonQuote(name);
      values += ':';
      values += core::JsonNumber(v);
    }
    values += '}';
    AppendMember(out, "values", values);
    AppendMember(out, "baselineVersion", core::JsonQuote(a.baseline_version));
    AppendMember(out, "action", core::JsonQuote(a.action));
    out += '}';
  }
  out += "]}";
  return out;
}

core::Result<Notification> NotificationFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  Object o;
  if (parser.parse(json.data(), json.size(), true).get(doc) || doc.get_object().get(o)) {
    return core::Error{"the notification is not a JSON object"};
  }
  Notification n;
  std::string error;
  if (!ReadString(o, "id", n.id, error) || !ReadString(o, "receiver", n.receiver, error) ||
      !ReadString(o, "groupKey", n.group_key, error) || !ReadString(o, "status", n.status, error) ||
      !ReadLabels(o, "groupLabels", n.group_labels, error) ||
      !ReadLabels(o, "commonLabels", n.common_labels, error) ||
      !ReadLabels(o, "commonAnnotations", n.common_annotations, error) ||
      !ReadTime(o, "createdAt", n.created_at, error) ||
      !ReadString(o, "externalURL", n.external_url, error)) {
    return core::Error{"notification: " + error};
  }
  simdjson::dom::element e;
  if (!o["truncatedAlerts"].get(e)) {
    std::int64_t t;
    if (e.get_int64().get(t) || t < 0 || t > std::numeric_limits<int>::max()) {
      return core::Error{"notification: truncatedAlerts must be a count"};
    }
    n.truncated_alerts = static_cast<int>(t);
  }
  if (!o["alerts"].get(e)) {
    simdjson::dom::array alerts;
    if (e.get_array().get(alerts)) return core::Error{"notification: alerts must be a list"};
    for (auto item : alerts) {
      AlertSnapshot a;
      if (!ReadAlert(item, a, error)) return core::Error{"notification: alert: " + error};
      n.alerts.push_back(std::move(a));
    }
  }
  return n;
}

std::string FormatPercent(double fraction) {
  if (!std::isfinite(fraction)) return "n/a";
  const double p = fraction * 100;
  if (p == 0) return "0%";
  const double mag = std::fabs(p);
  // Two decimals from 1% up; below, three significant digits so 0.0123% stays readable, down to
  // a millionth of a percent.
  int decimals = 2;
  if (mag < 1) decimals = std::min(6, 2 - static_cast<int>(std::floor(std::log10(mag))));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, p);
  std::string text = buf;
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  if (text == "0" || text == "-0") return p > 0 ? "<0.000001%" : ">-0.000001%";
  return text + "%";
}

std::string LabelSetJson(const LabelSet& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += core::JsonQuote(k);
    out += ':';
    out += core::JsonQuote(v);
  }
  out += '}';
  return out;
}

std::string FormatValue(std::string_view name, double value) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with("rate") || ends_with("ratio")) return FormatPercent(value);
  if (!std::isfinite(value)) return "n/a";
  char buf[64];
  // Counts over windows that start inside a coarse bucket are interpolated; people read counts
  // as whole numbers.
  if ((ends_with("requests") || ends_with("errors") || ends_with("lines")) &&
      std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", std::round(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", value);
  }
  return buf;
}

std::string ActionText(const AlertSnapshot& a) {
  if (a.action.empty()) return "Notify only";
  if (a.action == "rollback") {
    // Once resolved, the rollback is history: its outcome is announced as ObsgateRollback.
    if (a.status == "resolved") return "Rollback asked for when it fired";
    return a.baseline_version.empty() ? "Rolling back" : "Rolling back to " + a.baseline_version;
  }
  std::string text = a.action;
  if (text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 'a' + 'A');
  return text;
}

std::string_view Label(const LabelSet& labels, std::string_view name) {
  auto it = labels.find(std::string(name));
  return it == labels.end() ? std::string_view() : std::string_view(it->second);
}

Notification FiringOnly(const Notification& n) {
  Notification out = n;
  std::erase_if(out.alerts, [](const AlertSnapshot& a) { return a.status == "resolved"; });
  out.status = out.alerts.empty() ? "resolved" : "firing";
  return out;
}

std::string GeneratorUrl(const Notification& n) {
  std::string_view base = n.external_url;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return base.empty() ? std::string() : std::string(base) + "/api/v1/alerts";
}

std::string_view UrlPath(std::string_view url) {
  const auto scheme = url.find("://");
  const auto slash = url.find_first_of("/?#", scheme == std::string_view::npos ? 0 : scheme + 3);
  if (slash == std::string_view::npos || url.substr(slash) == "/") return {};
  return url.substr(slash);
}

const double* FindValue(const AlertSnapshot& a, std::string_view name) {
  for (const auto& [k, v] : a.values) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string Truncate(std::string_view text, std::size_t max_bytes, std::string_view marker) {
  if (text.size() <= max_bytes) return std::string(text);
  // A marker that does not fit is left out rather than breaking the bound.
  if (marker.size() > max_bytes) marker = {};
  std::size_t keep = max_bytes - marker.size();
  // Back off to the first byte of a UTF-8 sequence, so no character is cut in two.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  std::string out(text.substr(0, keep));
  out += marker;
  return out;
}

const char* OutcomeName(Delivery::Outcome o) {
  switch (o) {
    case Delivery::Outcome::kDelivered:
      return "delivered";
    case Delivery::Outcome::kRetry:
      return "retry";
    case Delivery::Outcome::kGiveUp:
      return "failed";
  }
  return "unknown";
}

std::optional<core::Duration> ParseRetryAfter(std::string_view value, core::TimePoint now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::nullopt;  // over 30 years: not a real answer
    return std::chrono::seconds(std::stoll(std::string(value)));
  }
  // IMF-fixdate, the one HTTP-date form senders must use: "Sun, 06 Nov 1994 08:49:37 GMT".
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (value.size() != 29 || value.substr(3, 2) != ", " || value.substr(25) != " GMT") {
    return std::nullopt;
  }
  int month = 0;
  while (month < 12 && kMonths[month] != value.substr(8, 3)) ++month;
  if (month == 12) return std::nullopt;
  char iso[32];
  std::snprintf(iso, sizeof iso, "%.4s-%02d-%.2sT%.8sZ", value.data() + 12, month + 1,
                value.data() + 5, value.data() + 17);
  auto t = core::ParseRfc3339(iso);
  if (!t) return std::nullopt;
  if (*t <= now) return core::Duration{0};
  return std::chrono::ceil<core::Duration>(*t - now);
}

namespace {

std::string_view Hint(int status) {
  if (status == 429) return "the peer is rate-limiting; the delivery is retried later";
  if (status >= 500 || status == 408 || status == 425) return "the delivery is retried later";
  if (status == 401 || status == 403) {
    return "check the receiver's credentials (token, routing key, webhook URL)";
  }
  if (status == 404 || status == 410) {
    return "check the receiver's URL; the webhook or integration may have been removed";
  }
  return "the peer refused the message for good; check the receiver's configuration";
}

}  // namespace

Delivery DeliveryForStatus(std::string_view peer, int status, std::string_view retry_after,
                           std::string_view words, core::TimePoint now) {
  if (status >= 200 && status < 300) return Delivery::Delivered(status);
  std::string detail = std::string(peer) + " answered " + std::to_string(status);
  if (!words.empty()) detail += ": " + Truncate(words, 512);
  detail += "; ";
  detail += Hint(status);
  if (status == 408 || status == 425 || status == 429 || status >= 500) {
    return Delivery::Retry(std::move(detail), status, ParseRetryAfter(retry_after, now));
  }
  return Delivery::GiveUp(std::move(detail), status);
}

Delivery DeliveryForFailure(std::string_view peer, std::string_view reason,
                            std::string_view error) {
  std::string detail =
      std::string(reason.empty() ? "error" : reason) + ": " + std::string(peer) + " did not answer";
  if (!error.empty()) detail += " (" + Truncate(error, 512) + ")";
  if (reason == "request") {
    return Delivery::GiveUp(detail + "; the request cannot be sent; check the receiver's headers");
  }
  return Delivery::Retry(detail + "; the delivery is retried later");
}

std::string Redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + std::string_view("<secret>").size())) {
      text.replace(at, secret.size(), "<secret>");
    }
  }
  return text;
}

}  // namespace obsgate::alerting
