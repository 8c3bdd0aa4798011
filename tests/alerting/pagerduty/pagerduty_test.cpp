#include "alerting/pagerduty/pagerduty.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "tests/alerting/sample_notification.hpp"
#include "tests/fakes/pagerduty.hpp"

namespace obsgate::alerting {
namespace {

using testing::FiringAlert;
using testing::OneAlert;
using testing::Resolved;

// An integration key has 32 characters.
constexpr std::string_view kRoutingKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY01";

core::PagerDutyReceiverConfig Config() {
  core::PagerDutyReceiverConfig c;
  c.routing_key = std::string(kRoutingKey);
  return c;
}

std::size_t Characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string_view Str(simdjson::dom::element e) { return e.get_string().value(); }

TEST(PagerDutyEvent, TriggersWithEveryFieldPagerDutyShows) {
  simdjson::dom::parser parser;
  const Notification n = OneAlert();
  const std::string json = PagerDutyEvent(n, n.alerts[0], Config());
  simdjson::dom::element e = parser.parse(json).value();
  EXPECT_EQ(Str(e["routing_key"]), kRoutingKey);
  EXPECT_EQ(Str(e["event_action"]), "trigger");
  EXPECT_EQ(Str(e["dedup_key"]), PagerDutyDedupKey(n, n.alerts[0]));
  auto p = e["payload"];
  EXPECT_EQ(Str(p["summary"]), "auth v2: 5.23% errors");
  EXPECT_EQ(Str(p["source"]), "prod/auth");
  EXPECT_EQ(Str(p["severity"]), "critical");
  EXPECT_EQ(Str(p["timestamp"]), "2024-01-15T10:00:00.123Z");
  EXPECT_EQ(Str(p["component"]), "auth");
  EXPECT_EQ(Str(p["group"]), "prod");
  EXPECT_EQ(Str(p["class"]), "ErrorRateAbove1Percent");
  auto d = p["custom_details"];
  EXPECT_EQ(Str(d["error_rate"]), "5.23%");
  EXPECT_EQ(Str(d["requests"]), "1234");
  EXPECT_EQ(Str(d["errors"]), "65");
  EXPECT_EQ(Str(d["baseline.error_rate"]), "0.1%");
  EXPECT_EQ(Str(d["p_value"]), "1.2e-05");
  EXPECT_EQ(Str(d["version"]), "v2");
  EXPECT_EQ(Str(d["baseline_version"]), "v1");
  EXPECT_EQ(Str(d["action"]), "Rolling back to v1");
  EXPECT_EQ(Str(d["labels"]["severity"]), "critical");
  EXPECT_EQ(Str(e["links"].at(0)["href"]), "https://obsgate.example.com");
  EXPECT_EQ(Str(e["client"]), "obsgate");
  EXPECT_EQ(Str(e["client_url"]), "https://obsgate.example.com");
}

TEST(PagerDutyEvent, UsesTheConfiguredSourceAndClientUrl) {
  simdjson::dom::parser parser;
  core::PagerDutyReceiverConfig config = Config();
  config.source = "obsgate-eu";
  config.client_url = "https://grafana.example.com";
  const Notification n = OneAlert();
  simdjson::dom::element e = parser.parse(PagerDutyEvent(n, n.alerts[0], config)).value();
  EXPECT_EQ(Str(e["payload"]["source"]), "obsgate-eu");
  EXPECT_EQ(Str(e["client_url"]), "https://grafana.example.com");
}

TEST(PagerDutyEvent, ResolvesWithTheSameKeys) {
  simdjson::dom::parser p1, p2;
  const Notification firing = OneAlert();
  Notification resolved = OneAlert(Resolved(FiringAlert()));
  resolved.id = "n-2";
  resolved.created_at = testing::At("2024-01-15T10:08:00Z");
  auto t = p1.parse(PagerDutyEvent(firing, firing.alerts[0], Config())).value();
  auto r = p2.parse(PagerDutyEvent(resolved, resolved.alerts[0], Config())).value();
  EXPECT_EQ(Str(r["event_action"]), "resolve");
  EXPECT_EQ(Str(r["dedup_key"]), Str(t["dedup_key"]));
  EXPECT_EQ(Str(r["routing_key"]), Str(t["routing_key"]));
  simdjson::dom::element none;
  EXPECT_NE(r["payload"].get(none), simdjson::SUCCESS);
}

TEST(PagerDutyDedupKey, IsStablePerAlertAndGroup) {
  const Notification n = OneAlert();
  const std::string key = PagerDutyDedupKey(n, n.alerts[0]);
  EXPECT_EQ(key, PagerDutyDedupKey(n, n.alerts[0]));
  EXPECT_LE(key.size(), 255u);
  // Another alert, or the same alert through another route, is another incident.
  EXPECT_NE(key, PagerDutyDedupKey(n, FiringAlert("auth", "v3")));
  Notification other_route = n;
  other_route.group_key = R"({}/{team="payments"}:{deployment="auth"})";
  EXPECT_NE(key, PagerDutyDedupKey(other_route, n.alerts[0]));
  // Not a hash of anything that changes between notifications.
  Notification later = n;
  later.id = "n-9";
  later.created_at = testing::At("2024-01-15T11:00:00Z");
  later.alerts[0].values = {{"error_rate", 0.2}};
  EXPECT_EQ(key, PagerDutyDedupKey(later, later.alerts[0]));
}

TEST(PagerDutyDedupKey, StaysWithin255CharactersForLongFingerprints) {
  Notification n = OneAlert();
  n.alerts[0].fingerprint = std::string(400, 'f');
  const std::string key = PagerDutyDedupKey(n, n.alerts[0]);
  EXPECT_LE(key.size(), 255u);
  Notification m = n;
  m.alerts[0].fingerprint = std::string(399, 'f') + "g";
  EXPECT_NE(key, PagerDutyDedupKey(m, m.alerts[0]));
}

TEST(PagerDutyEvent, CutsTheSummaryTo1024CharactersWithAMarker) {
  simdjson::dom::parser parser;
  AlertSnapshot a = FiringAlert();
  a.annotations["summary"] = std::string(1000, 'x') + std::string(100, 'e') + "ü";
  const Notification n = OneAlert(a);
  auto e = parser.parse(PagerDutyEvent(n, n.alerts[0], Config())).value();
  std::string_view summary = Str(e["payload"]["summary"]);
  EXPECT_LE(Characters(summary), 1024u);
  EXPECT_EQ(summary.substr(summary.size() - 3), "…");
  EXPECT_EQ(summary.substr(0, 1000), std::string(1000, 'x'));
}

TEST(PagerDutyEvent, MakesASummaryWhenTheRuleHasNone) {
  simdjson::dom::parser parser;
  AlertSnapshot a = FiringAlert();
  a.annotations.clear();
  Notification n = OneAlert(a);
  auto e = parser.parse(PagerDutyEvent(n, n.alerts[0], Config())).value();
  EXPECT_EQ(Str(e["payload"]["summary"]),
            "ErrorRateAbove1Percent on prod/auth v2: error rate 5.23%");
}

TEST(PagerDutySeverity, MapsCommonLabelValues) {
  EXPECT_EQ(PagerDutySeverity("critical"), "critical");
  EXPECT_EQ(PagerDutySeverity("Critical"), "critical");
  EXPECT_EQ(PagerDutySeverity("page"), "critical");
  EXPECT_EQ(PagerDutySeverity("P1"), "critical");
  EXPECT_EQ(PagerDutySeverity("error"), "error");
  EXPECT_EQ(PagerDutySeverity("major"), "error");
  EXPECT_EQ(PagerDutySeverity("warning"), "warning");
  EXPECT_EQ(PagerDutySeverity("warn"), "warning");
  EXPECT_EQ(PagerDutySeverity("info"), "info");
  EXPECT_EQ(PagerDutySeverity("low"), "info");
  EXPECT_EQ(PagerDutySeverity(""), "error");
  EXPECT_EQ(PagerDutySeverity("bananas"), "error");
}

class PagerDutyDelivery : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pd_.Start().ok()); }

  std::unique_ptr<PagerDutyNotifier> Notifier(core::PagerDutyReceiverConfig config = Config()) {
    config.url = pd_.url();
    auto n = PagerDutyNotifier::Create("oncall", std::move(config), nullptr);
    EXPECT_TRUE(n.ok()) << n.error();
    return std::move(n).value();
  }

  void ExpectNoSecret(const Delivery& d, std::string_view key = kRoutingKey) {
    EXPECT_EQ(d.detail.find(key), std::string::npos) << d.detail;
  }

  fakes::FakePagerDuty pd_;
  const core::TimePoint now_ = testing::At("2024-01-15T10:00:31Z");
};

