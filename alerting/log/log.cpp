#include "alerting/log/log.hpp"

#include <utility>

#include "core/log.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {

std::string LogValues(const AlertSnapshot& a) {
  std::string out;
  for (const auto& [name, v] : a.values) {
    if (!out.empty()) out += ' ';
    out += name + "=" + FormatValue(name, v);
  }
  return out;
}

LogNotifier::LogNotifier(std::string name, const core::LogReceiverConfig&)
    : name_(std::move(name)) {}

Delivery LogNotifier::Deliver(const Notification& n, core::TimePoint) {
  for (const AlertSnapshot& a : n.alerts) {
    std::string_view summary = Label(a.annotations, "summary");
    if (summary.empty() && n.alerts.size() == 1) summary = Label(n.common_annotations, "summary");
    log::Info("alert notification", {{"receiver", name_},
                                     {"status", a.status},
                                     {"alertname", Label(a.labels, "alertname")},
                                     {"namespace", Label(a.labels, "namespace")},
                                     {"deployment", Label(a.labels, "deployment")},
                                     {"version", Label(a.labels, "version")},
                                     {"baseline_version", a.baseline_version},
                                     {"summary", summary},
                                     {"values", LogValues(a)},
                                     {"action", ActionText(a)},
                                     {"labels", LabelSetJson(a.labels)},
                                     {"starts_at", core::FormatRfc3339(a.starts_at)},
                                     {"fingerprint", a.fingerprint},
                                     {"group_key", n.group_key},
                                     {"notification", n.id}});
  }
  return Delivery::Delivered(0);
}

}  // namespace obsgate::alerting
