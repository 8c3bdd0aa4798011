#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>
#include <string>
#include <vector>

#include "tests/fakes/pagerduty.hpp"
#include "tests/fakes/slack.hpp"
#include "tests/fakes/webhook.hpp"
#include "tests/support/http_client.hpp"

namespace obsgate::fakes {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::vector<std::pair<std::string, std::string>> kJson = {
    {"Content-Type", "application/json"}};

std::string Repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

// ---------------------------------------------------------------- Slack

class FakeSlackTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(slack_.Start()); }

  testing::HttpReply Send(const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = kJson) {
    return testing::Post(slack_.port(), FakeSlack::kPath, body, std::move(headers));
  }
  // A message of these blocks, with fallback text.
  testing::HttpReply SendBlocks(const std::vector<std::string>& blocks) {
    return Send(R"({"text":"fallback","blocks":[)" + Join(blocks) + "]}");
  }
  static std::string Section(const std::string& text) {
    return R"({"type":"section","text":{"type":"mrkdwn","text":")" + text + R"("}})";
  }
  static std::string Header(const std::string& text, std::string_view type = "plain_text") {
    return R"({"type":"header","text":{"type":")" + std::string(type) + R"(","text":")" + text +
           R"("}})";
  }
  static std::string Button(const std::string& fields) {
    return R"({"type":"actions","elements":[{"type":"button",)" + fields + "}]}";
  }
  void ExpectRejected(const testing::HttpReply& reply, std::string_view code) {
    EXPECT_EQ(reply.status, 400);
    EXPECT_EQ(reply.body, code);
    auto received = slack_.requests();
    ASSERT_FALSE(received.empty());
    EXPECT_FALSE(received.back().valid);
    ASSERT_FALSE(received.back().problems.empty());
    EXPECT_THAT(received.back().problems.front(), HasSubstr(code));
  }

  FakeSlack slack_;
};

TEST_F(FakeSlackTest, AcceptsPlainTextAndAnswersOkAsHtml) {
  auto reply = Send(R"({"text":"Deployment checkout-7f9 rolled back"})");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ok");
  EXPECT_EQ(reply.Header("Content-Type"), "text/html");
  ASSERT_EQ(slack_.count(), 1u);
  auto r = slack_.requests().front();
  EXPECT_TRUE(r.valid);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"text":"Deployment checkout-7f9 rolled back"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(slack_.url(),
            "http://127.0.0.1:" + std::to_string(slack_.port()) + std::string(FakeSlack::kPath));
}

TEST_F(FakeSlackTest, AcceptsAFullBlockKitAlert) {
  auto reply = SendBlocks({
      Header("Error rate above 5% on checkout"),
      R"({"type":"section","block_id":"summary","text":{"type":"mrkdwn","text":"*checkout* 7.2%"},
          "fields":[{"type":"mrkdwn","text":"*Severity*\ncritical"},
                    {"type":"plain_text","text":"since 10:02"}]})",
      R"({"type":"context","elements":[{"type":"mrkdwn","text":"obsgate"},
          {"type":"image","image_url":"https://example.com/i.png","alt_text":"logo"}]})",
      R"({"type":"divider"})",
      Button(R"("text":{"type":"plain_text","text":"Runbook"},"url":"https://runbooks/x",
               "action_id":"runbook","style":"danger")"),
  });
  EXPECT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(slack_.count(), 1u);
  EXPECT_TRUE(slack_.requests()[0].valid);
}

TEST_F(FakeSlackTest, RefusesBodiesThatAreNotJsonObjects) {
  ExpectRejected(Send(R"({"text":"hi"})", {{"Content-Type", "text/plain"}}), "invalid_payload");
  ExpectRejected(Send(R"({"text":"hi")"), "invalid_payload");
  ExpectRejected(Send(R"(["text"])"), "invalid_payload");
  ExpectRejected(Send(R"({"text":42})"), "invalid_payload");
}

