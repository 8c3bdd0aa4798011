// Deploy pipelines end to end: the obsgate binary with a pipeline configuration, the (fake)
// Kubernetes API, logs pushed through HTTP ingest, a /health endpoint for the wait step, and the
// obsgate deploy and approve commands talking to the gateway's API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "server/http_server.hpp"
#include "tests/fakes/kubernetes.hpp"
#include "tests/integration/gateway_process.hpp"
#include "tests/integration/traffic.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// The fakes and the gateway's configuration: auth at v1 (one revision), a /health that answers.
class PipelineEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(k8s_.Start());
    k8s_.AddDeployment(
        {.ns = "shop", .name = "auth", .image = "registry.example.com/shop/auth", .revisions = 1});
    health_.Route("GET", "/health", "health",
                  [](const server::Request&) { return server::Response::Text(200, "ok\n"); });
    ASSERT_TRUE(health_.Start());
    dir_.Write("migrations/0001_add_email.sql", "ALTER TABLE users ADD COLUMN email text;\n");
  }

  // `migrate_paths` as YAML: what the migrate step lints.
  std::string Config(const std::string& migrate = "[migrations]", const std::string& extra = "") {
    std::string kubeconfig = dir_.Write("kubeconfig", k8s_.Kubeconfig());
    std::string health = "http://127.0.0.1:" + std::to_string(health_.port()) + "/health";
    return dir_.Write("obsgate.yaml", extra + R"(listen: 127.0.0.1:0
sources: [{http: {}}]
rules: []
orchestrator:
  kubernetes: {kubeconfig: )" + kubeconfig +
                                          R"(}
rollback: {only_within: 30m, cooldown: 10m}
pipelines:
  - name: auth-staging
    namespace: shop
    deployment: auth
    image: registry.example.com/shop/auth
    environment: staging
    on_failure: rollback
    steps:
      - migrate: {command: [touch, migrated], paths: )" +
                                          migrate + R"(, timeout: 30s}
      - approve
      - rollout
      - wait: {health_url: ")" + health + R"(", timeout: 30s}
      - analyze:
          expr: error_rate(5s) < 1% and requests(5s) >= 50
          fail: error_rate(5s) > 3% and requests(5s) >= 50
          for: 5s
          timeout: 40s
      - promote
  - name: auth-production
    namespace: shop
    deployment: auth
    image: registry.example.com/shop/auth
    environment: production
    steps: [approve, rollout, promote]
)");
  }

  // Polls the run until its state is `state` (or the time is up); returns its last JSON.
  std::string AwaitState(std::uint16_t port, const std::string& id, const std::string& state,
                         int seconds, const std::string& push_version = "", int errors = 0) {
    std::string body;
    for (int i = 0; i < seconds * 4; ++i) {
      body = Get(port, "/api/v1/runs/" + id).body;
      if (body.find("\"state\":\"" + state + "\",\"created\"") != std::string::npos) return body;
      if (!push_version.empty() && i % 4 == 0) PushSecond(port, push_version, 500, errors);
      std::this_thread::sleep_for(250ms);
    }
    ADD_FAILURE() << "run " << id << " never became " << state << ": " << body;
    return body;
  }

  RunResult Cli(std::vector<std::string> args, std::uint16_t port) {
    args.insert(args.begin(), OBSGATE_BINARY);
    args.push_back("--url");
    args.push_back("http://127.0.0.1:" + std::to_string(port));
    return RunCommand(args);
  }

  fakes::FakeKubernetes k8s_;
  prometheus::Registry registry_;
  server::HttpServer health_{server::ServerOptions{}, registry_};
  TempDir dir_;
};

