// Two gateways behind one (imagined) load balancer, as cluster: peers of each other, with one
// Lease between them: pushes of one deployment land on both, yet its counts end up whole on the
// one replica that owns it; a release that fails on a deployment the standby owns is rolled back
// by the leader, once, on the standby's evidence.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <thread>

#include "tests/fakes/kubernetes.hpp"
#include "tests/integration/gateway_process.hpp"
#include "tests/integration/traffic.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr int kDeployments = 16;

// Requests counted per deployment (all versions) in a replica's /api/v1/deployments.
std::map<std::string, long> Requests(std::uint16_t port) {
  std::string body = Get(port, "/api/v1/deployments").body;
  static const std::regex series(
      R"re("deployment":"([^"]+)","version":"[^"]*","first_seen":"[^"]*","last_seen":"[^"]*","total":\{"requests":(\d+))re");
  std::map<std::string, long> out;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), series);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] += std::stol((*it)[2]);
  }
  return out;
}

bool Leads(std::uint16_t port) {
  return Get(port, "/api/v1/leader").body.find("\"leading\":true") != std::string::npos;
}

TEST(Cluster, PushedCountsEndWholeOnTheOwnerAndTheLeaderActsOnTheStandbysEvidence) {
  fakes::FakeKubernetes k8s;
  ASSERT_TRUE(k8s.Start());
  TempDir dir;
  std::string kubeconfig = dir.Write("kubeconfig", k8s.Kubeconfig("obsgate"));
  std::uint16_t pa = FreePort(), pb = FreePort();
  std::string a_url = "http://127.0.0.1:" + std::to_string(pa);
  std::string b_url = "http://127.0.0.1:" + std::to_string(pb);
  auto config = [&](const std::string& name, std::uint16_t port, const std::string& self) {
    return dir.Write(name + "/obsgate.yaml",
                     "listen: 127.0.0.1:" + std::to_string(port) +
                         "\nserver: {api_token: cluster-secret}\n" +
                         ReplicaConfig(kubeconfig, name) + "cluster:\n  peers: [" + a_url + ", " +
                         b_url + "]\n  self: " + self + "\n  forward_interval: 100ms\n");
  };
  GatewayProcess a = GatewayProcess::Start(config("replica-a", pa, a_url));
  for (int i = 0; i < 40 && !Leads(a.port); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(Leads(a.port)) << a.process->Output();
  GatewayProcess b = GatewayProcess::Start(config("replica-b", pb, b_url));
  ASSERT_EQ(a.port, pa);
  ASSERT_EQ(b.port, pb);

  // Every deployment's pushes alternate between the two, as a load balancer would send them.
  std::map<std::string, long> sent;
  for (int round = 0; round < 6; ++round) {
    for (int d = 0; d < kDeployments; ++d) {
      std::string name = "svc-" + std::to_string(d);
      int n = 10 + d + round;
      PushSecond(round % 2 ? pb : pa, "v1", n, 0, name);
      sent[name] += n;
    }
  }
  std::map<std::string, long> on_a, on_b;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(100ms);
    on_a = Requests(pa);
    on_b = Requests(pb);
    long total = 0;
    for (const auto& [d, n] : on_a) total += n;
    for (const auto& [d, n] : on_b) total += n;
    if (total >= 6 * kDeployments * 10) {
      long want = 0;
      for (const auto& [d, n] : sent) want += n;
      if (total >= want) break;
    }
  }
  std::string owned_by_b;
  for (const auto& [d, n] : sent) {
    bool in_a = on_a.count(d) != 0, in_b = on_b.count(d) != 0;
    EXPECT_NE(in_a, in_b) << d << " is counted on " << (in_a ? "both replicas" : "neither");
    EXPECT_EQ(in_a ? on_a[d] : on_b[d], n) << d;
    if (in_b && !in_a && owned_by_b.empty()) owned_by_b = d;
  }
  EXPECT_GT(on_a.size(), 0u) << "a owns nothing: the hash is lopsided";
  EXPECT_GT(on_b.size(), 0u) << "b owns nothing: the hash is lopsided";
  EXPECT_THAT(Get(pa, "/metrics").body, HasSubstr("obsgate_cluster_forwarded_series_total"));
  // The peers' endpoint is an API call that changes counts: the token guards it.
  EXPECT_EQ(Post(pa, "/api/v1/cluster/counts", R"({"series":[]})").status, 401);
  ASSERT_FALSE(owned_by_b.empty());

  // A release of a deployment b owns fails; b's rule sees it, a (the leader) rolls it back.
  k8s.AddDeployment({.ns = "shop",
                     .name = owned_by_b,
                     .image = "registry.example.com/shop/" + owned_by_b,
                     .revisions = 2});
  for (int i = 0; i < 6; ++i) {
    PushSecond(pa, "v1", 250, 0, owned_by_b);
    PushSecond(pb, "v1", 250, 1, owned_by_b);
    std::this_thread::sleep_for(1s);
  }
  std::string a_rollbacks, b_rollbacks;
  // Generous: on a loaded machine the handing over and the rollback take a while.
  for (int i = 0; i < 60; ++i) {
    PushSecond(pa, "v2", 250, 12, owned_by_b);
    PushSecond(pb, "v2", 250, 13, owned_by_b);
    std::this_thread::sleep_for(1s);
    a_rollbacks = Get(pa, "/api/v1/rollbacks").body;
    b_rollbacks = Get(pb, "/api/v1/rollbacks").body;
    if (a_rollbacks.find("\"result\":\"rolled_back\"") != std::string::npos) break;
  }
  EXPECT_THAT(b_rollbacks, HasSubstr("\"result\":\"standby\""));
  EXPECT_THAT(b_rollbacks, HasSubstr("handed to the leader, which decides"));
  EXPECT_THAT(a_rollbacks, HasSubstr("\"result\":\"rolled_back\""))
      << a.process->Output() << "\n--- b:\n"
      << b.process->Output();
  EXPECT_THAT(a_rollbacks, HasSubstr("on " + b_url));
  // a never saw the failing traffic in its own windows: b owns the deployment.
  EXPECT_EQ(Requests(pa).count(owned_by_b), 0u);
  for (int i = 0; i < 3; ++i) {
    PushSecond(pb, "v2", 250, 13, owned_by_b);
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(k8s.Requests("PATCH").size(), 1u) << a_rollbacks;
  EXPECT_THAT(Get(pb, "/metrics").body,
              HasSubstr("obsgate_cluster_forwarded_rollbacks_total{result=\"accepted\"}"));
}

}  // namespace
}  // namespace obsgate::testing
