#include "rollback/guard.hpp"

#include <gtest/gtest.h>

namespace obsgate::rollback {
namespace {

using namespace std::chrono_literals;
using V = Decision::Verdict;

Candidate Auth(std::string version = "v2") {
  Candidate c;
  c.target = {"shop", "auth"};
  c.bad_version = std::move(version);
  c.baseline_version = "v1";
  c.age = 5min;
  c.baseline_error_rate = 0.002;
  return c;
}

class GuardTest : public ::testing::Test {
 protected:
  core::FakeClock clock_;
  core::RollbackConfig config_;
  RollbackGuard Guard() { return RollbackGuard(config_, clock_); }
};

TEST_F(GuardTest, AYoungBadVersionWithAHealthyBaselineIsRolledBack) {
  RollbackGuard g = Guard();
  Decision d = g.Decide(Auth());
  EXPECT_EQ(d.verdict, V::kAct) << d.reason;
}

TEST_F(GuardTest, OnlyWithinRefusesOldVersionsButNotPeopleOrPipelines) {
  RollbackGuard g = Guard();
  Candidate old = Auth();
  old.age = 31min;
  Decision d = g.Decide(old);
  EXPECT_EQ(d.verdict, V::kRefused);
  EXPECT_EQ(d.guard, "only_within");
  EXPECT_NE(d.reason.find("31m"), std::string::npos) << d.reason;
  old.age.reset();
  EXPECT_EQ(g.Decide(old).guard, "only_within") << "unknown age is not young";
  old.origin = Candidate::Origin::kPipeline;
  old.age = 2h;
  EXPECT_EQ(g.Decide(old).verdict, V::kAct);
  Candidate person = Auth("v3");
  person.age = 48h;
  person.origin = Candidate::Origin::kPerson;
  EXPECT_EQ(g.Decide(person).verdict, V::kAct);
}

TEST_F(GuardTest, BaselineMustExistAndBeHealthy) {
  RollbackGuard g = Guard();
  Candidate none = Auth();
  none.baseline_version.clear();
  EXPECT_EQ(g.Decide(none).guard, "baseline");
  Candidate quiet = Auth();
  quiet.baseline_error_rate.reset();
  EXPECT_EQ(g.Decide(quiet).guard, "baseline");
  Candidate sick = Auth();
  sick.baseline_error_rate = 0.05;
  Decision d = g.Decide(sick);
  EXPECT_EQ(d.guard, "baseline");
  EXPECT_NE(d.reason.find("5.00%"), std::string::npos) << d.reason;
  sick.origin = Candidate::Origin::kPerson;
  EXPECT_EQ(g.Decide(sick).verdict, V::kAct) << "a person may decide otherwise";
  config_.require_healthy_baseline = false;
  RollbackGuard lenient = Guard();
  EXPECT_EQ(lenient.Decide(none).verdict, V::kAct);
}

TEST_F(GuardTest, CooldownPerDeployment) {
  config_.cooldown = 10min;
  RollbackGuard g = Guard();
  ASSERT_EQ(g.Decide(Auth("v2")).verdict, V::kAct);
  g.Acted({"shop", "auth"}, "v2", true);
  clock_.Advance(9min);
  Decision d = g.Decide(Auth("v3"));
  EXPECT_EQ(d.guard, "cooldown");
  EXPECT_NE(d.reason.find("9m"), std::string::npos) << d.reason;
  Candidate cart = Auth("v9");
  cart.target.deployment = "cart";
  EXPECT_EQ(g.Decide(cart).verdict, V::kAct) << "another deployment is not cooling down";
  clock_.Advance(1min);
  EXPECT_EQ(g.Decide(Auth("v3")).verdict, V::kAct);
}

TEST_F(GuardTest, MaxPerHourAcrossAllDeployments) {
  config_.max_per_hour = 2;
  config_.cooldown = 0ms;
  RollbackGuard g = Guard();
  for (const char* d : {"a", "b"}) {
    Candidate c = Auth();
    c.target.deployment = d;
    ASSERT_EQ(g.Decide(c).verdict, V::kAct);
    g.Acted(c.target, c.bad_version, true);
    clock_.Advance(10min);
  }
  Candidate third = Auth();
  third.target.deployment = "c";
  EXPECT_EQ(g.Decide(third).guard, "max_per_hour");
  clock_.Advance(40min);  // the first is an hour old now
  EXPECT_EQ(g.Decide(third).verdict, V::kAct);
}

TEST_F(GuardTest, NeverAcrossAContractMigration) {
  RollbackGuard g = Guard();
  g.MarkContractMigration({"shop", "auth"}, "0042_drop_legacy_email.py");
  Decision d = g.Decide(Auth());
  EXPECT_EQ(d.guard, "migration");
  EXPECT_NE(d.reason.find("0042_drop_legacy_email.py"), std::string::npos);
  Candidate pipeline = Auth();
  pipeline.origin = Candidate::Origin::kPipeline;
  EXPECT_EQ(g.Decide(pipeline).guard, "migration") << "the pipeline's own rollback too";
  g.ClearContractMigration({"shop", "auth"});
  EXPECT_EQ(g.Decide(Auth()).verdict, V::kAct);
}

TEST_F(GuardTest, DryRunDecidesWithoutActing) {
  config_.dry_run = true;
  RollbackGuard g = Guard();
  Decision d = g.Decide(Auth());
  EXPECT_EQ(d.verdict, V::kDryRun);
  EXPECT_NE(d.reason.find("would be rolled back to v1"), std::string::npos) << d.reason;
}

TEST_F(GuardTest, PauseWaitsForAPerson) {
  config_.pause = true;
  RollbackGuard g = Guard();
  Decision d = g.Decide(Auth());
  EXPECT_EQ(d.verdict, V::kPause);
  EXPECT_NE(d.reason.find("obsgate rollback shop/auth"), std::string::npos) << d.reason;
  Candidate person = Auth("v3");
  person.origin = Candidate::Origin::kPerson;
  EXPECT_EQ(g.Decide(person).verdict, V::kAct) << "the person is who pause waits for";
}

TEST_F(GuardTest, OneDecisionPerDeploymentAndVersion) {
  RollbackGuard g = Guard();
  ASSERT_EQ(g.Decide(Auth()).verdict, V::kAct);
  EXPECT_EQ(g.Decide(Auth()).verdict, V::kDuplicate);
  g.Acted({"shop", "auth"}, "v2", false);  // the orchestrator could not do it
  EXPECT_EQ(g.Decide(Auth()).verdict, V::kAct) << "a failed attempt may be decided again";
}

TEST_F(GuardTest, ASharedOutageIsRefusedWhenABystanderFailsAlikeAtTheSameTime) {
  Candidate c = Auth();
  c.recent_error_rate = 0.08;
  // search: 8% of 1200 requests in the last minute, up from 0.2% before.
  c.peers = {{"shop/search", 1200, 96, 12000, 24}};
  RollbackGuard g = Guard();
  Decision d = g.Decide(c);
  EXPECT_EQ(d.verdict, V::kRefused);
  EXPECT_EQ(d.guard, "shared_outage");
  EXPECT_NE(d.reason.find("shop/search"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("8.00% of 1200 requests over 1m, up from 0.20%"), std::string::npos)
      << d.reason;

  Candidate chronic = Auth("v3");  // a peer that always fails at 8% did not start with us
  chronic.recent_error_rate = 0.08;
  chronic.peers = {{"shop/legacy", 1200, 96, 12000, 960}};
  EXPECT_EQ(g.Decide(chronic).verdict, V::kAct);

  Candidate mild = Auth("v4");  // a peer up from 0.2% to 1.5%: not the release's 8%
  mild.recent_error_rate = 0.08;
  mild.peers = {{"shop/search", 1200, 18, 12000, 24}};
  EXPECT_EQ(RollbackGuard(config_, clock_).Decide(mild).verdict, V::kAct);

  Candidate quiet = Auth("v5");  // too few requests to tell
  quiet.recent_error_rate = 0.08;
  quiet.peers = {{"shop/search", 10, 5, 100, 0}};
  EXPECT_EQ(RollbackGuard(config_, clock_).Decide(quiet).verdict, V::kAct);

  Candidate person = c;
  person.origin = Candidate::Origin::kPerson;
  EXPECT_EQ(RollbackGuard(config_, clock_).Decide(person).verdict, V::kAct)
      << "a person decides for themselves";
  config_.shared_outage.peers = core::RollbackConfig::SharedOutage::Peers::kNone;
  EXPECT_EQ(RollbackGuard(config_, clock_).Decide(c).verdict, V::kAct) << "turned off";
}

TEST_F(GuardTest, APersonsForceSkipsDuplicateAndCooldownButNotMaxPerHour) {
  config_.cooldown = 10min;
  config_.max_per_hour = 2;
  RollbackGuard g = Guard();
  g.Remember({"shop", "auth"}, "v1.3.0", clock_.Now());  // an earlier run rolled it back
  Candidate person = Auth("v1.3.0");
  person.origin = Candidate::Origin::kPerson;
  Decision refused = g.Decide(person);
  EXPECT_EQ(refused.verdict, V::kDuplicate);
  EXPECT_NE(refused.reason.find("obsgate rollback --force shop/auth"), std::string::npos)
      << refused.reason;
  Decision cooling = g.Decide(Auth("v1.3.1"));
  EXPECT_EQ(cooling.guard, "cooldown");
  EXPECT_EQ(cooling.reason.find("--force"), std::string::npos)
      << "a rule cannot be forced: " << cooling.reason;
  person.forced = true;
  ASSERT_EQ(g.Decide(person).verdict, V::kAct);
  g.Acted(person.target, person.bad_version, true);
  Candidate third = person;
  third.bad_version = "v1.2.9";
  EXPECT_EQ(g.Decide(third).guard, "max_per_hour") << "force skips only duplicate and cooldown";
}

}  // namespace
}  // namespace obsgate::rollback
