#include "alerting/alertmanager/alertmanager.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "tests/alerting/sample_notification.hpp"
#include "tests/fakes/webhook.hpp"

namespace obsgate::alerting {
namespace {

using testing::At;
using testing::FiringAlert;
using testing::OneAlert;
using testing::Resolved;

std::string_view Str(simdjson::dom::element e) { return e.get_string().value(); }

TEST(AlertmanagerAlerts, WritesPostableAlerts) {
  Notification n = OneAlert();
  n.alerts.push_back(Resolved(FiringAlert("auth", "v3")));
  const core::TimePoint now = At("2024-01-15T10:00:31Z");
  simdjson::dom::parser parser;
  auto list = parser.parse(AlertmanagerAlerts(n, now, std::chrono::minutes(1))).get_array().value();
  ASSERT_EQ(list.size(), 2u);
  auto firing = list.at(0).value();
  EXPECT_EQ(Str(firing["labels"]["alertname"]), "ErrorRateAbove1Percent");
  EXPECT_EQ(Str(firing["labels"]["version"]), "v2");
  EXPECT_EQ(Str(firing["labels"]["severity"]), "critical");
  EXPECT_EQ(Str(firing["annotations"]["summary"]), "auth v2: 5.23% errors");
  EXPECT_EQ(Str(firing["startsAt"]), "2024-01-15T10:00:00.123Z");
  // Prometheus's rule: valid for four resend intervals.
  EXPECT_EQ(Str(firing["endsAt"]), "2024-01-15T10:04:31.000Z");
  EXPECT_EQ(Str(firing["generatorURL"]), "https://obsgate.example.com/api/v1/alerts");
  auto resolved = list.at(1).value();
  EXPECT_EQ(Str(resolved["labels"]["version"]), "v3");
  EXPECT_EQ(Str(resolved["endsAt"]), "2024-01-15T10:07:30.500Z");
  // Only postableAlert's members.
  simdjson::dom::object members = firing.get_object().value();
  for (auto field : members) {
    EXPECT_TRUE(field.key == "labels" || field.key == "annotations" || field.key == "startsAt" ||
                field.key == "endsAt" || field.key == "generatorURL")
        << field.key;
  }
}

TEST(AlertmanagerAlerts, EndsAtFollowsTheResendInterval) {
  const Notification n = OneAlert();
  const core::TimePoint now = At("2024-01-15T10:00:00Z");
  simdjson::dom::parser parser;
  auto a = parser.parse(AlertmanagerAlerts(n, now, std::chrono::seconds(30))).at(0).value();
  EXPECT_EQ(Str(a["endsAt"]), "2024-01-15T10:02:00.000Z");
}

TEST(AlertmanagerAlerts, LeavesOutEmptyLabelsAndAMissingGeneratorUrl) {
  AlertSnapshot a = FiringAlert();
  a.labels["team"] = "";
  Notification n = OneAlert(a);
  n.external_url = "";
  simdjson::dom::parser parser;
  auto alert = parser.parse(AlertmanagerAlerts(n, At("2024-01-15T10:00:00Z"), {})).at(0).value();
  simdjson::dom::element e;
  EXPECT_NE(alert["labels"]["team"].get(e), simdjson::SUCCESS);
  EXPECT_NE(alert["generatorURL"].get(e), simdjson::SUCCESS);
}

TEST(AlertmanagerAlerts, ResolvedWithoutAnEndEndsNow) {
  AlertSnapshot a = Resolved(FiringAlert());
  a.ends_at = {};
  simdjson::dom::parser parser;
  auto alert =
      parser.parse(AlertmanagerAlerts(OneAlert(a), At("2024-01-15T10:09:00Z"), {})).at(0).value();
  EXPECT_EQ(Str(alert["endsAt"]), "2024-01-15T10:09:00.000Z");
}

// The cluster logic against two stand-ins answering as scripted (the real Alertmanager is
// exercised by the integration tests).
class AlertmanagerCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* am : {&a_, &b_}) {
      ASSERT_TRUE(am->Start().ok());
      am->SetDefault(fakes::Answer{200, "", "", false});
    }
  }

  std::unique_ptr<AlertmanagerNotifier> Notifier() {
    core::AlertmanagerReceiverConfig config;
    config.urls = {Base(a_), Base(b_) + "/"};
    config.bearer_token = "am-token-secret";
    config.http.timeout = std::chrono::milliseconds(500);
    auto n = AlertmanagerNotifier::Create("am", std::move(config), nullptr);
    EXPECT_TRUE(n.ok()) << n.error();
    return std::move(n).value();
  }

  static std::string Base(const fakes::PeerServer& s) {
    return "http://127.0.0.1:" + std::to_string(s.port());
  }

  fakes::FakeWebhookReceiver a_{"/api/v2/alerts"};
  fakes::FakeWebhookReceiver b_{"/api/v2/alerts"};
  const core::TimePoint now_ = At("2024-01-15T10:00:31Z");
};

TEST_F(AlertmanagerCluster, PostsToEveryAlertmanager) {
  auto notifier = Notifier();
  EXPECT_EQ(notifier->kind(), "alertmanager");
  EXPECT_EQ(notifier->resend_interval(), std::chrono::minutes(1));
  Delivery d = notifier->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  ASSERT_EQ(a_.count(), 1u);
  ASSERT_EQ(b_.count(), 1u);
  EXPECT_EQ(a_.requests()[0].path, "/api/v2/alerts");
  EXPECT_EQ(b_.requests()[0].path, "/api/v2/alerts");
  EXPECT_EQ(a_.requests()[0].Header("Authorization"), "Bearer am-token-secret");
  EXPECT_EQ(a_.requests()[0].body, AlertmanagerAlerts(OneAlert(), now_, std::chrono::minutes(1)));
}

TEST_F(AlertmanagerCluster, OneAcceptingIsEnough) {
  a_.Script({fakes::Answer::ServerError(503)});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered);
  EXPECT_NE(d.detail.find("accepted by 1 of 2"), std::string::npos) << d.detail;
}

TEST_F(AlertmanagerCluster, RetriedWhenNoneAcceptsAndOneMayRecover) {
  a_.Script({fakes::Answer::BadRequest("bad alert")});
  b_.Script({fakes::Answer{503, "4", "", false}});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 503);
  EXPECT_EQ(d.retry_after, std::chrono::seconds(4));
  EXPECT_EQ(d.detail.find("am-token-secret"), std::string::npos) << d.detail;
}

TEST_F(AlertmanagerCluster, GivenUpWhenEveryAlertmanagerRefuses) {
  a_.Script({fakes::Answer::BadRequest("maxItems")});
  b_.Script({fakes::Answer::BadRequest("maxItems")});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.detail.find("maxItems"), std::string::npos) << d.detail;
}

TEST_F(AlertmanagerCluster, TimeOutIsRetried) {
  a_.Script({fakes::Answer::Hang()});
  b_.Script({fakes::Answer::Hang()});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.detail.rfind("timeout", 0), 0u) << d.detail;
}

TEST(AlertmanagerNotifierCreate, NeedsAUrl) {
  auto n = AlertmanagerNotifier::Create("am", {}, nullptr);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().find("at least one URL"), std::string::npos);
}

}  // namespace
}  // namespace obsgate::alerting