TEST_F(FakeSlackTest, RefusesAMessageWithNeitherTextNorBlocks) {
  ExpectRejected(Send("{}"), "no_text");
  ExpectRejected(Send(R"({"text":""})"), "no_text");
  ExpectRejected(Send(R"({"username":"obsgate","blocks":[]})"), "no_text");
}

TEST_F(FakeSlackTest, AcceptsBlocksOrAttachmentsWithoutText) {
  EXPECT_EQ(Send(R"({"blocks":[{"type":"divider"}]})").status, 200);
  EXPECT_EQ(Send(R"({"attachments":[{"fallback":"x","text":"y"}]})").status, 200);
}

TEST_F(FakeSlackTest, AllowsFiftyBlocksAndRefusesFiftyOne) {
  std::vector<std::string> blocks(50, R"({"type":"divider"})");
  EXPECT_EQ(SendBlocks(blocks).status, 200);
  blocks.push_back(R"({"type":"divider"})");
  ExpectRejected(SendBlocks(blocks), "invalid_blocks");
  EXPECT_THAT(slack_.requests().back().problems, Contains(HasSubstr("51 blocks")));
}

TEST_F(FakeSlackTest, HeaderIsPlainTextOfAtMost150Characters) {
  EXPECT_EQ(SendBlocks({Header(std::string(150, 'h'))}).status, 200);
  ExpectRejected(SendBlocks({Header(std::string(151, 'h'))}), "invalid_blocks");
  EXPECT_THAT(slack_.requests().back().problems, Contains(HasSubstr("/blocks/0/text/text")));
  ExpectRejected(SendBlocks({Header("*bold*", "mrkdwn")}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"header"})"}), "invalid_blocks");
}

TEST_F(FakeSlackTest, SectionTextIsOneTo3000Characters) {
  EXPECT_EQ(SendBlocks({Section(std::string(3000, 's'))}).status, 200);
  ExpectRejected(SendBlocks({Section(std::string(3001, 's'))}), "invalid_blocks");
  ExpectRejected(SendBlocks({Section("")}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"section"})"}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"section","text":{"type":"html","text":"x"}})"}),
                 "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"section","text":"plain string"})"}), "invalid_blocks");
}

TEST_F(FakeSlackTest, CountsCharactersNotBytes) {
  // 3000 "é" are 6000 bytes of UTF-8 but 3000 characters, which Slack allows.
  EXPECT_EQ(SendBlocks({Section(Repeat("é", 3000))}).status, 200);
  ExpectRejected(SendBlocks({Section(Repeat("é", 3001))}), "invalid_blocks");
}

TEST_F(FakeSlackTest, SectionHoldsAtMostTenFieldsOfAtMost2000Characters) {
  auto fields = [](std::size_t n, std::size_t len) {
    std::vector<std::string> f(n, R"({"type":"mrkdwn","text":")" + std::string(len, 'f') + "\"}");
    return R"({"type":"section","fields":[)" + Join(f) + "]}";
  };
  EXPECT_EQ(SendBlocks({fields(10, 2000)}).status, 200);
  ExpectRejected(SendBlocks({fields(11, 10)}), "invalid_blocks");
  ExpectRejected(SendBlocks({fields(1, 2001)}), "invalid_blocks");
}

TEST_F(FakeSlackTest, ContextHoldsOneToTenElements) {
  auto context = [](std::size_t n) {
    std::vector<std::string> e(n, R"({"type":"plain_text","text":"c"})");
    return R"({"type":"context","elements":[)" + Join(e) + "]}";
  };
  EXPECT_EQ(SendBlocks({context(10)}).status, 200);
  ExpectRejected(SendBlocks({context(11)}), "invalid_blocks");
  ExpectRejected(SendBlocks({context(0)}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"context","elements":[{"type":"image"}]})"}),
                 "invalid_blocks");
}

