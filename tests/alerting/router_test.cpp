#include "alerting/router.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.hpp"
#include "tests/support/process.hpp"

namespace obsgate::alerting {
namespace {

using namespace std::chrono_literals;

// A route tree and inhibit rules from YAML, as a user writes them.
core::AlertingConfig AlertingFrom(const std::string& yaml) {
  core::ConfigLoad load = core::ParseConfig(
      yaml, "test.yaml", [](const std::string&) { return std::optional<std::string>(); });
  for (const auto& p : load.problems) ADD_FAILURE() << p.ToString();
  return load.parsed.alerting;
}

AlertSnapshot Alert(std::string name, std::string deployment, std::string severity,
                    std::string status = "firing") {
  AlertSnapshot a;
  a.labels = {{"alertname", name},
              {"namespace", "shop"},
              {"deployment", deployment},
              {"version", "v2"},
              {"severity", severity}};
  a.fingerprint = name + "/" + deployment + "/" + severity;
  a.status = std::move(status);
  a.annotations = {{"summary", deployment + " is failing"}};
  return a;
}

AlertSnapshot Resolved(AlertSnapshot a) {
  a.status = "resolved";
  return a;
}

class RouterTest : public ::testing::Test {
 protected:
  void Make(const std::string& yaml, std::map<std::string, ReceiverTraits> traits = {}) {
    config_ = AlertingFrom(yaml);
    for (const auto& r : config_.receivers) traits.try_emplace(r.name, ReceiverTraits{});
    auto s = Silences::Open(dir_.path() + "/silences.json", clock_);
    ASSERT_TRUE(s) << s.error();
    silences_ = std::move(s).value();
    router_ = std::make_unique<Router>(config_, traits, *silences_, clock_,
                                       [this](Notification n) { sent_.push_back(std::move(n)); });
  }
  std::vector<std::string> Fingerprints(const Notification& n) {
    std::vector<std::string> out;
    for (const auto& a : n.alerts) out.push_back(a.status + ":" + a.fingerprint);
    return out;
  }

