#include "alerting/dispatcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <deque>
#include <fstream>

#include "alerting/outbox.hpp"
#include "tests/support/process.hpp"

namespace obsgate::alerting {
namespace {

using namespace std::chrono_literals;

// A receiver whose answers the test scripts; it records each attempt with the clock's time.
class ScriptedReceiver : public Notifier {
 public:
  ScriptedReceiver(std::string name, core::Duration min_interval = 0ms)
      : name_(std::move(name)), min_interval_(min_interval) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "scripted"; }
  Delivery Deliver(const Notification& n, core::TimePoint now) override {
    attempts->push_back({n.id, now});
    if (script->empty()) return Delivery::Delivered(200);
    Delivery d = script->front();
    script->pop_front();
    return d;
  }
  core::Duration min_interval() const override { return min_interval_; }

  std::shared_ptr<std::deque<Delivery>> script = std::make_shared<std::deque<Delivery>>();
  std::shared_ptr<std::vector<std::pair<std::string, core::TimePoint>>> attempts =
      std::make_shared<std::vector<std::pair<std::string, core::TimePoint>>>();

 private:
  std::string name_;
  core::Duration min_interval_;
};

Notification Make(std::string id, std::string receiver, core::TimePoint at) {
  Notification n;
  n.id = std::move(id);
  n.receiver = std::move(receiver);
  n.group_key = "{}:{deployment=\"auth\"}";
  n.status = "firing";
  n.created_at = at;
  AlertSnapshot a;
  a.fingerprint = "f1";
  a.status = "firing";
  a.labels = {{"alertname", "X"}};
  n.alerts.push_back(a);
  return n;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = Outbox::Open(dir_.path() + "/outbox.log");
    ASSERT_TRUE(o) << o.error();
    outbox_ = std::move(o).value();
  }
  void Start(core::Duration min_interval = 0ms, DispatcherOptions options = {}) {
    auto r = std::make_unique<ScriptedReceiver>("slack", min_interval);
    script_ = r->script;
    attempts_ = r->attempts;
    std::vector<std::unique_ptr<Notifier>> list;
    list.push_back(std::move(r));
    options.seed = 42;
    dispatcher_ =
        std::make_unique<Dispatcher>(*outbox_, std::move(list), clock_, options, registry_);
  }
  double Counter(const std::string& result) {
    for (const auto& f : registry_.Collect()) {
      if (f.name != "obsgate_notifications_total") continue;
      for (const auto& m : f.metric) {
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == result) return m.counter.value;
        }
      }
    }
    return -1;
  }

  obsgate::testing::TempDir dir_;
  core::FakeClock clock_;
  prometheus::Registry registry_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::shared_ptr<std::deque<Delivery>> script_;
  std::shared_ptr<std::vector<std::pair<std::string, core::TimePoint>>> attempts_;
};

TEST_F(DispatcherTest, RetryAfterIsWaitedExactly) {
  Start();
  script_->push_back(Delivery::Retry("rate_limited", 429, 3s));
  dispatcher_->Submit(Make("n1", "slack", clock_.Now()));
  core::TimePoint next = dispatcher_->RunDue();
  ASSERT_EQ(attempts_->size(), 1u);
  EXPECT_EQ(next, clock_.Now() + 3s);
  clock_.Advance(2999ms);
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 1u) << "Retry-After: 3 not honoured";
  clock_.Advance(1ms);
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 2u);
  EXPECT_EQ(Counter("retried"), 1);
  EXPECT_EQ(Counter("delivered"), 1);
  EXPECT_EQ(outbox_->depth(), 0u);
}

TEST_F(DispatcherTest, BackoffGrowsWithJitterUntilDelivered) {
  Start();
  for (int i = 0; i < 4; ++i) script_->push_back(Delivery::Retry("HTTP 500", 500));
  dispatcher_->Submit(Make("n1", "slack", clock_.Now()));
  std::vector<core::Duration> waits;
  for (int i = 0; i < 5; ++i) {
    core::TimePoint now = clock_.Now();
    core::TimePoint next = dispatcher_->RunDue();
    if (next == core::TimePoint::max()) break;
    waits.push_back(std::chrono::duration_cast<core::Duration>(next - now));
    clock_.Set(next);
  }
  ASSERT_EQ(waits.size(), 4u);
  EXPECT_EQ(attempts_->size(), 5u);
  for (std::size_t i = 0; i < waits.size(); ++i) {
    core::Duration whole = 1000ms * (1 << i);
    EXPECT_GE(waits[i], whole / 2) << i;
    EXPECT_LE(waits[i], whole) << i;
  }
  EXPECT_EQ(Counter("delivered"), 1);
}