TEST_F(FakeSlackTest, ButtonsFollowTheirLimits) {
  const std::string text = R"("text":{"type":"plain_text","text":"Open"})";
  EXPECT_EQ(
      SendBlocks({Button(R"("text":{"type":"plain_text","text":")" + std::string(75, 'b') + "\"}")})
          .status,
      200);
  ExpectRejected(SendBlocks({Button(R"("text":{"type":"plain_text","text":")" +
                                    std::string(76, 'b') + "\"}")}),
                 "invalid_blocks");
  ExpectRejected(SendBlocks({Button(R"("text":{"type":"mrkdwn","text":"*Open*"})")}),
                 "invalid_blocks");
  EXPECT_EQ(SendBlocks({Button(text + R"(,"url":")" + std::string(3000, 'u') + "\"")}).status, 200);
  ExpectRejected(SendBlocks({Button(text + R"(,"url":")" + std::string(3001, 'u') + "\"")}),
                 "invalid_blocks");
  ExpectRejected(SendBlocks({Button(text + R"(,"action_id":")" + std::string(256, 'a') + "\"")}),
                 "invalid_blocks");
  ExpectRejected(SendBlocks({Button(text + R"(,"style":"green")")}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"type":"actions","elements":[]})"}), "invalid_blocks");
}

TEST_F(FakeSlackTest, RefusesUnknownBlocksLongBlockIdsAndMalformedLists) {
  ExpectRejected(SendBlocks({R"({"type":"banner"})"}), "invalid_blocks");
  ExpectRejected(SendBlocks({R"({"text":"no type"})"}), "invalid_blocks");
  EXPECT_EQ(
      SendBlocks({R"({"type":"divider","block_id":")" + std::string(255, 'i') + "\"}"}).status,
      200);
  ExpectRejected(SendBlocks({R"({"type":"divider","block_id":")" + std::string(256, 'i') + "\"}"}),
                 "invalid_blocks");
  ExpectRejected(Send(R"({"text":"x","blocks":{"type":"divider"}})"), "invalid_blocks_format");
  ExpectRejected(Send(R"({"text":"x","attachments":{"text":"y"}})"), "invalid_attachments");
}

TEST_F(FakeSlackTest, AcceptsOverlongTextButWarnsThatSlackTruncatesIt) {
  EXPECT_EQ(Send(R"({"text":")" + std::string(40'000, 't') + "\"}").status, 200);
  EXPECT_TRUE(slack_.requests().back().warnings.empty());
  EXPECT_EQ(Send(R"({"text":")" + std::string(40'001, 't') + "\"}").status, 200);
  auto r = slack_.requests().back();
  EXPECT_TRUE(r.valid);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("message_truncated"));
}

TEST_F(FakeSlackTest, AnswersAsScriptedThenFallsBackToTheDefault) {
  slack_.Script({Answer::TooMany("3"), Answer::Ok()});
  const std::string ok = R"({"text":"x"})";
  auto first = Send(ok);
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("Retry-After"), "3");
  EXPECT_EQ(first.body, "rate_limited");
  EXPECT_EQ(Send(ok).status, 200);

  slack_.SetDefault(Answer::ServerError());
  auto down = Send(ok);
  EXPECT_EQ(down.status, 500);
  EXPECT_EQ(down.body, "rollup_error");
  EXPECT_EQ(down.Header("Retry-After"), "");
  EXPECT_EQ(Send(ok).status, 500);

  // A scripted answer stands in for the service, but the request is still checked and recorded.
  slack_.Script({Answer::BadRequest("channel_is_archived"), Answer::Ok()});
  auto scripted = Send("{}");
  EXPECT_EQ(scripted.status, 400);
  EXPECT_EQ(scripted.body, "channel_is_archived");
  ExpectRejected(Send("{}"), "no_text");  // Ok(): as Slack itself would answer

  auto all = slack_.requests();
  ASSERT_EQ(all.size(), 6u);
  std::vector<int> statuses;
  for (const Received& r : all) statuses.push_back(r.status);
  EXPECT_THAT(statuses, ElementsAre(429, 200, 500, 500, 400, 400));
  EXPECT_TRUE(all[0].valid);
  EXPECT_FALSE(all[4].valid);
}

