#include "alerting/webhook/webhook.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "tests/alerting/sample_notification.hpp"
#include "tests/fakes/webhook.hpp"

namespace obsgate::alerting {
namespace {

using testing::FiringAlert;
using testing::OneAlert;
using testing::Resolved;

std::string_view Str(simdjson::dom::element e) { return e.get_string().value(); }

TEST(WebhookPayload, IsAlertmanagersVersion4FieldForField) {
  Notification n = OneAlert();
  n.alerts.push_back(Resolved(FiringAlert("auth", "v3")));
  n.truncated_alerts = 2;
  const std::string json = WebhookPayload(n, "team-hook", 0);
  // Alertmanager's member order, so byte-for-byte consumers and diffs see what they expect.
  EXPECT_EQ(
      json.rfind(R"({"receiver":"team-hook","status":"firing","alerts":[{"status":"firing",)", 0),
      0u)
      << json;
  simdjson::dom::parser parser;
  auto o = parser.parse(json).value();
  EXPECT_EQ(Str(o["version"]), "4");
  EXPECT_EQ(Str(o["groupKey"]), n.group_key);
  EXPECT_EQ(o["truncatedAlerts"].get_int64().value(), 2);
  EXPECT_EQ(Str(o["status"]), "firing");
  EXPECT_EQ(Str(o["receiver"]), "team-hook");
  EXPECT_EQ(Str(o["groupLabels"]["deployment"]), "auth");
  EXPECT_EQ(Str(o["commonLabels"]["alertname"]), "ErrorRateAbove1Percent");
  EXPECT_EQ(Str(o["commonAnnotations"]["summary"]), "auth v2: 5.23% errors");
  EXPECT_EQ(Str(o["externalURL"]), "https://obsgate.example.com");
  auto alerts = o["alerts"].get_array().value();
  ASSERT_EQ(alerts.size(), 2u);
  auto firing = alerts.at(0).value();
  EXPECT_EQ(Str(firing["status"]), "firing");
  EXPECT_EQ(Str(firing["labels"]["version"]), "v2");
  EXPECT_EQ(Str(firing["annotations"]["summary"]), "auth v2: 5.23% errors");
  EXPECT_EQ(Str(firing["startsAt"]), "2024-01-15T10:00:00.123Z");
  EXPECT_EQ(Str(firing["endsAt"]), "0001-01-01T00:00:00Z");
  EXPECT_EQ(Str(firing["generatorURL"]), "https://obsgate.example.com/api/v1/alerts");
  EXPECT_EQ(Str(firing["fingerprint"]), "8f3aauthv2");
  auto resolved = alerts.at(1).value();
  EXPECT_EQ(Str(resolved["status"]), "resolved");
  EXPECT_EQ(Str(resolved["endsAt"]), "2024-01-15T10:07:30.500Z");
}

TEST(WebhookPayload, ResolvedOnlyWhenEveryAlertIs) {
  simdjson::dom::parser parser;
  Notification n = OneAlert(Resolved(FiringAlert()));
  auto o = parser.parse(WebhookPayload(n, "r", 0)).value();
  EXPECT_EQ(Str(o["status"]), "resolved");
}

TEST(WebhookPayload, CutsToMaxAlertsAndCountsTheRest) {
  Notification n = OneAlert();
  for (int i = 0; i < 4; ++i) n.alerts.push_back(FiringAlert("svc" + std::to_string(i)));
  n.truncated_alerts = 1;
  simdjson::dom::parser parser;
  auto o = parser.parse(WebhookPayload(n, "r", 2)).value();
  EXPECT_EQ(o["alerts"].get_array().value().size(), 2u);
  EXPECT_EQ(o["truncatedAlerts"].get_int64().value(), 4);  // 3 cut here, 1 by the router
  auto all = parser.parse(WebhookPayload(n, "r", 0)).value();
  EXPECT_EQ(all["alerts"].get_array().value().size(), 5u);
  EXPECT_EQ(all["truncatedAlerts"].get_int64().value(), 1);
}

TEST(WebhookPayload, LeavesGeneratorUrlEmptyWithoutAnExternalUrl) {
  Notification n = OneAlert();
  n.external_url = "";
  simdjson::dom::parser parser;
  auto o = parser.parse(WebhookPayload(n, "r", 0)).value();
  EXPECT_EQ(Str(o["alerts"].at(0)["generatorURL"]), "");
  EXPECT_EQ(Str(o["externalURL"]), "");
}

class WebhookDelivery : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(hook_.Start().ok()); }

