#include "alerting/notification.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "alerting/notifier.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {
namespace {

core::TimePoint At(std::string_view rfc3339) { return *core::ParseRfc3339(rfc3339); }

Notification Sample() {
  Notification n;
  n.id = "01HQ-42";
  n.receiver = "slack";
  n.group_key = R"({}/{severity="critical"}:{deployment="auth"})";
  n.status = "firing";
  n.group_labels = {{"deployment", "auth"}};
  n.common_labels = {{"alertname", "ErrorRateAbove1Percent"}, {"deployment", "auth"}};
  n.common_annotations = {{"summary", "auth v2: 5.23% errors"}};
  AlertSnapshot a;
  a.fingerprint = "c0ffee0123456789";
  a.status = "firing";
  a.labels = {{"alertname", "ErrorRateAbove1Percent"},
              {"namespace", "prod"},
              {"deployment", "auth"},
              {"version", "v2"},
              {"severity", "critical"}};
  a.annotations = {{"summary", "auth v2: 5.23% errors \"quoted\" \\ and ünïcode ✓"},
                   {"description", "line one\nline two\t\x01"}};
  a.starts_at = At("2024-01-15T10:00:00.123Z");
  a.values = {{"error_rate", 0.0523},
              {"requests", 1234},
              {"errors", 65},
              {"baseline.error_rate", 0.001},
              {"p_value", 1.2345678901234567e-12}};
  a.baseline_version = "v1";
  a.action = "rollback";
  n.alerts.push_back(a);
  AlertSnapshot r = a;
  r.fingerprint = "feedface";
  r.status = "resolved";
  r.labels["version"] = "v3";
  r.ends_at = At("2024-01-15T10:05:00.999Z");
  r.values = {{"error_rate", 0.1 + 0.2}};
  r.baseline_version = "";
  r.action = "";
  n.alerts.push_back(r);
  n.truncated_alerts = 3;
  n.created_at = At("2024-01-15T10:05:01.007Z");
  n.external_url = "https://obsgate.example.com";
  return n;
}

TEST(NotificationJson, RoundTripsEveryFieldExactly) {
  const Notification n = Sample();
  auto back = NotificationFromJson(NotificationToJson(n));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, n);
  // Measured values come back bit for bit, not approximately.
  EXPECT_EQ(back->alerts[1].values[0].second, 0.1 + 0.2);
  EXPECT_EQ(back->alerts[0].values[4].second, 1.2345678901234567e-12);
}

TEST(NotificationJson, KeepsTimesToTheMillisecondAndFinerWhenGiven) {
  Notification n = Sample();
  n.alerts[0].starts_at = At("2024-01-15T10:00:00.123456789Z");
  const std::string json = NotificationToJson(n);
  EXPECT_NE(json.find("\"startsAt\":\"2024-01-15T10:00:00.123456789Z\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"createdAt\":\"2024-01-15T10:05:01.007Z\""), std::string::npos) << json;
  auto back = NotificationFromJson(json);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, n);
}

TEST(NotificationJson, KeepsTheOrderOfMeasuredValues) {
  Notification n = Sample();
  n.alerts[0].values = {{"z", 1}, {"a", 2}, {"m", 3}};
  auto back = NotificationFromJson(NotificationToJson(n));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->alerts[0].values, n.alerts[0].values);
}

TEST(NotificationJson, NonFiniteValuesBecomeNullAndReadBackAsNaN) {
  Notification n = Sample();
  n.alerts[0].values = {{"p_value", std::nan("")}};
  const std::string json = NotificationToJson(n);
  EXPECT_NE(json.find("\"p_value\":null"), std::string::npos) << json;
  auto back = NotificationFromJson(json);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(std::isnan(back->alerts[0].values[0].second));
}

TEST(NotificationJson, EmptyNotificationRoundTrips) {
  Notification n;
  auto back = NotificationFromJson(NotificationToJson(n));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, n);
}

