// The default rules and the rollback guards against the releases they must tell apart, second
// by second on a fake clock: a healthy release stays, a 5% release is rolled back once, low
// traffic proves nothing, and an outage that hits every version is nobody's release.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>

#include "app/rules_setup.hpp"
#include "rollback/audit.hpp"
#include "rollback/controller.hpp"
#include "rules/rule_engine.hpp"
#include "rules/window_store.hpp"

namespace obsgate::app {
namespace {

using namespace std::chrono_literals;

// An orchestrator that only records what it is asked to do.
class RecordingOrchestrator final : public rollback::Orchestrator {
 public:
  std::string_view kind() const override { return "recording"; }
  core::Result<std::vector<rollback::Revision>> Revisions(const rollback::Target&) override {
    return std::vector<rollback::Revision>{};
  }
  rollback::ActionResult RollBack(const rollback::Target& t, const std::string&) override {
    calls->push_back(t.ns + "/" + t.deployment);
    rollback::ActionResult r;
    r.outcome = rollback::ActionResult::Outcome::kDone;
    r.to_version = "v1";
    return r;
  }
  rollback::ActionResult SetImage(const rollback::Target&, const std::string&,
                                  const std::string&) override {
    return {};
  }
  core::Result<rollback::RolloutStatus> Status(const rollback::Target&) override {
    return rollback::RolloutStatus{};
  }
  std::shared_ptr<std::vector<std::string>> calls = std::make_shared<std::vector<std::string>>();
};

class Scenario : public ::testing::Test {
 protected:
  void SetUp() override {
    core::Config config;  // no rules: key, so the defaults run
    auto engine = rules::RuleEngine::Create(RuleSpecsFrom(config), store_, clock_, registry_);
    ASSERT_TRUE(engine) << engine.error();
    engine_ = std::move(engine).value();
    auto audit = rollback::AuditLog::Open("");
    ASSERT_TRUE(audit);
    audit_ = std::move(audit).value();
    auto orchestrator = std::make_unique<RecordingOrchestrator>();
    calls_ = orchestrator->calls;
    controller_ = std::make_unique<rollback::RollbackController>(
        std::move(orchestrator), core::RollbackConfig{}, store_, *audit_, clock_,
        [this](const rollback::RollbackEvent& e) { decisions_.push_back(e); }, registry_);
    engine_->AddListener(controller_.get());
    controller_->Start();
  }
  void TearDown() override { controller_->Stop(); }

  // `seconds` of traffic: per version, requests per second and the fraction that fail (errors
  // spread evenly, so 0.2% at 50/s is one error every 10 seconds).
  void Run(int seconds, std::map<std::string, std::pair<double, double>> traffic) {
    for (int s = 0; s < seconds; ++s) {
      for (const auto& [version, rate] : traffic) {
        double& carry_requests = carry_[version].first;
        double& carry_errors = carry_[version].second;
        carry_requests += rate.first;
        carry_errors += rate.first * rate.second;
        core::Counts& c = local_.At("shop", "auth", version);
        auto n = static_cast<std::uint64_t>(carry_requests);
        auto e = static_cast<std::uint64_t>(carry_errors);
        c.requests += n;
        c.errors += e;
        carry_requests -= static_cast<double>(n);
        carry_errors -= static_cast<double>(e);
      }
      store_.Merge(local_);
      clock_.Advance(1s);
      store_.Tick();
      engine_->Evaluate();
    }
    controller_->Drain();
  }
  bool Fired(const std::string& rule, const std::string& version) {
    for (const rules::Alert& a : engine_->Alerts()) {
      if (a.rule == rule && a.series.version == version && a.state == rules::AlertState::kFiring) {
        return true;
      }
    }
    return false;
  }

  core::FakeClock clock_;
  prometheus::Registry registry_;
  rules::WindowStore store_{rules::WindowOptions{}, clock_};
  std::unique_ptr<rules::RuleEngine> engine_;
  std::unique_ptr<rollback::AuditLog> audit_;
  std::unique_ptr<rollback::RollbackController> controller_;
  std::shared_ptr<std::vector<std::string>> calls_;
  std::vector<rollback::RollbackEvent> decisions_;
  core::LocalCounts local_;
  std::map<std::string, std::pair<double, double>> carry_;
};

TEST_F(Scenario, AHealthyReleaseIsNotRolledBack) {
  Run(600, {{"v1", {50, 0.002}}});
  Run(900, {{"v2", {50, 0.002}}});
  EXPECT_TRUE(calls_->empty());
  EXPECT_TRUE(decisions_.empty());
}

TEST_F(Scenario, AFivePercentReleaseIsRolledBackOnceWithinAMinute) {
  Run(600, {{"v1", {50, 0.002}}});
  int seconds = 0;
  while (calls_->empty() && seconds < 600) {
    Run(1, {{"v2", {50, 0.05}}});
    ++seconds;
  }
  ASSERT_EQ(calls_->size(), 1u);
  // The rule needs 100 requests (2s at 50/s), significance, then holds for 30s.
  EXPECT_LE(seconds, 60) << "rolled back " << seconds << "s after the rollout";
  Run(300, {{"v2", {50, 0.05}}});  // still failing: still one rollback
  EXPECT_EQ(calls_->size(), 1u);
  ASSERT_FALSE(decisions_.empty());
  EXPECT_EQ(decisions_[0].result, "rolled_back");
  EXPECT_EQ(decisions_[0].bad_version, "v2");
  EXPECT_EQ(decisions_[0].baseline_version, "v1");
}

TEST_F(Scenario, LowTrafficDoesNotRollBack) {
  Run(600, {{"v1", {0.1, 0.002}}});
  Run(900, {{"v2", {0.2, 0.05}}});  // 60 requests in 5 minutes: too few to judge
  EXPECT_FALSE(Fired("ErrorRateAbove1Percent", "v2"));
  EXPECT_TRUE(calls_->empty());
}

TEST_F(Scenario, AnOutageThatHitsEveryVersionDoesNotRollBack) {
  Run(600, {{"v1", {50, 0.002}}});
  Run(120, {{"v1", {45, 0.002}}, {"v2", {5, 0.002}}});  // a canary: v2 takes 10%
  Run(600, {{"v1", {45, 0.10}}, {"v2", {5, 0.10}}});    // the database goes down for both
  EXPECT_FALSE(Fired("ErrorRateAbove1Percent", "v2")) << "v2 is no worse than v1";
  EXPECT_TRUE(Fired("HighErrorRate", "v2")) << "people still hear that errors are high";
  EXPECT_TRUE(calls_->empty());
}

}  // namespace
}  // namespace obsgate::app
