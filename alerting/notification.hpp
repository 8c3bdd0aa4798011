#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace obsgate::alerting {

// Sorted by name, as Alertmanager keeps label sets.
using LabelSet = std::map<std::string, std::string>;

// One alert as a notification carries it: Alertmanager's alert fields, plus the numbers the rule
// measured so receivers can show them.
struct AlertSnapshot {
  std::string fingerprint;
  std::string status;    // "firing" or "resolved"
  LabelSet labels;       // alertname, namespace, deployment, version, severity, ...
  LabelSet annotations;  // summary, description
  core::TimePoint starts_at;
  core::TimePoint ends_at;  // the epoch while firing
  // What the rule measured when it last held, in the rule engine's names: error_rate, requests,
  // errors, baseline.error_rate, p_value, ... (ratios as fractions, not percent).
  std::vector<std::pair<std::string, double>> values;
  std::string baseline_version;  // empty when there is none
  // What obsgate does about it: "" (notify only), "rollback" (the rule asks for one), or a
  // sentence from the rollback component ("rolled back to v1", "would roll back (dry run)").
  std::string action;

  bool operator==(const AlertSnapshot&) const = default;
};

// One message for one receiver about one group of alerts, in Alertmanager's terms.
struct Notification {
  std::string id;        // unique; the outbox's key for it
  std::string receiver;  // the receiver's name in the configuration
  std::string
      group_key;       // stable per route and group: {}/{severity="critical"}:{deployment="auth"}
  std::string status;  // "firing" when any alert fires, else "resolved"
  LabelSet group_labels;
  LabelSet common_labels;
  LabelSet common_annotations;
  std::vector<AlertSnapshot> alerts;  // firing first, then resolved
  int truncated_alerts = 0;           // left out because of a receiver's max_alerts
  core::TimePoint created_at;
  std::string external_url;  // where obsgate's API can be reached, for links; may be empty

  bool operator==(const Notification&) const = default;
};

// The outbox's form: one JSON object, and back. Bad input gives an error, never a throw.
std::string NotificationToJson(const Notification& n);
core::Result<Notification> NotificationFromJson(std::string_view json);

// Helpers receivers share.
std::string FormatPercent(double fraction);  // 0.0523 -> "5.23%"
// The value of a measurement, or nullptr.
const double* FindValue(const AlertSnapshot& a, std::string_view name);
// A measurement as people read it: ratios (names ending in "rate" or "ratio") in percent, counts
// (requests, errors) as integers, a p-value and anything else to 3 significant digits.
std::string FormatValue(std::string_view name, double value);
// What obsgate does about the alert, as a sentence: "Notify only", "Rolling back to v1", or the
// rollback component's own words.
std::string ActionText(const AlertSnapshot& a);
// The label's value, or "" when the alert has none.
std::string_view Label(const LabelSet& labels, std::string_view name);
// The notification as a receiver with send_resolved off sees it: resolved alerts left out, the
// status recomputed; no alerts at all when none fires, and then nothing is sent.
Notification FiringOnly(const Notification& n);

// Where a person can see the alert, as Alertmanager's generatorURL: obsgate's alerts API under
// the external URL; "" when there is none.
std::string GeneratorUrl(const Notification& n);
// The path and query of an http(s) URL, where webhook URLs carry their secret; "" for none or "/".
std::string_view UrlPath(std::string_view url);

// {"name":"value",...} in the set's order (sorted by name), as Alertmanager writes label sets.
std::string LabelSetJson(const LabelSet& labels);
// At most `max_bytes` of UTF-8, cut on a character boundary, ending in `marker` when cut.
std::string Truncate(std::string_view text, std::size_t max_bytes, std::string_view marker = "…");

}  // namespace obsgate::alerting
