// The reason obsgate exists, end to end: auth v1 serves with 0.2% errors, v2 rolls out with 5%,
// logs pushed through HTTP ingest make the rule fire, the (fake) Kubernetes API receives one
// rollback PATCH, Slack (a fake) hears of it with the numbers, /api/v1/rollbacks shows it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/fakes/kubernetes.hpp"
#include "tests/fakes/slack.hpp"
#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// One second of auth traffic at `version`: n requests, e failing.
void PushSecond(std::uint16_t port, const std::string& version, int n, int e) {
  std::string body;
  for (int i = 0; i < n; ++i) {
    body +=
        i < e ? "{\"status\":503,\"path\":\"/login\"}\n" : "{\"status\":200,\"path\":\"/login\"}\n";
  }
  HttpReply r = Post(port, "/api/v1/logs?namespace=shop&deployment=auth&version=" + version, body);
  ASSERT_EQ(r.status, 200) << r.body;
}

TEST(RollbackEndToEnd, BadReleaseIsRolledBackOnceAndAnnounced) {
  fakes::FakeKubernetes k8s;
  ASSERT_TRUE(k8s.Start());
  k8s.AddDeployment(
      {.ns = "shop", .name = "auth", .image = "registry.example.com/shop/auth", .revisions = 2});
  fakes::FakeSlack slack;
  ASSERT_TRUE(slack.Start());
  TempDir dir;
  std::string kubeconfig = dir.Write("kubeconfig", k8s.Kubeconfig());
  std::string config = dir.Write("obsgate.yaml", R"(listen: 127.0.0.1:0
sources: [{http: {}}]
rules:
  - name: ErrorRateAbove1Percent
    expr: error_rate(10s) > 1% and requests(10s) >= 100 and worse_than_baseline(10s, 0.01)
    labels: {severity: critical}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed"
    actions: [notify, rollback]
orchestrator:
  kubernetes: {kubeconfig: )" + kubeconfig + R"(}
rollback: {only_within: 30m, cooldown: 10m}
receivers:
  - {name: slack, slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}}
route: {receiver: slack, group_wait: 0s}
)");
  GatewayProcess g = GatewayProcess::Start(config, {"SLACK_WEBHOOK_URL=" + slack.url()});
  for (int i = 0; i < 6; ++i) {  // v1, healthy: 1 error in 500
    PushSecond(g.port, "v1", 500, 1);
    std::this_thread::sleep_for(1s);
  }
  bool rolled_back = false;
  std::string rollbacks;
  for (int i = 0; i < 30 && !rolled_back; ++i) {  // v2: 5% errors
    PushSecond(g.port, "v2", 500, 25);
    std::this_thread::sleep_for(1s);
    rollbacks = Get(g.port, "/api/v1/rollbacks").body;
    rolled_back = rollbacks.find("\"result\":\"rolled_back\"") != std::string::npos;
  }
  ASSERT_TRUE(rolled_back) << rollbacks << "\n" << g.process->Output();
  EXPECT_THAT(rollbacks, HasSubstr("\"badVersion\":\"v2\""));
  EXPECT_THAT(rollbacks, HasSubstr("\"baselineVersion\":\"v1\""));
  EXPECT_THAT(rollbacks, HasSubstr("\"toVersion\":\"v1\""));
  EXPECT_THAT(rollbacks, HasSubstr("\"origin\":\"rule ErrorRateAbove1Percent\""));

  // Traffic goes on failing for a while: still one decision, one PATCH.
  for (int i = 0; i < 3; ++i) {
    PushSecond(g.port, "v2", 500, 25);
    std::this_thread::sleep_for(1s);
  }
  std::vector<fakes::FakeKubernetes::Request> patches = k8s.Requests("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].path, "/apis/apps/v1/namespaces/shop/deployments/auth");
  EXPECT_EQ(patches[0].content_type, "application/json-patch+json");
  auto deployment = k8s.Get("deployments", "shop", "auth");
  ASSERT_TRUE(deployment);

  // Slack heard of the rollback, with the numbers that made it.
  bool announced = false;
  std::string said;
  for (int i = 0; i < 50 && !announced; ++i) {
    for (const fakes::Received& r : slack.requests()) {
      if (r.body.find("ObsgateRollback") != std::string::npos) {
        announced = true;
        said = r.body;
        EXPECT_TRUE(r.valid) << r.problems.front();
      }
    }
    if (!announced) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(announced) << g.process->Output();
  EXPECT_THAT(said, HasSubstr("Rolled back to v1"));
  EXPECT_THAT(said, HasSubstr("*Error rate*\\n5%")) << said;
  EXPECT_THAT(said, HasSubstr("*Baseline error rate*\\n0.2%")) << said;
  EXPECT_THAT(Get(g.port, "/metrics").body,
              HasSubstr("obsgate_rollbacks_total{deployment=\"auth\",namespace=\"shop\","
                        "result=\"rolled_back\"} 1"));
}

}  // namespace
}  // namespace obsgate::testing