TEST_F(DispatcherTest, RefusalIsNotRetried) {
  Start();
  script_->push_back(Delivery::GiveUp("invalid_blocks", 400));
  dispatcher_->Submit(Make("n1", "slack", clock_.Now()));
  EXPECT_EQ(dispatcher_->RunDue(), core::TimePoint::max());
  clock_.Advance(1h);
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 1u);
  EXPECT_EQ(Counter("failed"), 1);
  EXPECT_EQ(outbox_->depth(), 0u);
  EXPECT_NE(dispatcher_->RecentJson().find("\"detail\":\"invalid_blocks\""), std::string::npos);
}

TEST_F(DispatcherTest, GivesUpAfterTheConfiguredTime) {
  DispatcherOptions o;
  o.give_up_after = 10min;
  Start(0ms, o);
  for (int i = 0; i < 100; ++i) script_->push_back(Delivery::Retry("HTTP 503", 503));
  dispatcher_->Submit(Make("n1", "slack", clock_.Now()));
  for (int i = 0; i < 100; ++i) {
    core::TimePoint next = dispatcher_->RunDue();
    if (next == core::TimePoint::max()) break;
    clock_.Set(next);
  }
  EXPECT_EQ(outbox_->depth(), 0u);
  EXPECT_EQ(Counter("failed"), 1);
  EXPECT_NE(dispatcher_->RecentJson().find("\"result\":\"expired\""), std::string::npos);
  EXPECT_LT(attempts_->size(), 20u) << "back-off caps the attempts";
}

TEST_F(DispatcherTest, MinIntervalSpacesMessagesToOneReceiver) {
  Start(1s);
  dispatcher_->Submit(Make("n1", "slack", clock_.Now()));
  dispatcher_->Submit(Make("n2", "slack", clock_.Now()));
  dispatcher_->Submit(Make("n3", "slack", clock_.Now()));
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 1u);
  clock_.Advance(999ms);
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 1u);
  clock_.Advance(1ms);
  dispatcher_->RunDue();
  EXPECT_EQ(attempts_->size(), 2u);
  clock_.Advance(1s);
  dispatcher_->RunDue();
  ASSERT_EQ(attempts_->size(), 3u);
  EXPECT_EQ((*attempts_)[2].first, "n3") << "in order";
}

TEST_F(DispatcherTest, UnknownReceiverIsCountedNotQueued) {
  Start();
  dispatcher_->Submit(Make("n1", "nobody", clock_.Now()));
  EXPECT_EQ(outbox_->depth(), 0u);
  EXPECT_EQ(dispatcher_->RunDue(), core::TimePoint::max());
}

TEST(OutboxTest, PendingNotificationsSurviveAReopenAndFinishedOnesDoNot) {
  obsgate::testing::TempDir dir;
  std::string path = dir.path() + "/outbox.log";
  core::FakeClock clock;
  {
    auto o = Outbox::Open(path);
    ASSERT_TRUE(o);
    for (const char* id : {"a", "b", "c"}) ASSERT_TRUE((*o)->Add(Make(id, "slack", clock.Now())));
    ASSERT_TRUE((*o)->Done("b", "delivered"));
    EXPECT_EQ((*o)->depth(), 2u);
  }
  {
    // A crash in the middle of writing a line leaves it torn.
    std::ofstream torn(path, std::ios::app);
    torn << "A {\"id\":\"d\",\"receiver\":";
  }
  auto o = Outbox::Open(path);
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ((*o)->skipped_lines(), 1);
  std::vector<Notification> replay = (*o)->TakeReplay();
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].id, "a");
  EXPECT_EQ(replay[1].id, "c");
  EXPECT_EQ(replay[0], Make("a", "slack", clock.Now())) << "read back exactly";
  EXPECT_TRUE((*o)->TakeReplay().empty()) << "handed out once";
  // Reopened, the file was rewritten with only what is pending.
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 2);
}

TEST_F(DispatcherTest, ResumeDeliversWhatTheOutboxHeld) {
  ASSERT_TRUE(outbox_->Add(Make("old", "slack", clock_.Now())));
  auto reopened = Outbox::Open(dir_.path() + "/outbox.log");
  ASSERT_TRUE(reopened);
  outbox_ = std::move(reopened).value();
  Start();
  dispatcher_->Resume();
  dispatcher_->RunDue();
  ASSERT_EQ(attempts_->size(), 1u);
  EXPECT_EQ((*attempts_)[0].first, "old");
  EXPECT_EQ(outbox_->depth(), 0u);
}

}  // namespace
}  // namespace obsgate::alerting