  std::unique_ptr<WebhookNotifier> Notifier(core::WebhookReceiverConfig config = {}) {
    config.url = hook_.url() + "?token=hook-secret-123";
    auto n = WebhookNotifier::Create("team-hook", std::move(config), nullptr);
    EXPECT_TRUE(n.ok()) << n.error();
    return std::move(n).value();
  }

  void ExpectNoSecret(const Delivery& d) {
    EXPECT_EQ(d.detail.find("hook-secret-123"), std::string::npos) << d.detail;
    EXPECT_EQ(d.detail.find("bearer-secret-456"), std::string::npos) << d.detail;
    EXPECT_EQ(d.detail.find(fakes::FakeWebhookReceiver::kDefaultPath), std::string::npos)
        << d.detail;
  }

  fakes::FakeWebhookReceiver hook_;
  const core::TimePoint now_ = testing::At("2024-01-15T10:00:31Z");
};

TEST_F(WebhookDelivery, DeliversAPayloadAnAlertmanagerReceiverAccepts) {
  core::WebhookReceiverConfig config;
  config.bearer_token = "bearer-secret-456";
  auto notifier = Notifier(config);
  EXPECT_EQ(notifier->kind(), "webhook");
  Notification n = OneAlert();
  n.alerts.push_back(Resolved(FiringAlert("auth", "v3")));
  Delivery d = notifier->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  EXPECT_EQ(d.status, 200);
  auto got = hook_.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].valid) << ::testing::PrintToString(got[0].problems);
  EXPECT_EQ(got[0].Header("Authorization"), "Bearer bearer-secret-456");
  EXPECT_EQ(got[0].body, WebhookPayload(n, "team-hook", 0));
}

TEST_F(WebhookDelivery, RefusedIsGivenUpWithTheReceiversWords) {
  core::WebhookReceiverConfig config;
  config.bearer_token = "bearer-secret-456";
  hook_.Script({fakes::Answer::BadRequest("alerts[0].labels must be an object of strings")});
  Delivery d = Notifier(config)->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.detail.find("labels must be an object"), std::string::npos) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(WebhookDelivery, ServerErrorIsRetried) {
  hook_.Script({fakes::Answer::ServerError(502)});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 502);
  ExpectNoSecret(d);
}

TEST_F(WebhookDelivery, HangIsRetriedAsATimeout) {
  core::WebhookReceiverConfig config;
  config.http.timeout = std::chrono::milliseconds(300);
  config.bearer_token = "bearer-secret-456";
  hook_.Script({fakes::Answer::Hang()});
  Delivery d = Notifier(config)->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 0);
  EXPECT_EQ(d.detail.rfind("timeout", 0), 0u) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(WebhookDelivery, MaxAlertsLimitsWhatIsSent) {
  core::WebhookReceiverConfig config;
  config.max_alerts = 1;
  Notification n = OneAlert();
  n.alerts.push_back(FiringAlert("auth", "v3"));
  EXPECT_EQ(Notifier(config)->Deliver(n, now_).outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(hook_.count(), 1u);
  simdjson::dom::parser parser;
  auto o = parser.parse(hook_.requests()[0].body).value();
  EXPECT_EQ(o["alerts"].get_array().value().size(), 1u);
  EXPECT_EQ(o["truncatedAlerts"].get_int64().value(), 1);
}

TEST_F(WebhookDelivery, ResolvedAlertsAreLeftOutWhenSendResolvedIsOff) {
  core::WebhookReceiverConfig config;
  config.send_resolved = false;
  auto notifier = Notifier(config);
  EXPECT_EQ(notifier->Deliver(OneAlert(Resolved(FiringAlert())), now_).outcome,
            Delivery::Outcome::kDelivered);
  EXPECT_EQ(hook_.count(), 0u);
}

TEST(WebhookNotifierCreate, NeverShowsTheUrl) {
  core::WebhookReceiverConfig config;
  config.url = "ftp://example.com/hook?token=hook-secret-123";
  auto n = WebhookNotifier::Create("h", config, nullptr);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().find("hook-secret-123"), std::string::npos) << n.error();
}

}  // namespace
}  // namespace obsgate::alerting