  obsgate::testing::TempDir dir_;
  core::FakeClock clock_;
  core::AlertingConfig config_;
  std::unique_ptr<Silences> silences_;
  std::unique_ptr<Router> router_;
  std::vector<Notification> sent_;
};

constexpr const char* kTwoReceivers = R"(
receivers:
  - {name: slack, log: {}}
  - {name: pager, log: {}}
route:
  receiver: slack
  group_by: [deployment]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
)";

TEST_F(RouterTest, ThreeAlertsInOneGroupWithinGroupWaitMakeOneMessage) {
  Make(kTwoReceivers);
  router_->Update(Alert("HighErrorRate", "auth", "warning"));
  clock_.Advance(10s);
  router_->Update(Alert("HighLatency", "auth", "warning"));
  clock_.Advance(10s);
  router_->Update(Alert("LogErrors", "auth", "warning"));
  EXPECT_EQ(router_->Flush(), 0) << "group_wait has not passed";
  clock_.Advance(10s);
  ASSERT_EQ(router_->Flush(), 1);
  ASSERT_EQ(sent_.size(), 1u);
  const Notification& n = sent_[0];
  EXPECT_EQ(n.receiver, "slack");
  EXPECT_EQ(n.status, "firing");
  EXPECT_EQ(n.alerts.size(), 3u);
  EXPECT_EQ(n.group_labels, (LabelSet{{"deployment", "auth"}}));
  EXPECT_EQ(n.group_key, "{}:{deployment=\"auth\"}");
  EXPECT_EQ(n.common_labels.at("namespace"), "shop");
  EXPECT_FALSE(n.common_labels.contains("alertname"));
  EXPECT_EQ(n.common_annotations.at("summary"), "auth is failing");
  EXPECT_FALSE(n.id.empty());
}

TEST_F(RouterTest, NestedRouteTakesCriticalAlertsAndGroupsApart) {
  Make(kTwoReceivers);
  router_->Update(Alert("ErrorRateAbove1Percent", "auth", "critical"));
  router_->Update(Alert("HighErrorRate", "auth", "warning"));
  router_->Update(Alert("HighErrorRate", "cart", "warning"));
  clock_.Advance(30s);
  ASSERT_EQ(router_->Flush(), 3);
  std::map<std::string, std::size_t> by_key;
  for (const auto& n : sent_) by_key[n.receiver + " " + n.group_key] = n.alerts.size();
  EXPECT_EQ(by_key, (std::map<std::string, std::size_t>{
                        {"pager {}/{severity=\"critical\"}:{deployment=\"auth\"}", 1},
                        {"slack {}:{deployment=\"auth\"}", 1},
                        {"slack {}:{deployment=\"cart\"}", 1}}));
}

TEST_F(RouterTest, ContinueSendsToTheNextMatchingRouteToo) {
  Make(R"(
receivers: [{name: a, log: {}}, {name: b, log: {}}, {name: c, log: {}}]
route:
  receiver: c
  group_wait: 0s
  routes:
    - {matchers: ['deployment=~"au.*"'], receiver: a, continue: true}
    - {matchers: ['severity!="info"'], receiver: b}
    - {matchers: ['namespace="shop"'], receiver: c}
)");
  router_->Update(Alert("X", "auth", "critical"));
  router_->Update(Alert("Y", "cart", "info"));
  ASSERT_EQ(router_->Flush(), 3);
  std::multiset<std::string> receivers;
  for (const auto& n : sent_)
    receivers.insert(n.receiver + ":" + n.alerts[0].labels.at("alertname"));
  EXPECT_EQ(receivers, (std::multiset<std::string>{"a:X", "b:X", "c:Y"}));
}

TEST_F(RouterTest, GroupByEllipsisGroupsEveryLabelSetApart) {
  Make(R"(
receivers: [{name: a, log: {}}]
route: {receiver: a, group_by: ['...'], group_wait: 0s}
)");
  router_->Update(Alert("X", "auth", "critical"));
  router_->Update(Alert("Y", "auth", "critical"));
  EXPECT_EQ(router_->Flush(), 2);
}

TEST_F(RouterTest, NoChangeIsNotResentUntilRepeatInterval) {
  Make(kTwoReceivers);
  router_->Update(Alert("HighErrorRate", "auth", "warning"));
  clock_.Advance(30s);
  ASSERT_EQ(router_->Flush(), 1);
  for (int i = 0; i < 47; ++i) {  // 47 group intervals: 3h55m
    clock_.Advance(5min);
    router_->Update(Alert("HighErrorRate", "auth", "warning"));  // re-evaluated, same alert
    EXPECT_EQ(router_->Flush(), 0) << "after " << (i + 1) * 5 << "m";
  }
  clock_.Advance(5min);  // 4h since the first message
  EXPECT_EQ(router_->Flush(), 1) << "repeat_interval has passed";
  EXPECT_EQ(sent_.back().alerts.size(), 1u);
}

TEST_F(RouterTest, NewAlertInASentGroupWaitsForGroupInterval) {
  Make(kTwoReceivers);
  router_->Update(Alert("HighErrorRate", "auth", "warning"));
  clock_.Advance(30s);
  ASSERT_EQ(router_->Flush(), 1);
  clock_.Advance(1min);
  router_->Update(Alert("HighLatency", "auth", "warning"));
  EXPECT_EQ(router_->Flush(), 0);
  clock_.Advance(4min);
  ASSERT_EQ(router_->Flush(), 1);
  EXPECT_EQ(sent_.back().alerts.size(), 2u);
}

TEST_F(RouterTest, ResolveIsSentAtOnce) {
  Make(kTwoReceivers);
  AlertSnapshot a = Alert("HighErrorRate", "auth", "warning");
  router_->Update(a);
  clock_.Advance(30s);
  ASSERT_EQ(router_->Flush(), 1);
  clock_.Advance(20s);
  router_->Update(Resolved(a));
  ASSERT_EQ(router_->Flush(), 1) << "not held until the next group_interval";
  EXPECT_EQ(sent_.back().status, "resolved");
  EXPECT_EQ(Fingerprints(sent_.back()), std::vector<std::string>{"resolved:" + a.fingerprint});
  clock_.Advance(10min);
  EXPECT_EQ(router_->Flush(), 0) << "said once";
}

TEST_F(RouterTest, ResolveWaitsForGroupIntervalWhenConfigured) {
  Make(R"(
receivers: [{name: a, log: {}}]
route: {receiver: a, group_wait: 0s, group_interval: 5m, send_resolved_at_once: false}
)");
  AlertSnapshot a = Alert("X", "auth", "critical");
  router_->Update(a);
  ASSERT_EQ(router_->Flush(), 1);
  clock_.Advance(1min);
  router_->Update(Resolved(a));
  EXPECT_EQ(router_->Flush(), 0);
  clock_.Advance(4min);
  EXPECT_EQ(router_->Flush(), 1);
  EXPECT_EQ(sent_.back().status, "resolved");
}

TEST_F(RouterTest, ResolvedBeforeGroupWaitIsNeverSent) {
  Make(kTwoReceivers);
  AlertSnapshot a = Alert("HighErrorRate", "auth", "warning");
  router_->Update(a);
  clock_.Advance(10s);
  router_->Update(Resolved(a));
  clock_.Advance(1h);
  EXPECT_EQ(router_->Flush(), 0);
  EXPECT_TRUE(sent_.empty());
}

TEST_F(RouterTest, ReceiverWithoutSendResolvedHearsNothingOnResolve) {
  Make(kTwoReceivers, {{"slack", ReceiverTraits{false, 0ms}}});
  AlertSnapshot a = Alert("HighErrorRate", "auth", "warning");
  router_->Update(a);
  clock_.Advance(30s);
  ASSERT_EQ(router_->Flush(), 1);
  router_->Update(Resolved(a));
  clock_.Advance(10min);
  EXPECT_EQ(router_->Flush(), 0);
}

TEST_F(RouterTest, AlertmanagerReceiverIsResentEveryResendInterval) {
  Make(R"(
receivers: [{name: am, log: {}}]
route: {receiver: am, group_wait: 0s, group_interval: 5m, repeat_interval: 4h}
)",
       {{"am", ReceiverTraits{true, 1min}}});
  router_->Update(Alert("X", "auth", "critical"));
  ASSERT_EQ(router_->Flush(), 1);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1min);
    EXPECT_EQ(router_->Flush(), 1) << "minute " << i + 1;
  }
}

