#include "alerting/slack/slack.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "tests/alerting/sample_notification.hpp"
#include "tests/fakes/slack.hpp"

namespace obsgate::alerting {
namespace {

using testing::FiringAlert;
using testing::OneAlert;
using testing::Resolved;

std::size_t Characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The parsed message, with the texts a person sees pulled out.
struct Message {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string text;
  std::string header;
  std::vector<std::string> sections;  // each section's text
  std::vector<std::vector<std::string>> fields;
  std::vector<std::string> contexts;
  std::size_t blocks = 0;

  explicit Message(const std::string& json) {
    EXPECT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
    text = std::string(root["text"].get_string().value());
    for (simdjson::dom::element block : root["blocks"].get_array()) {
      ++blocks;
      std::string_view type = block["type"].get_string().value();
      if (type == "header") {
        EXPECT_EQ(block["text"]["type"].get_string().value(), "plain_text");
        header = std::string(block["text"]["text"].get_string().value());
      } else if (type == "section") {
        sections.emplace_back(block["text"]["text"].get_string().value());
        std::vector<std::string> f;
        simdjson::dom::array list;
        if (block["fields"].get(list) == simdjson::SUCCESS) {
          for (auto e : list) f.emplace_back(e["text"].get_string().value());
        }
        fields.push_back(std::move(f));
      } else if (type == "context") {
        for (auto e : block["elements"].get_array()) {
          contexts.emplace_back(e["text"].get_string().value());
        }
      }
    }
  }