// ---------------------------------------------------------------- PagerDuty

constexpr std::string_view kRoutingKey = "R0123456789abcdef0123456789abcde";  // 32 characters
constexpr std::string_view kOtherKey = "Rfedcba9876543210fedcba987654321";

class FakePagerDutyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kRoutingKey.size(), 32u);
    ASSERT_TRUE(pd_.Start());
  }

  testing::HttpReply Send(const std::string& event) {
    return testing::Post(pd_.port(), FakePagerDuty::kPath, event, kJson);
  }

  static std::string Trigger(std::string_view dedup_key = "", std::string payload = "",
                             std::string_view routing_key = kRoutingKey) {
    if (payload.empty()) {
      payload = R"({"summary":"Error rate 7% on checkout","source":"gw-1","severity":"critical",
                   "timestamp":"2015-07-17T08:42:58.315+0000","component":"checkout",
                   "group":"shop","class":"error rate","custom_details":{"rate":0.07}})";
    }
    std::string e = R"({"routing_key":")" + std::string(routing_key) +
                    R"(","event_action":"trigger","payload":)" + payload;
    if (!dedup_key.empty()) e += R"(,"dedup_key":")" + std::string(dedup_key) + "\"";
    return e + "}";
  }
  static std::string Follow(std::string_view action, std::string_view dedup_key,
                            std::string_view routing_key = kRoutingKey) {
    return R"({"routing_key":")" + std::string(routing_key) + R"(","event_action":")" +
           std::string(action) + R"(","dedup_key":")" + std::string(dedup_key) + "\"}";
  }
  static std::string Payload(std::string_view summary, std::string_view severity = "error",
                             std::string_view extra = "") {
    return R"({"summary":")" + std::string(summary) + R"(","source":"gw-1","severity":")" +
           std::string(severity) + "\"" + std::string(extra) + "}";
  }

  // A 400 in PagerDuty's shape whose errors mention `what`, and no change to any alert.
  void ExpectInvalid(const std::string& event, std::string_view what) {
    auto before = pd_.Incidents().size();
    auto reply = Send(event);
    EXPECT_EQ(reply.status, 400) << event;
    EXPECT_EQ(reply.Header("Content-Type"), "application/json");
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(reply.body).get(doc), simdjson::SUCCESS) << reply.body;
    std::string_view status, message;
    EXPECT_EQ(doc["status"].get(status), simdjson::SUCCESS);
    EXPECT_EQ(status, "invalid event");
    EXPECT_EQ(doc["message"].get(message), simdjson::SUCCESS);
    EXPECT_EQ(message, "Event object is invalid");
    simdjson::dom::array errors;
    ASSERT_EQ(doc["errors"].get(errors), simdjson::SUCCESS);
    ASSERT_GT(errors.size(), 0u);
    EXPECT_THAT(std::string(errors.at(0).get_string().value()), HasSubstr(what)) << reply.body;
    EXPECT_FALSE(pd_.requests().back().valid);
    EXPECT_EQ(pd_.Incidents().size(), before);
  }

  static std::string DedupKeyOf(const std::string& body) {
    simdjson::dom::parser parser;
    std::string_view key;
    if (parser.parse(body)["dedup_key"].get(key) != simdjson::SUCCESS) return "";
    return std::string(key);
  }

  FakePagerDuty pd_;
};

