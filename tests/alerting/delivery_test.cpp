// The whole notification path on a fake clock: rule alerts through the router and the outbox's
// dispatcher to the real Slack and PagerDuty receivers, answered by fakes of both services.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "alerting/dispatcher.hpp"
#include "alerting/outbox.hpp"
#include "alerting/pagerduty/pagerduty.hpp"
#include "alerting/router.hpp"
#include "alerting/silences.hpp"
#include "alerting/slack/slack.hpp"
#include "tests/alerting/sample_notification.hpp"
#include "tests/fakes/pagerduty.hpp"
#include "tests/fakes/slack.hpp"
#include "tests/support/process.hpp"

namespace obsgate::alerting {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRoutingKey = "0123456789abcdef0123456789abcdef";

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(slack_.Start());
    ASSERT_TRUE(pagerduty_.Start());
    core::SlackReceiverConfig s;
    s.webhook_url = slack_.url();
    core::PagerDutyReceiverConfig p;
    p.routing_key = kRoutingKey;
    p.url = pagerduty_.url();
    std::vector<std::unique_ptr<Notifier>> notifiers;
    notifiers.push_back(std::move(SlackNotifier::Create("slack", s, nullptr)).value());
    notifiers.push_back(std::move(PagerDutyNotifier::Create("pagerduty", p, nullptr)).value());
    auto outbox = Outbox::Open(dir_.path() + "/outbox");
    ASSERT_TRUE(outbox) << outbox.error();
    outbox_ = std::move(outbox).value();
    DispatcherOptions options;
    options.seed = 7;
    dispatcher_ =
        std::make_unique<Dispatcher>(*outbox_, std::move(notifiers), clock_, options, registry_);
    silences_ = std::move(Silences::Open(dir_.path() + "/silences.json", clock_)).value();
    core::AlertingConfig config;
    config.route.receiver = "slack";
    config.route.group_wait = 0ms;
    core::RouteConfig pager;
    pager.receiver = "pagerduty";
    pager.matchers.push_back({"severity", core::LabelMatcherConfig::Op::kEqual, "page"});
    config.route.routes.push_back(pager);
    router_ = std::make_unique<Router>(config, dispatcher_->Traits(), *silences_, clock_,
                                       [this](Notification n) { dispatcher_->Submit(n); });
  }

  // Runs deliveries until nothing is due within `horizon`, moving the clock to each due time.
  void RunFor(core::Duration horizon) {
    core::TimePoint end = clock_.Now() + horizon;
    for (int i = 0; i < 1000; ++i) {
      core::TimePoint next = dispatcher_->RunDue();
      if (next > end) break;
      clock_.Set(std::max(next, clock_.Now()));
    }
    clock_.Set(std::max(end, clock_.Now()));
  }

  obsgate::testing::TempDir dir_;
  core::FakeClock clock_;
  prometheus::Registry registry_;
  fakes::FakeSlack slack_;
  fakes::FakePagerDuty pagerduty_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Silences> silences_;
  std::unique_ptr<Router> router_;
};

TEST_F(DeliveryTest, Slack429WaitsTheGivenSecondsThenDelivers) {
  slack_.Script({fakes::Answer::TooMany("3")});
  router_->Update(testing::FiringAlert());
  router_->Flush();
  dispatcher_->RunDue();
  ASSERT_EQ(slack_.count(), 1u);
  EXPECT_EQ(slack_.requests()[0].status, 429);
  clock_.Advance(2999ms);
  dispatcher_->RunDue();
  EXPECT_EQ(slack_.count(), 1u) << "sent again before Retry-After: 3 had passed";
  clock_.Advance(1ms);
  dispatcher_->RunDue();
  ASSERT_EQ(slack_.count(), 2u);
  fakes::Received second = slack_.requests()[1];
  EXPECT_TRUE(second.valid) << second.problems.front();
  EXPECT_EQ(second.status, 200);
  EXPECT_NE(second.body.find("5.23%"), std::string::npos) << second.body;
  EXPECT_EQ(outbox_->depth(), 0u);
}