TEST(NotificationJson, BadInputIsAnErrorNotACrash) {
  const std::string good = NotificationToJson(Sample());
  for (std::string_view bad : {
           "",
           "null",
           "[]",
           "{",
           "{\"id\":1}",
           "{\"alerts\":{}}",
           "{\"alerts\":[1]}",
           "{\"alerts\":[{\"startsAt\":\"yesterday\"}]}",
           "{\"alerts\":[{\"labels\":{\"a\":1}}]}",
           "{\"alerts\":[{\"values\":{\"x\":\"1\"}}]}",
           "{\"truncatedAlerts\":-1}",
           "{\"truncatedAlerts\":1.5}",
           "{\"groupLabels\":[]}",
           "\xff\xfe",
       }) {
    EXPECT_FALSE(NotificationFromJson(bad).ok()) << bad;
  }
  // Every prefix of a good document is refused, never read half.
  for (std::size_t len = 0; len < good.size(); len += 7) {
    EXPECT_FALSE(NotificationFromJson(std::string_view(good).substr(0, len)).ok()) << len;
  }
}

TEST(FormatPercent, ShowsRatiosAsPeopleReadThem) {
  EXPECT_EQ(FormatPercent(0.0523), "5.23%");
  EXPECT_EQ(FormatPercent(0.5), "50%");
  EXPECT_EQ(FormatPercent(1), "100%");
  EXPECT_EQ(FormatPercent(0.01), "1%");
  EXPECT_EQ(FormatPercent(0.123456), "12.35%");
  EXPECT_EQ(FormatPercent(0.005), "0.5%");
  EXPECT_EQ(FormatPercent(0.0001), "0.01%");
  EXPECT_EQ(FormatPercent(0.000123456), "0.0123%");
  EXPECT_EQ(FormatPercent(0), "0%");
  EXPECT_EQ(FormatPercent(-0.02), "-2%");
  EXPECT_EQ(FormatPercent(1e-12), "<0.000001%");
  EXPECT_EQ(FormatPercent(std::nan("")), "n/a");
}

TEST(FindValue, FindsAMeasurementByName) {
  const AlertSnapshot a = Sample().alerts[0];
  ASSERT_NE(FindValue(a, "requests"), nullptr);
  EXPECT_EQ(*FindValue(a, "requests"), 1234);
  EXPECT_EQ(*FindValue(a, "baseline.error_rate"), 0.001);
  EXPECT_EQ(FindValue(a, "missing"), nullptr);
}

TEST(FormatValue, ShowsRatesInPercentAndCountsAsIntegers) {
  EXPECT_EQ(FormatValue("error_rate", 0.0523), "5.23%");
  EXPECT_EQ(FormatValue("baseline.error_rate", 0.001), "0.1%");
  EXPECT_EQ(FormatValue("log_error_ratio", 0.25), "25%");
  EXPECT_EQ(FormatValue("requests", 1234), "1234");
  EXPECT_EQ(FormatValue("errors", 65), "65");
  EXPECT_EQ(FormatValue("p_value", 0.0000123456), "1.23e-05");
  EXPECT_EQ(FormatValue("burn", 14.4), "14.4");
}

TEST(ActionText, SaysWhatObsgateDoes) {
  AlertSnapshot a;
  EXPECT_EQ(ActionText(a), "Notify only");
  a.action = "rollback";
  EXPECT_EQ(ActionText(a), "Rolling back");
  a.baseline_version = "v1";
  EXPECT_EQ(ActionText(a), "Rolling back to v1");
  a.status = "resolved";
  EXPECT_EQ(ActionText(a), "Rollback asked for when it fired");
  a.status = "firing";
  a.action = "would roll back (dry run)";
  EXPECT_EQ(ActionText(a), "Would roll back (dry run)");
}

TEST(FiringOnly, LeavesOutResolvedAlerts) {
  Notification n = Sample();
  Notification f = FiringOnly(n);
  ASSERT_EQ(f.alerts.size(), 1u);
  EXPECT_EQ(f.alerts[0].status, "firing");
  EXPECT_EQ(f.status, "firing");
  n.alerts.erase(n.alerts.begin());
  EXPECT_TRUE(FiringOnly(n).alerts.empty());
}

TEST(Truncate, LeavesShortTextAlone) {
  EXPECT_EQ(Truncate("hello", 5), "hello");
  EXPECT_EQ(Truncate("", 0), "");
}

