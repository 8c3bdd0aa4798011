// Two gateways on the same traffic and the same (fake) Kubernetes API, one Lease between them:
// one acts and rolls the bad release back once, the other stands by and says so; kill -9 the
// leader and the other takes over within the lease, and does not roll back a second time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "core/time.hpp"
#include "tests/fakes/kubernetes.hpp"
#include "tests/integration/gateway_process.hpp"
#include "tests/integration/traffic.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

bool Leads(std::uint16_t port) {
  return Get(port, "/api/v1/leader").body.find("\"leading\":true") != std::string::npos;
}

TEST(Replicas, OneLeaderRollsBackOnceAndTheOtherTakesOverWhenItDies) {
  fakes::FakeKubernetes k8s;
  ASSERT_TRUE(k8s.Start());
  k8s.AddDeployment(
      {.ns = "shop", .name = "auth", .image = "registry.example.com/shop/auth", .revisions = 2});
  TempDir dir;
  std::string kubeconfig = dir.Write("kubeconfig", k8s.Kubeconfig("obsgate"));
  auto config = [&](const std::string& name) {
    return dir.Write(name + "/obsgate.yaml",
                     "listen: 127.0.0.1:0\n" + ReplicaConfig(kubeconfig, name));
  };
  auto a = std::make_unique<GatewayProcess>(GatewayProcess::Start(config("replica-a")));
  for (int i = 0; i < 40 && !Leads(a->port); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(Leads(a->port)) << a->process->Output();
  GatewayProcess b = GatewayProcess::Start(config("replica-b"));
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(Leads(b.port));
  EXPECT_THAT(Get(b.port, "/api/v1/leader").body, HasSubstr("\"holder\":\"replica-a\""));
  EXPECT_THAT(Get(b.port, "/metrics").body,
              HasSubstr("obsgate_leader{identity=\"replica-b\",lock=\"lease obsgate/obsgate\"} 0"));

  // The same traffic to both: v1 healthy, then v2 failing 5%.
  for (int i = 0; i < 6; ++i) {
    PushSecond(a->port, "v1", 500, 1);
    PushSecond(b.port, "v1", 500, 1);
    std::this_thread::sleep_for(1s);
  }
  std::string a_rollbacks, b_rollbacks;
  for (int i = 0; i < 30; ++i) {
    PushSecond(a->port, "v2", 500, 25);
    PushSecond(b.port, "v2", 500, 25);
    std::this_thread::sleep_for(1s);
    a_rollbacks = Get(a->port, "/api/v1/rollbacks").body;
    b_rollbacks = Get(b.port, "/api/v1/rollbacks").body;
    if (a_rollbacks.find("\"result\":\"rolled_back\"") != std::string::npos &&
        b_rollbacks.find("\"result\":\"standby\"") != std::string::npos) {
      break;
    }
  }
  EXPECT_THAT(a_rollbacks, HasSubstr("\"result\":\"rolled_back\"")) << a->process->Output();
  EXPECT_THAT(b_rollbacks, HasSubstr("\"result\":\"standby\""));
  EXPECT_THAT(b_rollbacks, HasSubstr("replica-a leads and decides; this replica stands by"));
  ASSERT_EQ(k8s.Requests("PATCH").size(), 1u);

  // The leader dies without a word: b takes the Lease once it lapses.
  auto before = k8s.Get("leases", "obsgate", "obsgate");
  ASSERT_TRUE(before);
  a->process->Signal(SIGKILL);
  a->process->Wait(10s);
  a.reset();
  for (int i = 0; i < 100 && !Leads(b.port); ++i) {
    PushSecond(b.port, "v2", 500, 25);
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(Leads(b.port)) << b.process->Output();
  auto after = k8s.Get("leases", "obsgate", "obsgate");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->Text({"spec", "holderIdentity"}), "replica-b");
  EXPECT_EQ(after->At({"spec", "leaseTransitions"})->Integer(),
            before->At({"spec", "leaseTransitions"})->Integer().value_or(0) + 1);
  // Taken once the lease lapsed as b saw it: a's last renewal plus the lease, give or take the
  // retry periods both look at it with (the protocol's bound, read from the Lease's own times; the
  // upper one generous, for a loaded machine).
  auto renewed = core::ParseRfc3339(before->Text({"spec", "renewTime"}));
  auto acquired = core::ParseRfc3339(after->Text({"spec", "acquireTime"}));
  ASSERT_TRUE(renewed && acquired);
  EXPECT_GE(*acquired - *renewed, 3s - 600ms) << "no takeover before the lease could lapse";
  EXPECT_LE(*acquired - *renewed, 3s + 4s) << "taken over once the lease lapsed, not much later";

  // The new leader goes on from there; the release is rolled back already, nothing is sent again.
  for (int i = 0; i < 5; ++i) {
    PushSecond(b.port, "v2", 500, 25);
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(k8s.Requests("PATCH").size(), 1u) << Get(b.port, "/api/v1/rollbacks").body;
  EXPECT_THAT(Get(b.port, "/metrics").body,
              HasSubstr("obsgate_leader{identity=\"replica-b\",lock=\"lease obsgate/obsgate\"} 1"));
  EXPECT_THAT(b.process->Output(), HasSubstr("\"msg\":\"leading: this replica acts now\""));
}

}  // namespace
}  // namespace obsgate::testing