TEST_F(FakePagerDutyTest, TriggerWithoutDedupKeyGetsAGeneratedOne) {
  auto reply = Send(Trigger());
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");
  EXPECT_THAT(reply.body, HasSubstr(R"("status":"success","message":"Event processed")"));
  std::string key = DedupKeyOf(reply.body);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_TRUE(pd_.IsOpen(key));
  auto incident = pd_.Find(key);
  ASSERT_TRUE(incident);
  EXPECT_EQ(incident->routing_key, kRoutingKey);
  EXPECT_EQ(incident->summary, "Error rate 7% on checkout");
  EXPECT_EQ(incident->severity, "critical");
  EXPECT_EQ(incident->state, IncidentState::kTriggered);
  EXPECT_TRUE(pd_.requests()[0].valid);

  // Each trigger without a key opens an alert of its own.
  EXPECT_NE(DedupKeyOf(Send(Trigger()).body), key);
  EXPECT_EQ(pd_.Incidents().size(), 2u);
}

TEST_F(FakePagerDutyTest, FollowsAnIncidentThroughAcknowledgeAndResolve) {
  EXPECT_EQ(DedupKeyOf(Send(Trigger("checkout/error-rate")).body), "checkout/error-rate");
  EXPECT_EQ(Send(Trigger("checkout/error-rate")).status, 202);  // same alert, one more event
  ASSERT_EQ(pd_.Incidents().size(), 1u);
  EXPECT_EQ(pd_.Find("checkout/error-rate").value_or(Incident{}).events, 2);

  EXPECT_EQ(Send(Follow("acknowledge", "checkout/error-rate")).status, 202);
  EXPECT_EQ(pd_.Find("checkout/error-rate").value_or(Incident{}).state,
            IncidentState::kAcknowledged);
  EXPECT_TRUE(pd_.IsOpen("checkout/error-rate"));

  auto resolved = Send(Follow("resolve", "checkout/error-rate"));
  EXPECT_EQ(resolved.status, 202);
  EXPECT_EQ(DedupKeyOf(resolved.body), "checkout/error-rate");
  EXPECT_TRUE(pd_.IsResolved("checkout/error-rate"));
  EXPECT_FALSE(pd_.IsOpen("checkout/error-rate"));

  // A trigger after the resolve opens a new alert under the same key.
  EXPECT_EQ(Send(Trigger("checkout/error-rate")).status, 202);
  ASSERT_EQ(pd_.Incidents().size(), 2u);
  EXPECT_EQ(pd_.Incidents()[0].state, IncidentState::kResolved);
  EXPECT_TRUE(pd_.IsOpen("checkout/error-rate"));
}

TEST_F(FakePagerDutyTest, KeepsIncidentsApartByRoutingKey) {
  EXPECT_EQ(Send(Trigger("db/latency")).status, 202);
  EXPECT_EQ(Send(Trigger("db/latency", "", kOtherKey)).status, 202);
  EXPECT_EQ(pd_.OpenIncidents(kRoutingKey).size(), 1u);
  EXPECT_EQ(pd_.OpenIncidents(kOtherKey).size(), 1u);

  // A resolve through another routing key is accepted but dropped, as PagerDuty does.
  EXPECT_EQ(Send(Follow("resolve", "db/latency", kOtherKey)).status, 202);
  EXPECT_TRUE(pd_.IsOpen("db/latency", kRoutingKey));
  EXPECT_TRUE(pd_.IsResolved("db/latency", kOtherKey));
  EXPECT_EQ(pd_.OpenIncidents(kRoutingKey).size(), 1u);
  EXPECT_TRUE(pd_.OpenIncidents(kOtherKey).empty());

  // So is a resolve for a key PagerDuty never saw.
  EXPECT_EQ(Send(Follow("resolve", "never-triggered")).status, 202);
  EXPECT_FALSE(pd_.Find("never-triggered"));
}

TEST_F(FakePagerDutyTest, RoutingKeyIsExactly32Characters) {
  ExpectInvalid(Trigger("k", "", std::string(31, 'r')), "routing_key");
  ExpectInvalid(Trigger("k", "", std::string(33, 'r')), "routing_key");
  ExpectInvalid(R"({"event_action":"trigger","payload":)" + Payload("x") + "}", "routing_key");
}

