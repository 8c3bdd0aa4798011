// Leader election against the fake Kubernetes API's Leases and against a file lock: one holder at
// a time, a takeover only after the lease went unrenewed for its duration, a holder that cannot
// renew stops acting first, a release hands over at once.
#include "ha/leader_election.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <thread>

#include "core/clock.hpp"
#include "tests/fakes/kubernetes.hpp"
#include "tests/support/process.hpp"

namespace obsgate::ha {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(k8s_.Start());
    k8s_.RequireToken("t0ken");  // the kubeconfig's: a lock that sent none would get 401
    kubeconfig_ = dir_.Write("kubeconfig", k8s_.Kubeconfig("obsgate"));
  }

  core::Config Config(const std::string& election) {
    core::ConfigLoad load = core::ParseConfig(
        "orchestrator: {kubernetes: {kubeconfig: " + kubeconfig_ + ", timeout: 2s}}\n" +
            "data_dir: " + dir_.path() + "\nleader_election: " + election + "\n",
        "test", core::ProcessEnv());
    EXPECT_TRUE(load.config) << (load.problems.empty() ? "" : load.problems[0].ToString());
    return load.config ? *load.config : core::Config{};
  }

  std::unique_ptr<LeaderElector> Elector(const core::Config& config, const std::string& identity) {
    core::Config c = config;
    c.leader_election.identity = identity;
    auto e = LeaderElector::Create(c, core::ProcessEnv(), clock_, registry_);
    EXPECT_TRUE(e) << e.error();
    return std::move(e).value();
  }

  std::string Holder() {
    auto lease = k8s_.Get("leases", "obsgate", "obsgate");
    return lease ? lease->Text({"spec", "holderIdentity"}) : "<none>";
  }

  fakes::FakeKubernetes k8s_;
  obsgate::testing::TempDir dir_;
  std::string kubeconfig_;
  core::SystemClock clock_;
  prometheus::Registry registry_;
};

// Short durations keep the test quick; each wait is a bound on a condition, not a measurement.
constexpr const char* kQuick =
    "{lease_duration: 900ms, renew_deadline: 600ms, retry_period: 100ms}";

TEST_F(LeaderElectionTest, OneHoldsTheLeaseTheOtherTakesOverOnlyWhenItLapses) {
  core::Config config = Config(kQuick);
  auto a = Elector(config, "replica-a");
  auto b = Elector(config, "replica-b");

  a->TryAcquireOrRenew();
  EXPECT_TRUE(a->leading());
  EXPECT_EQ(Holder(), "replica-a");
  auto lease = k8s_.Get("leases", "obsgate", "obsgate");
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->At({"spec", "leaseDurationSeconds"})->Integer(), 0)
      << "900ms rounds down to whole seconds as the API keeps them";

  b->TryAcquireOrRenew();
  EXPECT_FALSE(b->leading());
  EXPECT_EQ(b->holder(), "replica-a");

  // a renews: b keeps standing by however long that goes on.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(150ms);
    a->TryAcquireOrRenew();
    b->TryAcquireOrRenew();
    ASSERT_TRUE(a->leading());
    ASSERT_FALSE(b->leading());
  }

  // a stops renewing (hung, partitioned): it stops acting after renew_deadline, before b may
  // take the lease after lease_duration.
  std::this_thread::sleep_for(650ms);
  EXPECT_FALSE(a->leading()) << "past renew_deadline without renewing";
  b->TryAcquireOrRenew();
  EXPECT_EQ(Holder(), "replica-a") << "not yet lapsed as b observed it";
  std::this_thread::sleep_for(400ms);
  b->TryAcquireOrRenew();
  EXPECT_TRUE(b->leading());
  EXPECT_EQ(Holder(), "replica-b");
  lease = k8s_.Get("leases", "obsgate", "obsgate");
  EXPECT_EQ(lease->At({"spec", "leaseTransitions"})->Integer(), 1);

  a->TryAcquireOrRenew();
  EXPECT_FALSE(a->leading());
  EXPECT_EQ(a->holder(), "replica-b");
}