  bool HasField(std::string_view want, std::size_t section = 0) const {
    for (const auto& f : fields.at(section)) {
      if (f == want) return true;
    }
    return false;
  }
};

TEST(SlackMessage, SaysWhatHappenedInTheHeader) {
  EXPECT_EQ(SlackTitle(OneAlert()), "[FIRING] ErrorRateAbove1Percent — auth v2");
  EXPECT_EQ(SlackTitle(OneAlert(Resolved(FiringAlert()))),
            "[RESOLVED] ErrorRateAbove1Percent — auth v2");
  Notification two = OneAlert();
  two.alerts.push_back(FiringAlert("auth", "v3"));
  two.common_labels.erase("version");
  EXPECT_EQ(SlackTitle(two), "[FIRING:2] ErrorRateAbove1Percent — auth");
}

TEST(SlackMessage, ShowsTheMeasuredValuesTheSummaryAndTheAction) {
  Message m(SlackMessage(OneAlert(), {}));
  EXPECT_EQ(m.header, "[FIRING] ErrorRateAbove1Percent — auth v2");
  ASSERT_EQ(m.sections.size(), 1u);
  EXPECT_NE(m.sections[0].find("*auth v2: 5.23% errors*"), std::string::npos) << m.sections[0];
  EXPECT_NE(m.sections[0].find("Error rate above 1% for 30s"), std::string::npos);
  EXPECT_NE(m.sections[0].find("*Action:* Rolling back to v1"), std::string::npos);
  EXPECT_TRUE(m.HasField("*Deployment*\nauth"));
  EXPECT_TRUE(m.HasField("*Namespace*\nprod"));
  EXPECT_TRUE(m.HasField("*Version*\nv2"));
  EXPECT_TRUE(m.HasField("*Baseline version*\nv1"));
  EXPECT_TRUE(m.HasField("*Error rate*\n5.23%"));
  EXPECT_TRUE(m.HasField("*Requests*\n1234"));
  EXPECT_TRUE(m.HasField("*Errors*\n65"));
  EXPECT_TRUE(m.HasField("*Baseline error rate*\n0.1%"));
  EXPECT_TRUE(m.HasField("*p-value*\n1.2e-05"));
  EXPECT_LE(m.fields[0].size(), 10u);
  ASSERT_EQ(m.contexts.size(), 1u);
  EXPECT_EQ(m.contexts[0], "<https://obsgate.example.com|Open in obsgate>");
  EXPECT_NE(m.text.find("[FIRING] ErrorRateAbove1Percent — auth v2"), std::string::npos);
  EXPECT_NE(m.text.find("auth v2: 5.23% errors"), std::string::npos);
}

TEST(SlackMessage, SaysNotifyOnlyWhenNothingIsDone) {
  AlertSnapshot a = FiringAlert();
  a.action = "";
  Message m(SlackMessage(OneAlert(a), {}));
  EXPECT_NE(m.sections[0].find("*Action:* Notify only"), std::string::npos);
}

TEST(SlackMessage, LeavesOutTheLinkWithoutAnExternalUrl) {
  Notification n = OneAlert();
  n.external_url = "";
  Message m(SlackMessage(n, {}));
  EXPECT_TRUE(m.contexts.empty());
}

TEST(SlackMessage, SetsChannelUsernameAndIconOnlyWhenConfigured) {
  Message plain(SlackMessage(OneAlert(), {}));
  simdjson::dom::element e;
  EXPECT_NE(plain.root["channel"].get(e), simdjson::SUCCESS);
  EXPECT_NE(plain.root["username"].get(e), simdjson::SUCCESS);
  EXPECT_NE(plain.root["icon_emoji"].get(e), simdjson::SUCCESS);
  core::SlackReceiverConfig config;
  config.channel = "#deploys";
  config.username = "obsgate";
  config.icon_emoji = ":rotating_light:";
  Message m(SlackMessage(OneAlert(), config));
  EXPECT_EQ(m.root["channel"].get_string().value(), "#deploys");
  EXPECT_EQ(m.root["username"].get_string().value(), "obsgate");
  EXPECT_EQ(m.root["icon_emoji"].get_string().value(), ":rotating_light:");
}

TEST(SlackMessage, EscapesSlackControlCharacters) {
  AlertSnapshot a = FiringAlert();
  a.annotations["summary"] = "p99 <500ms & rising> <!channel>";
  Message m(SlackMessage(OneAlert(a), {}));
  EXPECT_NE(m.sections[0].find("p99 &lt;500ms &amp; rising&gt; &lt;!channel&gt;"),
            std::string::npos)
      << m.sections[0];
  EXPECT_EQ(m.text.find("<!channel>"), std::string::npos);
}

TEST(SlackMessage, CutsLongTextsToSlacksLimitsWithAMarker) {
  AlertSnapshot a = FiringAlert();
  a.labels["alertname"] = std::string(400, 'A');
  a.annotations["summary"] = std::string(6000, 's');
  a.annotations["description"] = std::string(2000, 'd') + std::string(3000, 'x');
  a.labels["deployment"] = std::string(3000, 'p');
  Notification n = OneAlert(a);
  Message m(SlackMessage(n, {}));
  EXPECT_LE(Characters(m.header), 150u);
  EXPECT_EQ(m.header.substr(m.header.size() - 3), "…");
  ASSERT_EQ(m.sections.size(), 1u);
  EXPECT_LE(Characters(m.sections[0]), 3000u);
  EXPECT_NE(m.sections[0].find("s…*"), std::string::npos);  // the summary, cut and marked
  for (const auto& f : m.fields[0]) EXPECT_LE(Characters(f), 2000u);
  EXPECT_TRUE(m.HasField("*Deployment*\n" + std::string(1984, 'p') + "…")) << m.fields[0][0];
}

TEST(SlackMessage, CapsTheSectionsAndCountsTheRest) {
  Notification n = OneAlert();
  for (int i = 0; i < 24; ++i) n.alerts.push_back(FiringAlert("svc" + std::to_string(i)));
  n.truncated_alerts = 5;
  Message m(SlackMessage(n, {}));
  EXPECT_EQ(m.sections.size(), kSlackMaxAlertSections);
  ASSERT_EQ(m.contexts.size(), 2u);
  EXPECT_EQ(m.contexts[0], "… and 20 more");  // 25 alerts, 10 shown, 5 left out by the router
  EXPECT_LE(m.blocks, 50u);
}

TEST(SlackMessage, FallbackTextStaysUnderTheMessageLimit) {
  Notification n = OneAlert();
  n.alerts.front().annotations["summary"] = std::string(3000, 'z');
  for (int i = 0; i < 30; ++i) n.alerts.push_back(n.alerts.front());
  Message m(SlackMessage(n, {}));
  EXPECT_LE(Characters(m.text), 40'000u);
  EXPECT_EQ(m.text.substr(m.text.size() - 3), "…");
}

// Delivery against the fake Slack, which checks each message against Block Kit's rules.
class SlackDelivery : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(slack_.Start().ok()); }

  std::unique_ptr<SlackNotifier> Notifier(core::SlackReceiverConfig config = {}) {
    config.webhook_url = slack_.url();
    auto n = SlackNotifier::Create("team-slack", std::move(config), nullptr);
    EXPECT_TRUE(n.ok()) << n.error();
    return std::move(n).value();
  }