TEST_F(PipelineEndToEnd, GoodReleaseGoesFromMigrateToPromote) {
  GatewayProcess g = GatewayProcess::Start(Config());
  RunResult deploy = Cli({"deploy", "auth-staging", "--tag", "v2"}, g.port);
  ASSERT_EQ(deploy.exit_code, 0) << deploy.output;
  EXPECT_THAT(deploy.output, HasSubstr("run auth-staging-1 started"));
  std::string run = AwaitState(g.port, "auth-staging-1", "waiting_for_approval", 10);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/migrated")) << "the migration ran";
  EXPECT_TRUE(k8s_.Requests("PATCH").empty()) << "nothing rolls out before the approval";
  EXPECT_EQ(Cli({"deploy", "auth-staging", "--tag", "v3"}, g.port).exit_code, 1)
      << "one run at a time";

  RunResult approve = Cli({"approve", "auth-staging-1"}, g.port);
  ASSERT_EQ(approve.exit_code, 0) << approve.output;
  run = AwaitState(g.port, "auth-staging-1", "succeeded", 40, "v2", 0);
  for (const char* step : {"migrate", "approve", "rollout", "wait", "analyze", "promote"}) {
    EXPECT_THAT(run, HasSubstr("{\"kind\":\"" + std::string(step) + "\",\"state\":\"succeeded\""));
  }
  EXPECT_THAT(run, HasSubstr("\"error_rate(5s)\":0"));
  EXPECT_THAT(run, HasSubstr("\"health_status\":200"));
  std::vector<fakes::FakeKubernetes::Request> patches = k8s_.Requests("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_THAT(patches[0].body, HasSubstr("registry.example.com/shop/auth:v2"));
  EXPECT_THAT(
      Get(g.port, "/metrics").body,
      HasSubstr("obsgate_pipeline_runs_total{pipeline=\"auth-staging\",result=\"succeeded\"} 1"));
  EXPECT_THAT(g.process->Output(), HasSubstr("ObsgatePipeline"));
  RunResult runs = Cli({"runs"}, g.port);
  EXPECT_THAT(runs.output, HasSubstr("auth-staging-1  succeeded  v2"));
}

TEST_F(PipelineEndToEnd, BadReleaseFailsAnalyzeAndIsRolledBack) {
  GatewayProcess g = GatewayProcess::Start(Config());
  for (int i = 0; i < 4; ++i) {  // v1, healthy: the baseline the rollback guard asks for
    PushSecond(g.port, "v1", 500, 1);
    std::this_thread::sleep_for(1s);
  }
  HttpReply started = Post(g.port, "/api/v1/pipelines/auth-staging/runs", "{\"tag\":\"v2\"}");
  ASSERT_EQ(started.status, 201) << started.body;
  AwaitState(g.port, "auth-staging-1", "waiting_for_approval", 10);
  ASSERT_EQ(Post(g.port, "/api/v1/runs/auth-staging-1/approve", "").status, 200);
  std::string run = AwaitState(g.port, "auth-staging-1", "rolled_back", 40, "v2", 25);
  EXPECT_THAT(run, HasSubstr("{\"kind\":\"analyze\",\"state\":\"failed\""));
  EXPECT_THAT(run, HasSubstr("\"error_rate(5s)\":0.05"));
  EXPECT_THAT(run, HasSubstr("{\"kind\":\"promote\",\"state\":\"skipped\""));
  EXPECT_THAT(run, HasSubstr("roll forward"));
  std::vector<fakes::FakeKubernetes::Request> patches = k8s_.Requests("PATCH");
  ASSERT_EQ(patches.size(), 2u) << "the rollout, then the rollback";
  auto deployment = k8s_.Get("deployments", "shop", "auth");
  ASSERT_TRUE(deployment);
  EXPECT_THAT(deployment->Dump(), HasSubstr("registry.example.com/shop/auth:v1"));
  std::string rollbacks = Get(g.port, "/api/v1/rollbacks").body;
  EXPECT_THAT(rollbacks, HasSubstr("\"origin\":\"pipeline auth-staging run auth-staging-1\""));
  EXPECT_THAT(rollbacks, HasSubstr("\"result\":\"rolled_back\""));
  EXPECT_THAT(
      Get(g.port, "/metrics").body,
      HasSubstr("obsgate_pipeline_runs_total{pipeline=\"auth-staging\",result=\"rolled_back\"} 1"));
}

TEST_F(PipelineEndToEnd, DestructiveMigrationStopsTheRunBeforeTheRollout) {
  dir_.Write("contract/0002_drop_email.sql", "ALTER TABLE users DROP COLUMN email;\n");
  GatewayProcess g = GatewayProcess::Start(Config("[contract]"));
  ASSERT_EQ(Post(g.port, "/api/v1/pipelines/auth-staging/runs?tag=v2", "").status, 201);
  std::string run = AwaitState(g.port, "auth-staging-1", "failed", 10);
  EXPECT_THAT(run, HasSubstr("0002_drop_email.sql:1 drop_column"));
  EXPECT_THAT(run, HasSubstr("\"rule\":\"drop_column\""));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/migrated")) << "the migration never ran";
  EXPECT_TRUE(k8s_.Requests("PATCH").empty());
}

TEST_F(PipelineEndToEnd, ProductionWithoutATagOrWithoutApprovalDoesNotRollOut) {
  GatewayProcess g = GatewayProcess::Start(Config());
  // No tagged release: approved, and still refused at the rollout.
  ASSERT_EQ(Cli({"deploy", "auth-production", "--tag", "latest"}, g.port).exit_code, 0);
  AwaitState(g.port, "auth-production-1", "waiting_for_approval", 10);
  ASSERT_EQ(Cli({"approve", "auth-production-1"}, g.port).exit_code, 0);
  std::string run = AwaitState(g.port, "auth-production-1", "failed", 10);
  EXPECT_THAT(run, HasSubstr("tagged releases only"));
  // A tagged release nobody approves waits, and never rolls out.
  ASSERT_EQ(Cli({"deploy", "auth-production", "--tag", "v1.2.0"}, g.port).exit_code, 0);
  AwaitState(g.port, "auth-production-2", "waiting_for_approval", 10);
  std::this_thread::sleep_for(3s);
  EXPECT_THAT(Get(g.port, "/api/v1/runs/auth-production-2").body,
              HasSubstr("\"state\":\"waiting_for_approval\""));
  EXPECT_EQ(Cli({"abort", "auth-production-2"}, g.port).exit_code, 0);
  AwaitState(g.port, "auth-production-2", "aborted", 5);
  EXPECT_TRUE(k8s_.Requests("PATCH").empty());
  EXPECT_EQ(Cli({"approve", "auth-production-2"}, g.port).exit_code, 1) << "it has ended";

  // A production pipeline without an approve step is refused at load.
  std::string bad = dir_.Write("bad.yaml", R"(pipelines:
  - name: p
    deployment: auth
    image: registry.example.com/shop/auth
    environment: production
    steps: [rollout, promote]
)");
  RunResult check = RunCommand({OBSGATE_BINARY, "check-config", bad});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.output, HasSubstr("needs an approve step before its rollout"));
}