TEST_F(PagerDutyDelivery, TriggerOpensAnIncidentAndResolveClosesIt) {
  auto notifier = Notifier();
  EXPECT_EQ(notifier->kind(), "pagerduty");
  const Notification firing = OneAlert();
  Delivery d = notifier->Deliver(firing, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  EXPECT_EQ(d.status, 202);
  auto got = pd_.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].valid) << ::testing::PrintToString(got[0].problems);
  const std::string key = PagerDutyDedupKey(firing, firing.alerts[0]);
  auto incident = pd_.Find(key, kRoutingKey);
  ASSERT_TRUE(incident.has_value());
  EXPECT_TRUE(pd_.IsOpen(key, kRoutingKey));
  EXPECT_EQ(incident->summary, "auth v2: 5.23% errors");
  EXPECT_EQ(incident->severity, "critical");
  EXPECT_EQ(incident->source, "prod/auth");

  d = notifier->Deliver(OneAlert(Resolved(FiringAlert())), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  EXPECT_TRUE(pd_.IsResolved(key, kRoutingKey));
  EXPECT_EQ(pd_.Incidents().size(), 1u);
  EXPECT_TRUE(pd_.requests()[1].valid);
}

TEST_F(PagerDutyDelivery, SendsOneEventPerAlertInOrder) {
  Notification n = OneAlert();
  n.alerts.push_back(FiringAlert("auth", "v3"));
  n.alerts.push_back(Resolved(FiringAlert("billing", "v7")));
  Delivery d = Notifier()->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  auto got = pd_.requests();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) EXPECT_TRUE(r.valid) << ::testing::PrintToString(r.problems);
  EXPECT_EQ(pd_.OpenIncidents(kRoutingKey).size(), 2u);
  EXPECT_NE(got[2].body.find("\"resolve\""), std::string::npos);
}