TEST_F(DeliveryTest, SlackKeepsToOneMessageASecond) {
  for (const char* d : {"auth", "cart", "search"}) router_->Update(testing::FiringAlert(d));
  router_->Flush();  // no group_by: one group, one message
  for (const char* d : {"a", "b"}) {
    AlertSnapshot other = testing::FiringAlert(d);
    other.labels["alertname"] = std::string("Other") + d;
    other.fingerprint += "x";
    router_->Update(other);
  }
  clock_.Advance(5min);  // group_interval: the group changed, a second message
  router_->Flush();
  dispatcher_->RunDue();
  EXPECT_EQ(slack_.count(), 1u);
  clock_.Advance(999ms);
  dispatcher_->RunDue();
  EXPECT_EQ(slack_.count(), 1u) << "a second message within a second of the first";
  clock_.Advance(1ms);
  dispatcher_->RunDue();
  EXPECT_EQ(slack_.count(), 2u);
}

TEST_F(DeliveryTest, PagerDuty5xxIsRetriedThenDelivered) {
  pagerduty_.Script({fakes::Answer::ServerError(500), fakes::Answer::ServerError(503)});
  AlertSnapshot a = testing::FiringAlert();
  a.labels["severity"] = "page";
  router_->Update(a);
  router_->Flush();
  RunFor(10s);
  ASSERT_EQ(pagerduty_.count(), 3u);
  EXPECT_EQ(pagerduty_.requests()[2].status, 202);
  ASSERT_EQ(pagerduty_.Incidents().size(), 1u);
  const fakes::Incident incident = pagerduty_.Incidents()[0];
  EXPECT_EQ(incident.state, fakes::IncidentState::kTriggered);
  EXPECT_EQ(incident.severity, "critical");
  // Resolved: the same dedup_key closes it, at once.
  router_->Update(testing::Resolved(a));
  router_->Flush();
  RunFor(1s);
  EXPECT_TRUE(pagerduty_.IsResolved(incident.dedup_key)) << incident.dedup_key;
  EXPECT_EQ(outbox_->depth(), 0u);
}

TEST_F(DeliveryTest, PagerDuty400IsNotRetried) {
  pagerduty_.Script({fakes::Answer::BadRequest()});
  AlertSnapshot a = testing::FiringAlert();
  a.labels["severity"] = "page";
  router_->Update(a);
  router_->Flush();
  RunFor(2h);
  EXPECT_EQ(pagerduty_.count(), 1u);
  EXPECT_EQ(outbox_->depth(), 0u);
  EXPECT_NE(dispatcher_->RecentJson().find("\"result\":\"failed\""), std::string::npos);
}

TEST_F(DeliveryTest, LongSummariesAreCutToEachServicesLimit) {
  AlertSnapshot a = testing::FiringAlert();
  a.annotations["summary"] = std::string(5000, 's');
  a.annotations["description"] = std::string(10000, 'd');
  router_->Update(a);
  a.labels["severity"] = "page";
  a.fingerprint += "p";
  router_->Update(a);
  router_->Flush();
  RunFor(2s);
  ASSERT_EQ(slack_.count(), 1u);
  ASSERT_EQ(pagerduty_.count(), 1u);
  fakes::Received s = slack_.requests()[0];
  fakes::Received p = pagerduty_.requests()[0];
  EXPECT_TRUE(s.valid) << (s.problems.empty() ? "" : s.problems[0]);
  EXPECT_TRUE(p.valid) << (p.problems.empty() ? "" : p.problems[0]);
  EXPECT_NE(s.body.find("…"), std::string::npos);
  EXPECT_NE(p.body.find("…"), std::string::npos);
  EXPECT_TRUE(pagerduty_.Incidents().at(0).summary.size() <= 1024 * 3);
}

}  // namespace
}  // namespace obsgate::alerting