TEST_F(FakePagerDutyTest, EventActionAndDedupKeyFollowTheRules) {
  ExpectInvalid(Follow("escalate", "k"), "event_action");
  ExpectInvalid(R"({"routing_key":")" + std::string(kRoutingKey) + R"(","event_action":"resolve"})",
                "dedup_key");
  ExpectInvalid(
      R"({"routing_key":")" + std::string(kRoutingKey) + R"(","event_action":"acknowledge"})",
      "dedup_key");
  EXPECT_EQ(Send(Trigger(std::string(255, 'd'))).status, 202);
  ExpectInvalid(Trigger(std::string(256, 'd')), "dedup_key");
}

TEST_F(FakePagerDutyTest, TriggerPayloadFollowsTheSchema) {
  EXPECT_EQ(Send(Trigger("a", Payload(std::string(1024, 's')))).status, 202);
  ExpectInvalid(Trigger("b", Payload(std::string(1025, 's'))), "payload.summary");
  ExpectInvalid(Trigger("c", Payload("")), "payload.summary");
  ExpectInvalid(Trigger("d", R"({"source":"gw","severity":"info"})"), "payload.summary");
  ExpectInvalid(Trigger("e", R"({"summary":"s","severity":"info"})"), "payload.source");
  ExpectInvalid(Trigger("f", Payload("s", "fatal")), "payload.severity");
  ExpectInvalid(Trigger("g", R"({"summary":"s","source":"gw"})"), "payload.severity");
  ExpectInvalid(R"({"routing_key":")" + std::string(kRoutingKey) + R"(","event_action":"trigger"})",
                "payload");
  ExpectInvalid(Trigger("h", Payload("s", "info", R"(,"timestamp":"yesterday")")),
                "payload.timestamp");
  ExpectInvalid(Trigger("i", Payload("s", "info", R"(,"custom_details":"text")")),
                "payload.custom_details");
  ExpectInvalid(Trigger("j", Payload("s", "info", R"(,"component":7)")), "payload.component");
  for (std::string_view ts : {"2015-07-17T08:42:58.315+0000", "2024-01-15T10:00:00Z",
                              "2024-01-15T10:00:00.123456+02:00", "2024-01-15T10:00"}) {
    EXPECT_EQ(
        Send(Trigger("t", Payload("s", "warning", R"(,"timestamp":")" + std::string(ts) + "\"")))
            .status,
        202)
        << ts;
  }
}

TEST_F(FakePagerDutyTest, LinksAndImagesNeedTheirUrls) {
  std::string base = R"({"routing_key":")" + std::string(kRoutingKey) +
                     R"(","event_action":"trigger","payload":)" + Payload("s") +
                     R"(,"client":"obsgate","client_url":"https://obsgate.example")";
  EXPECT_EQ(Send(base + R"(,"links":[{"href":"https://x","text":"graph"}],
                         "images":[{"src":"https://x/i.png","href":"https://x","alt":"i"}]})")
                .status,
            202);
  ExpectInvalid(base + R"(,"links":[{"text":"graph"}]})", "links[0].href");
  ExpectInvalid(base + R"(,"links":{"href":"https://x"}})", "links");
  ExpectInvalid(base + R"(,"images":[{"href":"https://x"}]})", "images[0].src");
}

TEST_F(FakePagerDutyTest, RefusesBodiesThatAreNotEvents) {
  ExpectInvalid("not json", "JSON");
  ExpectInvalid(R"(["trigger"])", "object");
  ExpectInvalid(R"({"routing_key":")" + std::string(kRoutingKey) +
                    R"(","event_action":"trigger",)" + R"("payload":{"summary":")" +
                    std::string(600 * 1024, 's') + R"(","source":"s","severity":"info"}})",
                "512 KB");
}