TEST(Truncate, CutsWithTheMarkerInsideTheLimit) {
  const std::string out = Truncate("hello world", 8);
  EXPECT_EQ(out, "hello…");  // "…" is 3 bytes
  EXPECT_LE(out.size(), 8u);
  EXPECT_EQ(Truncate("hello world", 8, "..."), "hello...");
}

TEST(Truncate, NeverCutsACharacterInTwo) {
  const std::string text = "ééééé";  // 2 bytes each
  for (std::size_t max = 3; max < text.size(); ++max) {
    const std::string out = Truncate(text, max, "…");
    EXPECT_LE(out.size(), max);
    ASSERT_GE(out.size(), 3u);
    EXPECT_EQ(out.substr(out.size() - 3), "…");
    EXPECT_EQ((out.size() - 3) % 2, 0u) << max;  // whole "é"s only
  }
  EXPECT_EQ(Truncate("✓✓✓", 7, ""), "✓✓");
}

TEST(Truncate, DropsAMarkerThatCannotFit) {
  EXPECT_EQ(Truncate("hello", 2, "…"), "he");
  EXPECT_EQ(Truncate("hello", 0, "…"), "");
}

TEST(OutcomeName, NamesEachOutcomeForMetrics) {
  EXPECT_STREQ(OutcomeName(Delivery::Outcome::kDelivered), "delivered");
  EXPECT_STREQ(OutcomeName(Delivery::Outcome::kRetry), "retry");
  EXPECT_STREQ(OutcomeName(Delivery::Outcome::kGiveUp), "failed");
}

TEST(ParseRetryAfter, ReadsSecondsAndHttpDates) {
  const core::TimePoint now = At("1994-11-06T08:49:00Z");
  EXPECT_EQ(ParseRetryAfter("30", now), core::Duration(30'000));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), core::Duration(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), core::Duration(37'000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:48:00 GMT", now), core::Duration(0));
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Foo 1994 08:49:37 GMT", now), std::nullopt);
}

TEST(DeliveryForStatus, SaysWhetherARetryCanHelp) {
  const core::TimePoint now = At("2024-01-15T10:00:00Z");
  EXPECT_EQ(DeliveryForStatus("Slack", 200, "", "ok", now).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(DeliveryForStatus("PagerDuty", 202, "", "", now).outcome,
            Delivery::Outcome::kDelivered);
  Delivery limited = DeliveryForStatus("Slack", 429, "7", "rate_limited", now);
  EXPECT_EQ(limited.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(limited.retry_after, core::Duration(7000));
  EXPECT_EQ(limited.status, 429);
  Delivery down = DeliveryForStatus("PagerDuty", 503, "", "", now);
  EXPECT_EQ(down.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(down.retry_after, std::nullopt);
  Delivery refused = DeliveryForStatus("Slack", 400, "", "invalid_blocks", now);
  EXPECT_EQ(refused.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_NE(refused.detail.find("400: invalid_blocks"), std::string::npos) << refused.detail;
  EXPECT_EQ(DeliveryForStatus("Slack", 404, "", "no_service", now).outcome,
            Delivery::Outcome::kGiveUp);
}

TEST(DeliveryForFailure, RetriesWhenNoAnswerCame) {
  Delivery d = DeliveryForFailure("webhook", "timeout", "no answer from 127.0.0.1:9 in 200ms");
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 0);
  EXPECT_EQ(d.detail.rfind("timeout:", 0), 0u) << d.detail;
  EXPECT_EQ(DeliveryForFailure("webhook", "request", "").outcome, Delivery::Outcome::kGiveUp);
}

TEST(Redact, HidesEverySecret) {
  EXPECT_EQ(Redact("key abc and abc, not ab", {"abc", ""}), "key <secret> and <secret>, not ab");
  EXPECT_EQ(Redact("secret secret", {"secret"}), "<secret> <secret>");
}

TEST(LabelSetJson, WritesLabelsSortedAndEscaped) {
  EXPECT_EQ(LabelSetJson({{"b", "2"}, {"a", "x\"y"}}), R"({"a":"x\"y","b":"2"})");
  EXPECT_EQ(LabelSetJson({}), "{}");
}

}  // namespace
}  // namespace obsgate::alerting