TEST_F(LeaderElectionTest, ReleasingOnStopHandsOverAtOnce) {
  core::Config config = Config("{lease_duration: 30s, renew_deadline: 20s, retry_period: 5s}");
  auto a = Elector(config, "replica-a");
  auto b = Elector(config, "replica-b");
  a->TryAcquireOrRenew();
  b->TryAcquireOrRenew();
  ASSERT_TRUE(a->leading());
  ASSERT_FALSE(b->leading());
  a->Start();
  a->Stop();
  EXPECT_FALSE(a->leading());
  EXPECT_EQ(Holder(), "") << "released: no holder";
  b->TryAcquireOrRenew();
  EXPECT_TRUE(b->leading()) << "no wait for the 30s lease";
}

TEST_F(LeaderElectionTest, AHolderThatCannotRenewStopsActing) {
  core::Config config = Config(kQuick);
  auto a = Elector(config, "replica-a");
  a->TryAcquireOrRenew();
  ASSERT_TRUE(a->leading());
  k8s_.AddFault({.method = "", .path_part = "/leases/", .status = 500, .times = 100});
  a->TryAcquireOrRenew();
  EXPECT_TRUE(a->leading()) << "one failed renewal is within the deadline";
  std::this_thread::sleep_for(650ms);
  a->TryAcquireOrRenew();
  EXPECT_FALSE(a->leading());
}

TEST_F(LeaderElectionTest, OfTwoWritesOfOneReadOnlyTheFirstLands) {
  core::Config config = Config(kQuick);
  auto first = KubernetesLeaseLock(config, core::ProcessEnv());
  auto second = KubernetesLeaseLock(config, core::ProcessEnv());
  ASSERT_TRUE(first && second);
  LeaderRecord r;
  r.holder = "x";
  r.lease_seconds = 15;
  ASSERT_TRUE((*first)->Create(r));
  ASSERT_TRUE((*first)->Get());
  ASSERT_TRUE((*second)->Get());
  r.holder = "first";
  EXPECT_TRUE((*first)->Update(r));
  r.holder = "second";
  core::Status lost = (*second)->Update(r);
  ASSERT_FALSE(lost);
  EXPECT_THAT(lost.error(), HasSubstr("HTTP 409"));
  EXPECT_THAT(lost.error(), HasSubstr("another replica wrote it first"));
  EXPECT_EQ(Holder(), "first");
}

TEST_F(LeaderElectionTest, AFileLockHasOneHolderWhateverTheRecordSays) {
  core::Config config = Config("{file: " + dir_.path() +
                               "/leader.lock, lease_duration: 900ms, "
                               "renew_deadline: 600ms, retry_period: 100ms}");
  auto a = Elector(config, "replica-a");
  auto b = Elector(config, "replica-b");
  a->TryAcquireOrRenew();
  ASSERT_TRUE(a->leading());
  // b waits out the lease as it observed it, then tries: the flock still says no.
  b->TryAcquireOrRenew();
  std::this_thread::sleep_for(1s);
  b->TryAcquireOrRenew();
  EXPECT_FALSE(b->leading());
  EXPECT_EQ(b->holder(), "replica-a");
  a.reset();  // the process holding it goes away: the kernel lets the flock go
  std::this_thread::sleep_for(1s);
  b->TryAcquireOrRenew();
  EXPECT_TRUE(b->leading());
}

TEST_F(LeaderElectionTest, TimingsThatCouldLetTwoActAreRefused) {
  core::ConfigLoad load = core::ParseConfig(
      "leader_election: {file: x.lock, lease_duration: 10s, renew_deadline: 10s}\n", "test",
      core::ProcessEnv());
  ASSERT_FALSE(load.config);
  EXPECT_THAT(load.problems[0].ToString(), HasSubstr("renew_deadline"));
  load = core::ParseConfig("leader_election: {lease: {name: x}}\n", "test", core::ProcessEnv());
  ASSERT_FALSE(load.config);
  EXPECT_THAT(load.problems[0].ToString(), HasSubstr("orchestrator.kubernetes"));
}

}  // namespace
}  // namespace obsgate::ha