TEST_F(FakePagerDutyTest, ScriptedAnswersLeaveIncidentsAlone) {
  pd_.Script({Answer::TooMany("60"), Answer::ServerError(503)});
  auto throttled = Send(Trigger("k"));
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.Header("Retry-After"), "60");
  EXPECT_THAT(throttled.body, HasSubstr("throttle event"));
  EXPECT_EQ(Send(Trigger("k")).status, 503);
  EXPECT_FALSE(pd_.Find("k"));
  ASSERT_EQ(pd_.count(), 2u);
  EXPECT_TRUE(pd_.requests()[0].valid);

  EXPECT_EQ(Send(Trigger("k")).status, 202);
  EXPECT_TRUE(pd_.IsOpen("k"));
}

// ---------------------------------------------------------------- Alertmanager webhook

class FakeWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(hook_.Start()); }

  testing::HttpReply Send(const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = kJson) {
    return testing::Post(hook_.port(), FakeWebhookReceiver::kDefaultPath, body, std::move(headers));
  }

  // The documented version 4 payload, with one field replaced when `field` is given.
  static std::string Payload(std::string_view field = "", std::string_view value = "",
                             std::string_view alert_field = "", std::string_view alert_value = "") {
    auto f = [&](std::string_view name, std::string_view v, std::string_view which,
                 std::string_view replacement) {
      return "\"" + std::string(name) + "\":" + std::string(which == name ? replacement : v);
    };
    std::string alert =
        "{" + f("status", R"("firing")", alert_field, alert_value) + "," +
        f("labels", R"({"alertname":"HighErrorRate","service":"checkout"})", alert_field,
          alert_value) +
        "," + f("annotations", R"({"summary":"7% errors"})", alert_field, alert_value) + "," +
        f("startsAt", R"("2024-01-15T10:00:00.123456789+01:00")", alert_field, alert_value) + "," +
        f("endsAt", R"("0001-01-01T00:00:00Z")", alert_field, alert_value) + "," +
        f("generatorURL", R"("http://prometheus:9090/graph?g0.expr=x")", alert_field, alert_value) +
        "," + f("fingerprint", R"("1a30ba71cca2921f")", alert_field, alert_value) + "}";
    return "{" + f("version", R"("4")", field, value) + "," +
           f("groupKey", R"("{}:{alertname=\"HighErrorRate\"}")", field, value) + "," +
           f("truncatedAlerts", "0", field, value) + "," +
           f("status", R"("firing")", field, value) + "," +
           f("receiver", R"("obsgate")", field, value) + "," +
           f("groupLabels", R"({"alertname":"HighErrorRate"})", field, value) + "," +
           f("commonLabels", R"({"alertname":"HighErrorRate"})", field, value) + "," +
           f("commonAnnotations", "{}", field, value) + "," +
           f("externalURL", R"("http://alertmanager:9093")", field, value) + "," +
           f("alerts", "[" + alert + "]", field, value) + "}";
  }

  void ExpectInvalid(const std::string& body, std::string_view what,
                     std::vector<std::pair<std::string, std::string>> headers = kJson) {
    auto reply = Send(body, std::move(headers));
    EXPECT_EQ(reply.status, 400) << body;
    EXPECT_THAT(reply.body, HasSubstr(what)) << body;
    ASSERT_GT(hook_.count(), 0u);
    EXPECT_FALSE(hook_.requests().back().valid);
  }

  FakeWebhookReceiver hook_;
};

TEST_F(FakeWebhookTest, AcceptsTheDocumentedPayload) {
  auto reply = Send(Payload());
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body, "");
  ASSERT_EQ(hook_.count(), 1u);
  EXPECT_TRUE(hook_.requests()[0].valid);
  EXPECT_EQ(hook_.requests()[0].path, FakeWebhookReceiver::kDefaultPath);
  EXPECT_THAT(hook_.url(), HasSubstr(std::string(FakeWebhookReceiver::kDefaultPath)));
}

TEST_F(FakeWebhookTest, ChecksTheGroupFields) {
  ExpectInvalid(Payload("version", R"("3")"), "version");
  ExpectInvalid(Payload("version", "4"), "version");
  ExpectInvalid(Payload("status", R"("pending")"), "status");
  ExpectInvalid(Payload("truncatedAlerts", "-1"), "truncatedAlerts");
  ExpectInvalid(Payload("truncatedAlerts", R"("0")"), "truncatedAlerts");
  ExpectInvalid(Payload("groupKey", "null"), "groupKey is missing");
  ExpectInvalid(Payload("commonLabels", R"({"severity":3})"), "commonLabels.severity");
  ExpectInvalid(Payload("alerts", R"({})"), "alerts");
  ExpectInvalid(Payload("status", R"("resolved")"), "firing");
  ExpectInvalid(Payload(), "application/json", {{"Content-Type", "text/plain"}});
  ExpectInvalid("{", "not JSON");
}

TEST_F(FakeWebhookTest, ChecksEveryAlert) {
  ExpectInvalid(Payload("", "", "status", R"("active")"), "alerts[0].status");
  ExpectInvalid(Payload("", "", "startsAt", R"("2024-01-15 10:00")"), "alerts[0].startsAt");
  ExpectInvalid(Payload("", "", "endsAt", "0"), "alerts[0].endsAt");
  ExpectInvalid(Payload("", "", "fingerprint", "null"), "alerts[0].fingerprint");
  ExpectInvalid(Payload("", "", "labels", R"(["a"])"), "alerts[0].labels");
  ExpectInvalid(Payload("", "", "generatorURL", "null"), "alerts[0].generatorURL");
}

TEST_F(FakeWebhookTest, AnswersAsScripted) {
  hook_.Script({Answer::ServerError(502), Answer::TooMany("1")});
  EXPECT_EQ(Send(Payload()).status, 502);
  auto limited = Send(Payload());
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Header("Retry-After"), "1");
  EXPECT_EQ(Send(Payload()).status, 200);
  EXPECT_EQ(hook_.count(), 3u);
}

