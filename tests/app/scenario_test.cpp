// The default rules and the rollback guards against the releases they must tell apart, second
// by second on a fake clock: a healthy release stays, a 5% release is rolled back once, low
// traffic proves nothing, an outage that hits every version is nobody's release, and neither is
// one that hits a deployment with no release at the same time; strong evidence decides at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <random>

#include "app/rules_setup.hpp"
#include "rollback/audit.hpp"
#include "rollback/controller.hpp"
#include "rollback/exec/exec_orchestrator.hpp"
#include "rollback/simulated/simulated_orchestrator.hpp"
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
  rollback::ActionResult RollBack(const rollback::Target& t,
                                  const rollback::RollbackRequest&) override {
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
    std::unique_ptr<rollback::Orchestrator> orchestrator = MakeOrchestrator();
    ASSERT_NE(orchestrator, nullptr);
    core::Config config;  // no rules: key, so the defaults run
    auto engine = rules::RuleEngine::Create(RuleSpecsFrom(config), store_, clock_, registry_);
    ASSERT_TRUE(engine) << engine.error();
    engine_ = std::move(engine).value();
    auto audit = rollback::AuditLog::Open("");
    ASSERT_TRUE(audit);
    audit_ = std::move(audit).value();
    if (auto* recording = dynamic_cast<RecordingOrchestrator*>(orchestrator.get())) {
      calls_ = recording->calls;
    }
    controller_ = std::make_unique<rollback::RollbackController>(
        std::move(orchestrator), core::RollbackConfig{}, store_, *audit_, clock_,
        [this](const rollback::RollbackEvent& e) { decisions_.push_back(e); }, registry_);
    engine_->AddListener(controller_.get());
    controller_->Start();
  }
  void TearDown() override {
    if (controller_) controller_->Stop();
  }
  virtual std::unique_ptr<rollback::Orchestrator> MakeOrchestrator() {
    return std::make_unique<RecordingOrchestrator>();
  }

  // `seconds` of traffic: per version ("v1" of shop/auth, or "cart/v2" of shop/cart), requests
  // per second and the fraction that fail. Errors are spread evenly (0.2% at 50/s is one error
  // every 10 seconds), or drawn at random each second with `random_`.
  void Run(int seconds, std::map<std::string, std::pair<double, double>> traffic) {
    for (int s = 0; s < seconds; ++s) {
      for (const auto& [name, rate] : traffic) {
        double& carry_requests = carry_[name].first;
        double& carry_errors = carry_[name].second;
        carry_requests += rate.first;
        auto n = static_cast<std::uint64_t>(carry_requests);
        if (random_) {
          carry_errors +=
              static_cast<double>(std::binomial_distribution<std::uint64_t>(n, rate.second)(rng_));
        } else {
          carry_errors += rate.first * rate.second;
        }
        std::size_t slash = name.find('/');
        std::string deployment = slash == std::string::npos ? "auth" : name.substr(0, slash);
        std::string version = slash == std::string::npos ? name : name.substr(slash + 1);
        core::Counts& c = local_.At("shop", deployment, version);
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
      controller_->DecideWhatWasStoodBy();  // as the gateway's tick does
    }
    controller_->Drain();
  }
  // Runs `traffic` until the orchestrator is called, at most `limit` seconds; the seconds taken.
  int SecondsToRollback(std::map<std::string, std::pair<double, double>> traffic, int limit) {
    int seconds = 0;
    while (calls_->empty() && seconds < limit) {
      Run(1, traffic);
      ++seconds;
    }
    return seconds;
  }
  const rules::Alert* Firing(const std::string& rule, const std::string& version,
                             const std::string& deployment = "auth") {
    alerts_ = engine_->Alerts();
    for (const rules::Alert& a : alerts_) {
      if (a.rule == rule && a.series.version == version && a.series.deployment == deployment &&
          a.state == rules::AlertState::kFiring) {
        return &a;
      }
    }
    return nullptr;
  }
  bool Fired(const std::string& rule, const std::string& version) {
    return Firing(rule, version) != nullptr;
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
  std::vector<rules::Alert> alerts_;
  bool random_ = false;
  std::mt19937_64 rng_{20261204};
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
  EXPECT_FALSE(Fired("ErrorRateConclusivelyWorse", "v2"));
  EXPECT_TRUE(Fired("HighErrorRate", "v2")) << "people still hear that errors are high";
  EXPECT_TRUE(calls_->empty());
}

TEST_F(Scenario, AHalfFailingReleaseIsRolledBackWithinFiveSecondsOfItsFirstHundredRequests) {
  Run(600, {{"v1", {20, 0.002}}});
  // A canary at 20 requests/s beside v1: its 100th request arrives in the 5th second.
  int seconds = SecondsToRollback({{"v1", {20, 0.002}}, {"v2", {20, 0.5}}}, 120);
  ASSERT_EQ(calls_->size(), 1u);
  EXPECT_LE(seconds, 5 + 5) << "rolled back " << seconds << "s after the rollout";
  ASSERT_FALSE(decisions_.empty());
  EXPECT_EQ(decisions_[0].origin, "rule ErrorRateConclusivelyWorse");
  EXPECT_EQ(decisions_[0].result, "rolled_back");
}

TEST_F(Scenario, AFivePercentReleaseAtTwentyRequestsASecondIsRolledBackWithinThirtySeconds) {
  Run(600, {{"v1", {20, 0.002}}});
  int seconds = SecondsToRollback({{"v1", {20, 0.002}}, {"v2", {20, 0.05}}}, 300);
  ASSERT_EQ(calls_->size(), 1u);
  EXPECT_LE(seconds, 30) << "rolled back " << seconds << "s after the rollout, not before its for:";
  EXPECT_EQ(decisions_[0].origin, "rule ErrorRateConclusivelyWorse");
}

TEST_F(Scenario, NoisyHealthyReleasesAreNeverRolledBack) {
  random_ = true;  // errors drawn at random: bursts and droughts, as real traffic has
  Run(600, {{"v1", {20, 0.008}}});
  Run(60, {{"v1", {18, 0.008}}, {"v2", {2, 0.008}}});
  Run(1800, {{"v1", {10, 0.008}}, {"v2", {10, 0.008}}});
  Run(1800, {{"v2", {20, 0.008}}});
  Run(1800, {{"v3", {20, 0.008}}});  // and a third that replaces v2 at once
  EXPECT_TRUE(calls_->empty());
  EXPECT_TRUE(decisions_.empty()) << decisions_[0].reason;
}

// cart's v2 replaced v1 and is healthy; then a dependency that cart and search (no release)
// share fails at 8%. v1's last window is from before the outage, so only search can tell.
TEST_F(Scenario, ASharedOutageAfterAFullRolloutIsNotRolledBackButStillAlerts) {
  Run(600, {{"cart/v1", {20, 0.002}}, {"search/v1", {20, 0.002}}});
  Run(50, {{"cart/v2", {20, 0.002}}, {"search/v1", {20, 0.002}}});
  Run(300, {{"cart/v2", {20, 0.08}}, {"search/v1", {20, 0.08}}});
  EXPECT_TRUE(calls_->empty()) << "cart was rolled back for a shared outage";
  ASSERT_FALSE(decisions_.empty()) << "the rule fired and the guard was asked";
  const rollback::RollbackEvent& d = decisions_[0];
  EXPECT_EQ(d.result, "refused");
  EXPECT_EQ(d.guard, "shared_outage");
  EXPECT_NE(d.reason.find("shop/search"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("rolling back would not fix it"), std::string::npos) << d.reason;
  EXPECT_FALSE(d.values.empty()) << "the refusal carries what the rule measured";
  const rules::Alert* a = Firing("ErrorRateAbove1Percent", "v2", "cart");
  ASSERT_NE(a, nullptr) << "people still hear of it";
  EXPECT_TRUE(a->notify);
}

TEST_F(Scenario, AReleaseFailingAloneAfterAFullRolloutIsRolledBack) {
  Run(600, {{"cart/v1", {20, 0.002}}, {"search/v1", {20, 0.002}}});
  Run(50, {{"cart/v2", {20, 0.002}}, {"search/v1", {20, 0.002}}});
  Run(300, {{"cart/v2", {20, 0.08}}, {"search/v1", {20, 0.002}}});
  ASSERT_EQ(calls_->size(), 1u);
  EXPECT_EQ((*calls_)[0], "shop/cart");
  EXPECT_EQ(decisions_[0].result, "rolled_back");
}

TEST_F(Scenario, ASharedOutageOfADeploymentWithItsOwnReleaseIsNoAlibi) {
  // search rolled out v2 a minute before: its failure is its own story, not evidence.
  Run(600, {{"cart/v1", {20, 0.002}}, {"search/v1", {20, 0.002}}});
  Run(50, {{"cart/v2", {20, 0.002}}, {"search/v2", {20, 0.002}}});
  Run(300, {{"cart/v2", {20, 0.08}}, {"search/v2", {20, 0.08}}});
  EXPECT_EQ(calls_->size(), 2u) << "both releases are rolled back";
}

// The real exec orchestrator, through the controller as a rule's rollback reaches it.
class ExecScenario : public Scenario {
 protected:
  std::unique_ptr<rollback::Orchestrator> MakeOrchestrator() override {
    core::ExecOrchestratorConfig exec;
    exec.rollback = {"printf", "%s",
                     "{namespace}/{deployment} from={from_version} to={to_version}"};
    auto orchestrator = rollback::exec::ExecOrchestrator::Create(exec, clock_);
    if (!orchestrator) return nullptr;
    return std::move(orchestrator).value();
  }
};

TEST_F(ExecScenario, AnExecRollbackIsToldTheBadAndTheBaselineVersions) {
  Run(600, {{"v1", {20, 0.002}}});
  Run(60, {{"v2", {20, 0.5}}});
  ASSERT_EQ(decisions_.size(), 1u);
  const rollback::RollbackEvent& d = decisions_[0];
  EXPECT_EQ(d.result, "rolled_back") << d.message;
  EXPECT_EQ(d.detail, "shop/auth from=v2 to=v1");
  EXPECT_EQ(d.from_version, "v2");
  EXPECT_EQ(d.to_version, "v1");
}

// A replica that took over the lead (or any decider with no memory of the first decision) sees
// the release fail as the first decider did, after the rollback happened.
class AfterARollbackScenario : public Scenario {
 protected:
  std::unique_ptr<rollback::Orchestrator> MakeOrchestrator() override {
    auto o = std::make_unique<rollback::simulated::SimulatedOrchestrator>(clock_, 0s);
    const rollback::Target auth{"shop", "auth"};
    o->AddDeployment(auth, "registry.example.com/shop/auth:v1");
    o->SetImage(auth, "auth", "registry.example.com/shop/auth:v2");
    o->RollBack(auth);  // by the replica that led before
    simulated_ = o.get();
    return o;
  }
  rollback::simulated::SimulatedOrchestrator* simulated_ = nullptr;
};

TEST_F(AfterARollbackScenario, AReleaseRolledBackAlreadyIsNotRolledBackAgain) {
  Run(600, {{"v1", {50, 0.002}}});
  Run(120, {{"v2", {50, 0.05}}});
  ASSERT_FALSE(decisions_.empty());
  for (const rollback::RollbackEvent& d : decisions_) {
    EXPECT_EQ(d.result, "skipped") << d.message;
    EXPECT_THAT(d.message, ::testing::HasSubstr("no longer runs v2; it runs v1"));
  }
  int rollbacks = 0;
  for (const rollback::simulated::SimulatedCall& c : simulated_->Calls())
    rollbacks += c.action == "rollback";
  EXPECT_EQ(rollbacks, 1) << "only the first decider's";
}

// A replica standing by when the release fails, which takes the lead while the alert still fires
// (the leader died, or its lease lapsed, after the alert fired): it decides then, once.
class StandbyScenario : public Scenario {
 protected:
  void SetUp() override {
    Scenario::SetUp();
    controller_->UseLeadership([this] { return leading_.load(); }, [] { return "replica-a"; });
  }
  std::atomic<bool> leading_{false};
};

TEST_F(StandbyScenario, TakingTheLeadDecidesWhatItStoodByForOnce) {
  Run(600, {{"v1", {50, 0.002}}});
  Run(60, {{"v2", {50, 0.05}}});
  ASSERT_FALSE(decisions_.empty());
  EXPECT_EQ(decisions_.back().result, "standby");
  EXPECT_THAT(decisions_.back().message, ::testing::HasSubstr("replica-a leads and decides"));
  EXPECT_TRUE(calls_->empty());
  leading_ = true;
  Run(5, {{"v2", {50, 0.05}}});
  ASSERT_EQ(calls_->size(), 1u) << "decided when it took the lead";
  EXPECT_EQ(decisions_.back().result, "rolled_back");
  Run(30, {{"v2", {50, 0.05}}});
  EXPECT_EQ(calls_->size(), 1u) << "and not again";
}

TEST_F(StandbyScenario, AnAlertThatResolvedWhileStandingByIsNotDecidedLater) {
  Run(600, {{"v1", {50, 0.002}}});
  Run(60, {{"v2", {50, 0.05}}});
  ASSERT_FALSE(decisions_.empty());
  EXPECT_EQ(decisions_.back().result, "standby");
  Run(900, {{"v2", {50, 0.0}}});  // the release recovers; the alert resolves
  leading_ = true;
  Run(5, {{"v2", {50, 0.0}}});
  EXPECT_TRUE(calls_->empty());
}

}  // namespace
}  // namespace obsgate::app
