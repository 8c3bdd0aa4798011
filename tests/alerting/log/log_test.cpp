#include "alerting/log/log.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/alerting/sample_notification.hpp"

namespace obsgate::alerting {
namespace {

using testing::FiringAlert;
using testing::OneAlert;
using testing::Resolved;

std::vector<std::string> Lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"alert notification\"") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

std::string_view Str(simdjson::dom::element e) { return e.get_string().value(); }

TEST(LogValues, ListsEachMeasurementAsPeopleReadIt) {
  EXPECT_EQ(LogValues(FiringAlert()),
            "error_rate=5.23% requests=1234 errors=65 baseline.error_rate=0.1% p_value=1.2e-05");
}

TEST(LogNotifier, WritesOneLinePerAlertAndAlwaysDelivers) {
  LogNotifier notifier("log", core::LogReceiverConfig{});
  EXPECT_EQ(notifier.kind(), "log");
  EXPECT_EQ(notifier.name(), "log");
  Notification n = OneAlert();
  n.alerts.push_back(Resolved(FiringAlert("auth", "v3")));
  ::testing::internal::CaptureStdout();
  Delivery d = notifier.Deliver(n, testing::At("2024-01-15T10:00:31Z"));
  const std::vector<std::string> lines = Lines(::testing::internal::GetCapturedStdout());
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(lines.size(), 2u);

  simdjson::dom::parser parser;
  auto first = parser.parse(lines[0]).value();
  EXPECT_EQ(Str(first["level"]), "info");
  EXPECT_EQ(Str(first["receiver"]), "log");
  EXPECT_EQ(Str(first["status"]), "firing");
  EXPECT_EQ(Str(first["alertname"]), "ErrorRateAbove1Percent");
  EXPECT_EQ(Str(first["namespace"]), "prod");
  EXPECT_EQ(Str(first["deployment"]), "auth");
  EXPECT_EQ(Str(first["version"]), "v2");
  EXPECT_EQ(Str(first["baseline_version"]), "v1");
  EXPECT_EQ(Str(first["summary"]), "auth v2: 5.23% errors");
  EXPECT_EQ(Str(first["values"]),
            "error_rate=5.23% requests=1234 errors=65 baseline.error_rate=0.1% p_value=1.2e-05");
  EXPECT_EQ(Str(first["action"]), "Rolling back to v1");
  EXPECT_NE(Str(first["labels"]).find("\"severity\":\"critical\""), std::string_view::npos);

  simdjson::dom::parser parser2;
  auto second = parser2.parse(lines[1]).value();
  EXPECT_EQ(Str(second["status"]), "resolved");
  EXPECT_EQ(Str(second["version"]), "v3");
}

}  // namespace
}  // namespace obsgate::alerting