// ---------------------------------------------------------------- waiting and hanging

TEST(FakePeerTest, WaitForSaysWhetherRequestsArrived) {
  FakeWebhookReceiver hook;
  ASSERT_TRUE(hook.Start());
  EXPECT_FALSE(hook.WaitFor(1, 20ms));
  auto sender = std::async(std::launch::async, [&] {
    return testing::Post(hook.port(), FakeWebhookReceiver::kDefaultPath, "{}", kJson).status;
  });
  EXPECT_TRUE(hook.WaitFor(1, 10s));
  EXPECT_EQ(sender.get(), 400);
}

TEST(FakePeerTest, HungRequestDoesNotBlockOthersAndStopReleasesIt) {
  FakeSlack slack;
  ASSERT_TRUE(slack.Start());
  slack.Script({Answer::Hang()});
  auto hung = std::async(std::launch::async, [&] {
    return testing::Post(slack.port(), FakeSlack::kPath, R"({"text":"held"})", kJson);
  });
  ASSERT_TRUE(slack.WaitFor(1, 10s));
  EXPECT_EQ(slack.requests()[0].status, 0);

  // The fake keeps serving while one request hangs.
  auto other = testing::Post(slack.port(), FakeSlack::kPath, R"({"text":"next"})", kJson);
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(hung.wait_for(0ms), std::future_status::timeout);

  EXPECT_TRUE(slack.Stop());  // true: the hung handler let go within the grace period
  auto reply = hung.get();
  EXPECT_NE(reply.status, 200);
  EXPECT_NE(reply.body, "ok");
}

TEST(FakePeerTest, HangEndsAtTheHangLimitWithoutAnAnswer) {
  FakePagerDuty pd;
  ASSERT_TRUE(pd.Start());
  pd.SetHangLimit(10ms);
  pd.SetDefault(Answer::Hang());
  auto reply = testing::Post(pd.port(), FakePagerDuty::kPath, "{}", kJson);
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(pd.count(), 1u);
  EXPECT_TRUE(pd.Incidents().empty());
}

}  // namespace
}  // namespace obsgate::fakes