TEST_F(PagerDutyDelivery, ServerErrorPartWayRetriesAndTheResendDoesNotDuplicate) {
  Notification n = OneAlert();
  n.alerts.push_back(FiringAlert("auth", "v3"));
  n.alerts.push_back(FiringAlert("auth", "v4"));
  auto notifier = Notifier();
  pd_.Script({fakes::Answer::Ok(), fakes::Answer::ServerError(500)});
  Delivery d = notifier->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 500);
  EXPECT_EQ(d.retry_after, std::nullopt);
  EXPECT_EQ(pd_.count(), 2u);  // the third waits for the retry
  ExpectNoSecret(d);

  d = notifier->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  EXPECT_EQ(pd_.OpenIncidents(kRoutingKey).size(), 3u);
  EXPECT_EQ(pd_.Incidents().size(), 3u);
}

TEST_F(PagerDutyDelivery, ThrottledIsRetriedWithRetryAfterOnlyWhenSent) {
  auto notifier = Notifier();
  pd_.Script({fakes::Answer{429, "", "", false}, fakes::Answer::TooMany("3")});
  Delivery d = notifier->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.retry_after, std::nullopt);
  d = notifier->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.retry_after, std::chrono::seconds(3));
}

TEST_F(PagerDutyDelivery, RefusedEventIsGivenUpWithPagerDutysErrors) {
  pd_.Script({fakes::Answer::BadRequest(
      R"({"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]})")});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.detail.find("Event object is invalid; 'payload.summary' is missing or blank"),
            std::string::npos)
      << d.detail;
  ExpectNoSecret(d);
}

TEST_F(PagerDutyDelivery, WrongRoutingKeyIsGivenUpWithoutShowingIt) {
  core::PagerDutyReceiverConfig config = Config();
  config.routing_key = "short-secret-key";
  Delivery d = Notifier(config)->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_NE(d.detail.find("routing_key"), std::string::npos) << d.detail;
  ExpectNoSecret(d, "short-secret-key");
}

TEST_F(PagerDutyDelivery, OneRefusedEventDoesNotHoldBackTheOthers) {
  Notification n = OneAlert();
  n.alerts.push_back(FiringAlert("auth", "v3"));
  n.alerts.push_back(FiringAlert("auth", "v4"));
  pd_.Script({fakes::Answer::Ok(), fakes::Answer::BadRequest()});
  Delivery d = Notifier()->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.detail.rfind("1 of 3 events refused", 0), 0u) << d.detail;
  EXPECT_EQ(pd_.count(), 3u);
  EXPECT_TRUE(pd_.IsOpen(PagerDutyDedupKey(n, n.alerts[2]), kRoutingKey));
}

TEST_F(PagerDutyDelivery, NoAnswerInTimeIsRetried) {
  core::PagerDutyReceiverConfig config = Config();
  config.http.timeout = std::chrono::milliseconds(300);
  pd_.Script({fakes::Answer::Hang()});
  Delivery d = Notifier(config)->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.detail.rfind("timeout", 0), 0u) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(PagerDutyDelivery, ResolvesAreNotSentWhenSendResolvedIsOff) {
  core::PagerDutyReceiverConfig config = Config();
  config.send_resolved = false;
  auto notifier = Notifier(config);
  EXPECT_FALSE(notifier->send_resolved());
  EXPECT_EQ(notifier->Deliver(OneAlert(Resolved(FiringAlert())), now_).outcome,
            Delivery::Outcome::kDelivered);
  EXPECT_EQ(pd_.count(), 0u);
}

}  // namespace
}  // namespace obsgate::alerting