TEST_F(PipelineEndToEnd, WithAnApiTokenOnlyItsHolderStartsApprovesAndAborts) {
  const std::string token = "s3cret-api-t0ken";
  std::string token_file = dir_.Write("api-token", token + "\n");
  std::string wrong_file = dir_.Write("wrong-token", "not-it\n");
  GatewayProcess g = GatewayProcess::Start(
      Config("[migrations]", "server: {api_token_file: " + token_file + "}\n"));

  RunResult refused = Cli({"deploy", "auth-production", "--tag", "v1.2.0"}, g.port);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("refused the API token (none was sent)"));
  EXPECT_THAT(refused.output, HasSubstr("--token-file"));
  EXPECT_EQ(
      Cli({"deploy", "auth-production", "--tag", "v1.2.0", "--token-file", wrong_file}, g.port)
          .exit_code,
      1);
  EXPECT_THAT(Get(g.port, "/api/v1/runs").body, ::testing::Not(HasSubstr("auth-production-1")));

  RunResult started =
      Cli({"deploy", "auth-production", "--tag", "v1.2.0", "--token-file", token_file}, g.port);
  ASSERT_EQ(started.exit_code, 0) << started.output;
  AwaitState(g.port, "auth-production-1", "waiting_for_approval", 10);

  // The API itself: reading stays open; a change needs the bearer token.
  HttpReply bare = Post(g.port, "/api/v1/runs/auth-production-1/approve", "");
  EXPECT_EQ(bare.status, 401);
  EXPECT_EQ(bare.Header("WWW-Authenticate"), "Bearer realm=\"obsgate\"");
  EXPECT_EQ(Post(g.port, "/api/v1/silences", "{}").status, 401);
  EXPECT_EQ(Post(g.port, "/-/reload", "").status, 401);
  EXPECT_EQ(Get(g.port, "/api/v1/silences").status, 200);
  EXPECT_THAT(Get(g.port, "/api/v1/runs/auth-production-1").body,
              HasSubstr("\"state\":\"waiting_for_approval\""));
  EXPECT_THAT(Get(g.port, "/metrics").body, HasSubstr("obsgate_api_unauthorized_total 5"));

  RunResult approved = RunCommand({OBSGATE_BINARY, "approve", "auth-production-1", "--url",
                                   "http://127.0.0.1:" + std::to_string(g.port)},
                                  {}, {"OBSGATE_API_TOKEN=" + token});
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  AwaitState(g.port, "auth-production-1", "succeeded", 10);
  EXPECT_EQ(k8s_.Requests("PATCH").size(), 1u);

  HttpReply silence = Post(g.port, "/api/v1/silences",
                           R"({"matchers":[{"name":"deployment","value":"auth","isRegex":false}],)"
                           R"("startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z",)"
                           R"("createdBy":"test","comment":"token"})",
                           {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(silence.status, 200) << silence.body;
  EXPECT_EQ(g.process->Output().find(token), std::string::npos) << "the token is never logged";
}

TEST_F(PipelineEndToEnd, RestartWhileWaitingForApprovalResumes) {
  std::string config = Config();
  auto g = std::make_unique<GatewayProcess>(GatewayProcess::Start(config));
  ASSERT_EQ(Cli({"deploy", "auth-staging", "--tag", "v2"}, g->port).exit_code, 0);
  AwaitState(g->port, "auth-staging-1", "waiting_for_approval", 10);
  g->process->Signal(SIGKILL);
  g->process->Wait(10s);
  g.reset();

  GatewayProcess again = GatewayProcess::Start(config);
  ASSERT_NE(again.port, 0) << again.process->Output();
  std::string run = AwaitState(again.port, "auth-staging-1", "waiting_for_approval", 5);
  EXPECT_THAT(run, HasSubstr("{\"kind\":\"migrate\",\"state\":\"succeeded\""));
  RunResult approve = Cli({"approve", "auth-staging-1"}, again.port);
  ASSERT_EQ(approve.exit_code, 0) << approve.output;
  AwaitState(again.port, "auth-staging-1", "succeeded", 40, "v2", 0);
  EXPECT_EQ(k8s_.Requests("PATCH").size(), 1u);
}

}  // namespace
}  // namespace obsgate::testing