  // The webhook's secret part must never be shown.
  void ExpectNoSecret(const Delivery& d) {
    EXPECT_EQ(d.detail.find("XXXXXXXXXXXXXXXXXXXXXXXX"), std::string::npos) << d.detail;
    EXPECT_EQ(d.detail.find(fakes::FakeSlack::kPath), std::string::npos) << d.detail;
  }

  fakes::FakeSlack slack_;
  const core::TimePoint now_ = testing::At("2024-01-15T10:00:31Z");
};

TEST_F(SlackDelivery, DeliversAMessageSlackAccepts) {
  auto notifier = Notifier();
  EXPECT_EQ(notifier->kind(), "slack");
  EXPECT_EQ(notifier->name(), "team-slack");
  EXPECT_EQ(notifier->min_interval(), std::chrono::seconds(1));
  Delivery d = notifier->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  EXPECT_EQ(d.status, 200);
  auto got = slack_.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].valid) << ::testing::PrintToString(got[0].problems);
  EXPECT_TRUE(got[0].warnings.empty()) << ::testing::PrintToString(got[0].warnings);
}

TEST_F(SlackDelivery, EveryLimitHoldsForAHugeNotification) {
  Notification n = OneAlert();
  n.alerts.front().labels["alertname"] = std::string(500, 'A');
  n.alerts.front().annotations["summary"] = std::string(9000, 's') + "✓";
  n.alerts.front().annotations["description"] = std::string(9000, '<');
  for (int i = 0; i < 80; ++i) n.alerts.push_back(n.alerts.front());
  n.common_labels = n.alerts.front().labels;
  Delivery d = Notifier()->Deliver(n, now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered) << d.detail;
  auto got = slack_.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].valid) << ::testing::PrintToString(got[0].problems);
  EXPECT_TRUE(got[0].warnings.empty()) << ::testing::PrintToString(got[0].warnings);
}

TEST_F(SlackDelivery, RateLimitedIsRetriedAfterSlacksRetryAfter) {
  slack_.Script({fakes::Answer::TooMany("7")});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.retry_after, std::chrono::seconds(7));
  ExpectNoSecret(d);
}

TEST_F(SlackDelivery, RefusedIsGivenUpWithSlacksErrorWord) {
  slack_.Script({fakes::Answer::BadRequest("invalid_blocks")});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.detail.find("invalid_blocks"), std::string::npos) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(SlackDelivery, RemovedWebhookIsGivenUp) {
  slack_.Script({fakes::Answer{404, "", "no_service", false}});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kGiveUp);
  EXPECT_NE(d.detail.find("no_service"), std::string::npos) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(SlackDelivery, ServerErrorIsRetried) {
  slack_.Script({fakes::Answer::ServerError(500)});
  Delivery d = Notifier()->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 500);
  EXPECT_EQ(d.retry_after, std::nullopt);
  ExpectNoSecret(d);
}

TEST_F(SlackDelivery, NoAnswerInTimeIsRetried) {
  slack_.Script({fakes::Answer::Hang()});
  core::SlackReceiverConfig config;
  config.http.timeout = std::chrono::milliseconds(300);
  Delivery d = Notifier(config)->Deliver(OneAlert(), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(d.status, 0);
  EXPECT_EQ(d.detail.rfind("timeout", 0), 0u) << d.detail;
  ExpectNoSecret(d);
}

TEST_F(SlackDelivery, ResolvedAlertsAreLeftOutWhenSendResolvedIsOff) {
  core::SlackReceiverConfig config;
  config.send_resolved = false;
  auto notifier = Notifier(config);
  EXPECT_FALSE(notifier->send_resolved());
  Delivery d = notifier->Deliver(OneAlert(Resolved(FiringAlert())), now_);
  EXPECT_EQ(d.outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(slack_.count(), 0u);

  Notification mixed = OneAlert();
  mixed.alerts.push_back(Resolved(FiringAlert("auth", "v3")));
  EXPECT_EQ(notifier->Deliver(mixed, now_).outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(slack_.count(), 1u);
  Message m(slack_.requests()[0].body);
  EXPECT_EQ(m.sections.size(), 1u);
}

TEST(SlackNotifierCreate, NeverShowsTheWebhookUrl) {
  core::SlackReceiverConfig config;
  config.webhook_url = "hooks.slack.com/services/T1/B2/sekrit-token";
  auto n = SlackNotifier::Create("s", config, nullptr);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().find("sekrit-token"), std::string::npos) << n.error();
}

}  // namespace
}  // namespace obsgate::alerting