TEST_F(RouterTest, CriticalInhibitsWarningOfTheSameDeployment) {
  Make(R"(
receivers: [{name: a, log: {}}]
route: {receiver: a, group_by: ['...'], group_wait: 0s}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [namespace, deployment]
)");
  AlertSnapshot critical = Alert("ErrorRateAbove1Percent", "auth", "critical");
  router_->Update(critical);
  router_->Update(Alert("HighErrorRate", "auth", "warning"));
  router_->Update(Alert("HighErrorRate", "cart", "warning"));
  ASSERT_EQ(router_->Flush(), 2);
  std::set<std::string> heard;
  for (const auto& n : sent_) heard.insert(n.alerts[0].fingerprint);
  EXPECT_EQ(heard, (std::set<std::string>{critical.fingerprint, "HighErrorRate/cart/warning"}));
  // The source resolves: the warning is heard at its group's next interval.
  router_->Update(Resolved(critical));
  clock_.Advance(5min);
  router_->Flush();
  bool warning_heard = false;
  for (const auto& n : sent_) {
    warning_heard = warning_heard || n.alerts[0].fingerprint == "HighErrorRate/auth/warning";
  }
  EXPECT_TRUE(warning_heard);
}

TEST_F(RouterTest, SilencedAlertsAreNotSentUntilTheSilenceExpires) {
  Make(R"(
receivers: [{name: a, log: {}}]
route: {receiver: a, group_by: [deployment], group_wait: 0s, group_interval: 1m}
)");
  auto id = silences_->Post(R"({"matchers":[{"name":"deployment","value":"auth","isRegex":false}],
      "endsAt":"2099-01-01T00:00:00Z","createdBy":"oncall","comment":"deploying by hand"})");
  ASSERT_TRUE(id) << id.error();
  router_->Update(Alert("X", "auth", "critical"));
  router_->Update(Alert("X", "cart", "critical"));
  ASSERT_EQ(router_->Flush(), 1);
  EXPECT_EQ(sent_[0].group_labels.at("deployment"), "cart");
  ASSERT_TRUE(silences_->Expire(*id));
  clock_.Advance(1min);
  ASSERT_EQ(router_->Flush(), 1);
  EXPECT_EQ(sent_[1].group_labels.at("deployment"), "auth");
}

TEST(SilencesTest, PersistAcrossRestartsAndListWithState) {
  obsgate::testing::TempDir dir;
  core::FakeClock clock;
  std::string path = dir.path() + "/silences.json";
  std::string id;
  {
    auto s = Silences::Open(path, clock);
    ASSERT_TRUE(s);
    auto posted = (*s)->Post(R"({"matchers":[{"name":"alertname","value":"High.*","isRegex":true}],
        "startsAt":"2023-11-14T22:13:20Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"me",
        "comment":"why"})");
    ASSERT_TRUE(posted) << posted.error();
    id = *posted;
  }
  auto s = Silences::Open(path, clock);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ((*s)->SilencedBy({{"alertname", "HighErrorRate"}}), id);
  EXPECT_EQ((*s)->SilencedBy({{"alertname", "LowErrorRate"}}), "");
  EXPECT_NE((*s)->ListJson().find("\"state\":\"active\""), std::string::npos);
  auto expired = (*s)->Expire(id);
  ASSERT_TRUE(expired) << expired.error();
  EXPECT_FALSE((*s)->Expire(id)) << "already expired";
  EXPECT_FALSE((*s)->Expire("nope"));
  auto again = Silences::Open(path, clock);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->SilencedBy({{"alertname", "HighErrorRate"}}), "");
  EXPECT_NE((*again)->ListJson().find("\"state\":\"expired\""), std::string::npos);
}

TEST(SilencesTest, BadBodiesAreRefusedWithAReason) {
  obsgate::testing::TempDir dir;
  core::FakeClock clock;
  auto s = Silences::Open(dir.path() + "/silences.json", clock);
  ASSERT_TRUE(s);
  for (
      const char* body : {
          "not json",
          R"({"matchers":[],"endsAt":"2099-01-01T00:00:00Z","createdBy":"me"})",
          R"({"matchers":[{"name":"a","value":"(","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"me"})",
          R"({"matchers":[{"name":"a","value":"b"}],"endsAt":"2000-01-01T00:00:00Z","createdBy":"me"})",
          R"({"matchers":[{"name":"a","value":"b"}],"endsAt":"tomorrow","createdBy":"me"})",
          R"({"matchers":[{"name":"a","value":"b"}],"endsAt":"2099-01-01T00:00:00Z"})",
      }) {
    auto r = (*s)->Post(body);
    EXPECT_FALSE(r) << body;
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
  EXPECT_EQ((*s)->active(), 0u);
}

}  // namespace
}  // namespace obsgate::alerting
