#pragma once

#include <string>

#include "alerting/notification.hpp"
#include "core/time.hpp"

// The notifications the receiver tests send: the classic "error rate above 1%" on auth v2.
namespace obsgate::alerting::testing {

inline core::TimePoint At(std::string_view rfc3339) { return *core::ParseRfc3339(rfc3339); }

inline AlertSnapshot FiringAlert(std::string deployment = "auth", std::string version = "v2") {
  AlertSnapshot a;
  a.fingerprint = "8f3a" + deployment + version;
  a.status = "firing";
  a.labels = {{"alertname", "ErrorRateAbove1Percent"},
              {"namespace", "prod"},
              {"deployment", deployment},
              {"version", version},
              {"severity", "critical"}};
  a.annotations = {{"summary", deployment + " " + version + ": 5.23% errors"},
                   {"description", "Error rate above 1% for 30s, baseline v1 at 0.1%."}};
  a.starts_at = At("2024-01-15T10:00:00.123Z");
  a.values = {{"error_rate", 0.0523},
              {"requests", 1234},
              {"errors", 65},
              {"baseline.error_rate", 0.001},
              {"p_value", 0.000012}};
  a.baseline_version = "v1";
  a.action = "rollback";
  return a;
}

inline AlertSnapshot Resolved(AlertSnapshot a) {
  a.status = "resolved";
  a.ends_at = At("2024-01-15T10:07:30.500Z");
  return a;
}

inline Notification OneAlert(AlertSnapshot a = FiringAlert()) {
  Notification n;
  n.id = "n-1";
  n.receiver = "team";
  n.group_key = R"({}/{severity="critical"}:{deployment="auth"})";
  n.status = a.status;
  n.group_labels = {{"deployment", a.labels["deployment"]}};
  n.common_labels = a.labels;
  n.common_annotations = a.annotations;
  n.alerts.push_back(std::move(a));
  n.created_at = At("2024-01-15T10:00:31Z");
  n.external_url = "https://obsgate.example.com";
  return n;
}

}  // namespace obsgate::alerting::testing
