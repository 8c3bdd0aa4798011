#include "rollback/kubernetes/kubernetes_orchestrator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "core/time.hpp"
#include "rollback/kubernetes/json.hpp"
#include "tests/fakes/kubernetes.hpp"
#include "tests/support/process.hpp"

namespace obsgate::rollback::kubernetes {
namespace {

using fakes::FakeKubernetes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Outcome = ActionResult::Outcome;

constexpr const char* kToken = "s3cr3t-token-never-shown";
const Target kAuth{"shop", "auth"};

std::unique_ptr<FakeKubernetes> StartFake(FakeKubernetes::DeploymentSeed seed = {}) {
  auto fake = std::make_unique<FakeKubernetes>();
  fake->AddDeployment(seed);
  EXPECT_TRUE(fake->Start().ok());
  return fake;
}

ApiAccess AccessTo(const FakeKubernetes& fake,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  ApiAccess a;
  a.server = fake.url();
  a.token = kToken;
  a.identity = "the service account";
  a.source = "in-cluster";
  a.options.timeout = timeout;
  return a;
}

// An orchestrator on `fake` whose back-off waits are recorded, not slept.
struct Harness {
  explicit Harness(const FakeKubernetes& fake, KubernetesOptions options = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    options.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    auto o = KubernetesOrchestrator::Create(AccessTo(fake, timeout), clock, std::move(options));
    EXPECT_TRUE(o.ok()) << o.error();
    orchestrator = std::move(o).value();
  }
  core::FakeClock clock;
  std::vector<std::chrono::milliseconds> sleeps;
  std::unique_ptr<KubernetesOrchestrator> orchestrator;
};

std::string Image(const FakeKubernetes& fake, const std::string& name = "auth") {
  auto d = fake.Get("deployments", "shop", name);
  return d ? std::string(
                 d->At({"spec", "template", "spec", "containers"})->items()[0].Text({"image"}))
           : "";
}

std::vector<FakeKubernetes::Request> Patches(const FakeKubernetes& fake) {
  return fake.Requests("PATCH");
}

// --- The acceptance test: obsgate undoes a rollout as kubectl does ---

TEST(KubernetesRollBackTest, SendsTheSamePatchAsKubectlRolloutUndo) {
  if (!testing::HaveProgram("kubectl")) {
    GTEST_SKIP() << "kubectl is not installed (Debian package kubectl); the comparison with "
                    "`kubectl rollout undo` needs it";
  }
  auto for_kubectl = StartFake();
  auto for_obsgate = StartFake();

  testing::TempDir home;
  std::string kubeconfig = home.Write("kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: )" + for_kubectl->url() + R"(
contexts:
- name: fake
  context: {cluster: fake, user: obsgate}
current-context: fake
users:
- name: obsgate
  user: {token: )" + std::string(kToken) + R"(}
)");
  auto run = testing::RunCommand(
      {"kubectl", "--kubeconfig", kubeconfig, "--cache-dir", home.path() + "/cache", "rollout",
       "undo", "deployment/auth", "-n", "shop"},
      {}, {"HOME=" + home.path(), "NO_PROXY=*", "KUBECONFIG="}, std::chrono::seconds(60));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("deployment.apps/auth rolled back"));

  Harness h(*for_obsgate);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.from_version, "v2");
  EXPECT_EQ(r.to_version, "v1");

  auto kubectl_patches = Patches(*for_kubectl);
  auto obsgate_patches = Patches(*for_obsgate);
  ASSERT_EQ(kubectl_patches.size(), 1u);
  ASSERT_EQ(obsgate_patches.size(), 1u);
  EXPECT_EQ(obsgate_patches[0].path, kubectl_patches[0].path);
  EXPECT_EQ(obsgate_patches[0].content_type, kubectl_patches[0].content_type);
  EXPECT_EQ(obsgate_patches[0].content_type, "application/json-patch+json");
  // Byte for byte: the same key order, the same escapes, the same annotations.
  EXPECT_EQ(obsgate_patches[0].body, kubectl_patches[0].body);
  // And both fakes ended in the same state: v1 back as revision 3.
  EXPECT_EQ(Image(*for_kubectl), "registry.example.com/shop/auth:v1");
  EXPECT_EQ(Image(*for_obsgate), "registry.example.com/shop/auth:v1");
  EXPECT_EQ(for_obsgate->Get("deployments", "shop", "auth")
                ->Text({"metadata", "annotations", "deployment.kubernetes.io/revision"}),
            "3");
  // Tokens reach the API, never the result.
  EXPECT_EQ(obsgate_patches[0].authorization, std::string("Bearer ") + kToken);
  EXPECT_THAT(r.message + r.detail, Not(HasSubstr(kToken)));

  auto status = testing::RunCommand(
      {"kubectl", "--kubeconfig", kubeconfig, "--cache-dir", home.path() + "/cache", "rollout",
       "status", "deployment/auth", "-n", "shop", "--watch=false"},
      {}, {"HOME=" + home.path(), "NO_PROXY=*", "KUBECONFIG="}, std::chrono::seconds(60));
  EXPECT_EQ(status.exit_code, 0) << status.output;
  auto ours = h.orchestrator->Status(kAuth);
  ASSERT_TRUE(ours.ok()) << ours.error();
  EXPECT_EQ(ours->message + "\n", status.output);
}

// --- RollBack ---

TEST(KubernetesRollBackTest, RefusesAPausedDeployment) {
  FakeKubernetes::DeploymentSeed seed;
  seed.paused = true;
  auto fake = StartFake(seed);
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message,
              HasSubstr("deployment shop/auth is paused; resume it or roll back by hand"));
  EXPECT_TRUE(Patches(*fake).empty());
}

TEST(KubernetesRollBackTest, FailsWithoutAPreviousRevision) {
  FakeKubernetes::DeploymentSeed seed;
  seed.revisions = 1;
  auto fake = StartFake(seed);
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("deployment shop/auth has no previous revision"));
  EXPECT_TRUE(Patches(*fake).empty());
  r = h.orchestrator->RollBack(kAuth, {.to_revision = "7"});
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("has no revision 7"));
}

TEST(KubernetesRollBackTest, SkipsWhenThePreviousRevisionHasTheCurrentTemplate) {
  auto fake = StartFake();  // v1 (revision 1), v2 (revision 2, current)
  // v1's ReplicaSet becomes revision 3 while the Deployment still says v2 (the controller lags):
  // the previous revision is then 2, whose template is the Deployment's.
  fake->AddReplicaSet("shop", "auth", "v1", 3);
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kSkipped) << r.message;
  EXPECT_THAT(r.message, HasSubstr("already runs the template of revision 2 (v2)"));
  EXPECT_TRUE(Patches(*fake).empty());
}

TEST(KubernetesRollBackTest, RollsBackToTheRevisionAskedFor) {
  FakeKubernetes::DeploymentSeed seed;
  seed.revisions = 3;
  auto fake = StartFake(seed);
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth, {.to_revision = "1"});
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.from_version, "v3");
  EXPECT_EQ(r.to_version, "v1");
  EXPECT_EQ(Image(*fake), "registry.example.com/shop/auth:v1");
  EXPECT_EQ(h.orchestrator->RollBack(kAuth, {.to_revision = "x1"}).outcome, Outcome::kFailed);
}

TEST(KubernetesRollBackTest, ConflictIsReadAgainAndTheChangeMadeOnce) {
  auto fake = StartFake();
  fake->AddFault({.method = "PATCH", .path_part = "/deployments/auth", .status = 409});
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  auto patches = Patches(*fake);
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[0].status, 409);
  EXPECT_EQ(patches[1].status, 200);
  // The Deployment was read again between the two.
  int gets = 0;
  for (const auto& req : fake->requests()) {
    if (req.method == "GET" && req.path == "/apis/apps/v1/namespaces/shop/deployments/auth") ++gets;
  }
  EXPECT_EQ(gets, 2);
  EXPECT_EQ(Image(*fake), "registry.example.com/shop/auth:v1");
}

TEST(KubernetesRollBackTest, EndlessConflictsEndInRetry) {
  auto fake = StartFake();
  fake->AddFault({.method = "PATCH", .path_part = "/deployments/auth", .status = 409, .times = 99});
  KubernetesOptions o;
  o.conflict_attempts = 3;
  Harness h(*fake, o);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(Patches(*fake).size(), 3u);
}

TEST(KubernetesRollBackTest, ForbiddenNamesTheMissingPermissionNeverTheToken) {
  auto fake = StartFake();
  fake->AddFault({.method = "PATCH", .path_part = "/deployments/auth", .status = 403});
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("the service account cannot patch deployments in namespace "
                                   "shop: grant patch on deployments.apps"));
  EXPECT_THAT(r.message, HasSubstr("User \"system:serviceaccount:obsgate:obsgate\" cannot patch "
                                   "resource \"deployments\""));
  EXPECT_THAT(r.message + r.detail, Not(HasSubstr(kToken)));
  EXPECT_EQ(Patches(*fake).size(), 1u);

  fake->AddFault({.method = "GET", .path_part = "/replicasets", .status = 403});
  r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("cannot list replicasets in namespace shop: grant list on "
                                   "replicasets.apps"));
}

TEST(KubernetesRollBackTest, UnauthorizedSaysTheCredentialsAreRefused) {
  auto fake = StartFake();
  fake->RequireToken("another-token");
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("does not accept the service account's credentials (401"));
  EXPECT_THAT(r.message, Not(HasSubstr(kToken)));
}

TEST(KubernetesRollBackTest, ServerErrorsBeforeThePatchAreRetriedWithBackoff) {
  auto fake = StartFake();
  fake->AddFault({.method = "GET", .path_part = "/deployments/auth", .status = 500, .times = 2});
  fake->AddFault({.method = "GET", .path_part = "/replicasets", .status = 503});
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(Patches(*fake).size(), 1u);
  // Two waits for the Deployment (200ms, 400ms), one for the ReplicaSets (200ms).
  EXPECT_THAT(h.sleeps, ElementsAre(std::chrono::milliseconds(200), std::chrono::milliseconds(400),
                                    std::chrono::milliseconds(200)));
}

TEST(KubernetesRollBackTest, PersistentServerErrorsEndInRetryWithoutAPatch) {
  auto fake = StartFake();
  fake->AddFault({.method = "GET", .path_part = "/deployments/auth", .status = 500, .times = 99});
  Harness h(*fake);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_THAT(r.message, HasSubstr("answered 500"));
  EXPECT_THAT(r.message, HasSubstr("etcdserver: leader changed"));
  EXPECT_TRUE(Patches(*fake).empty());
}

TEST(KubernetesRollBackTest, APatchWithoutAnAnswerIsNeverSentAgain) {
  auto fake = StartFake();
  fake->SetHangLimit(std::chrono::seconds(3));
  // Applied, but the answer never comes: obsgate reads the Deployment and finds v1 there.
  fake->AddFault({.method = "PATCH", .path_part = "/deployments/auth", .apply_first = true});
  Harness h(*fake, {}, std::chrono::milliseconds(300));
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_THAT(r.message, HasSubstr("no clear answer"));
  EXPECT_EQ(Patches(*fake).size(), 1u);

  // Not applied and no answer: reported as not made, still sent only once.
  auto other = StartFake();
  other->SetHangLimit(std::chrono::seconds(3));
  other->AddFault({.method = "PATCH", .path_part = "/deployments/auth", .hang = true});
  Harness h2(*other, {}, std::chrono::milliseconds(300));
  r = h2.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
  EXPECT_THAT(r.message, HasSubstr("was not rolled back"));
  EXPECT_EQ(Patches(*other).size(), 1u);
  EXPECT_EQ(Image(*other), "registry.example.com/shop/auth:v2");
}

TEST(KubernetesRollBackTest, PagesThroughReplicaSetsAndKeepsOnlyThoseItControls) {
  FakeKubernetes::DeploymentSeed seed;
  seed.revisions = 5;
  auto fake = StartFake(seed);
  // Matched by the selector but controlled by something else: never a rollback target.
  fake->AddReplicaSet("shop", "auth", "v9-foreign", 9, /*controlled=*/false);
  KubernetesOptions o;
  o.page_size = 2;
  Harness h(*fake, o);
  ActionResult r = h.orchestrator->RollBack(kAuth);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.to_version, "v4");
  std::vector<std::string> queries;
  for (const auto& req : fake->requests()) {
    if (req.path == "/apis/apps/v1/namespaces/shop/replicasets") queries.push_back(req.query);
  }
  ASSERT_EQ(queries.size(), 3u);  // 6 ReplicaSets, 2 a page
  EXPECT_EQ(queries[0], "limit=2&labelSelector=app%3Dauth");
  EXPECT_THAT(queries[1], HasSubstr("&continue="));
  EXPECT_THAT(queries[2], HasSubstr("&continue="));
}

// --- Revisions, SetImage, Status ---

TEST(KubernetesRevisionsTest, CurrentFirstThenNewestWithTagsAndHashes) {
  FakeKubernetes::DeploymentSeed seed;
  seed.revisions = 3;
  auto fake = StartFake(seed);
  Harness h(*fake);
  auto revisions = h.orchestrator->Revisions(kAuth);
  ASSERT_TRUE(revisions.ok()) << revisions.error();
  ASSERT_EQ(revisions->size(), 3u);
  std::vector<std::string> ids, versions;
  for (const auto& r : *revisions) {
    ids.push_back(r.id);
    versions.push_back(r.version);
  }
  EXPECT_THAT(ids, ElementsAre("3", "2", "1"));
  EXPECT_THAT(versions, ElementsAre("v3", "v2", "v1"));
  EXPECT_TRUE((*revisions)[0].current);
  EXPECT_FALSE((*revisions)[1].current);
  EXPECT_EQ((*revisions)[0].image, "registry.example.com/shop/auth:v3");
  for (const auto& rs : fake->ReplicaSets("shop")) {
    std::string rev = rs.Text({"metadata", "annotations", "deployment.kubernetes.io/revision"});
    const Revision& r = (*revisions)[3 - std::stoi(rev)];
    EXPECT_EQ(r.template_hash, rs.Text({"metadata", "labels", "pod-template-hash"}));
    EXPECT_EQ(r.rolled_out_at, core::ParseRfc3339(rs.Text({"metadata", "creationTimestamp"})));
  }
  // After a rollback the reused ReplicaSet is current and newest.
  ASSERT_EQ(h.orchestrator->RollBack(kAuth).outcome, Outcome::kDone);
  revisions = h.orchestrator->Revisions(kAuth);
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ((*revisions)[0].id, "4");
  EXPECT_EQ((*revisions)[0].version, "v2");
  EXPECT_TRUE((*revisions)[0].current);
  EXPECT_EQ((*revisions)[1].version, "v3");
  EXPECT_FALSE(h.orchestrator->Revisions({"shop", "missing"}).ok());
}

TEST(KubernetesSetImageTest, ChangesTheNamedContainerOnce) {
  auto fake = StartFake();
  Harness h(*fake);
  ActionResult r = h.orchestrator->SetImage(kAuth, "", "registry.example.com/shop/auth:v3");
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.from_version, "v2");
  EXPECT_EQ(r.to_version, "v3");
  EXPECT_EQ(Image(*fake), "registry.example.com/shop/auth:v3");
  auto patches = Patches(*fake);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].body,
            R"([{"op":"test","path":"/spec/template/spec/containers/0/name","value":"auth"},)"
            R"({"op":"replace","path":"/spec/template/spec/containers/0/image","value":)"
            R"("registry.example.com/shop/auth:v3"}])");
  // The controller made revision 3 for it.
  auto revisions = h.orchestrator->Revisions(kAuth);
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ((*revisions)[0].id, "3");
  EXPECT_EQ((*revisions)[0].version, "v3");

  EXPECT_EQ(h.orchestrator->SetImage(kAuth, "auth", "registry.example.com/shop/auth:v3").outcome,
            Outcome::kSkipped);
  r = h.orchestrator->SetImage(kAuth, "log-shipper", "fluent/fluent-bit:3.1");
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  r = h.orchestrator->SetImage(kAuth, "nginx", "nginx:1");
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("its containers are: auth, log-shipper"));
}

TEST(KubernetesStatusTest, SaysWhatKubectlRolloutStatusSays) {
  auto fake = StartFake();
  Harness h(*fake);
  auto look = [&](FakeKubernetes::RolloutSeed seed) {
    fake->SetRollout("shop", "auth", seed);
    auto s = h.orchestrator->Status(kAuth);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? *s : RolloutStatus{};
  };
  RolloutStatus s = look({.generation = 3, .observed_generation = 2});
  EXPECT_EQ(s.message, "Waiting for deployment spec update to be observed...");
  EXPECT_EQ(s.state, RolloutStatus::State::kProgressing);

  s = look({.generation = 3,
            .observed_generation = 3,
            .replicas = 4,
            .updated = 1,
            .ready = 3,
            .available = 3});
  EXPECT_EQ(s.message,
            "Waiting for deployment \"auth\" rollout to finish: 1 out of 3 new replicas have been "
            "updated...");
  EXPECT_EQ(s.desired, 3);
  EXPECT_EQ(s.updated, 1);

  s = look({.replicas = 4, .updated = 3, .ready = 3, .available = 3});
  EXPECT_EQ(s.message,
            "Waiting for deployment \"auth\" rollout to finish: 1 old replicas are pending "
            "termination...");

  s = look({.replicas = 3, .updated = 3, .ready = 2, .available = 2});
  EXPECT_EQ(s.message,
            "Waiting for deployment \"auth\" rollout to finish: 2 of 3 updated replicas are "
            "available...");

  s = look({.replicas = 3,
            .updated = 1,
            .ready = 1,
            .available = 1,
            .progressing_reason = "ProgressDeadlineExceeded"});
  EXPECT_EQ(s.state, RolloutStatus::State::kFailed);
  EXPECT_EQ(s.message, "deployment \"auth\" exceeded its progress deadline");

  s = look({});
  EXPECT_EQ(s.state, RolloutStatus::State::kComplete);
  EXPECT_EQ(s.message, "deployment \"auth\" successfully rolled out");
  EXPECT_EQ(s.available, 3);
}

// --- Version discovery ---

TEST(KubernetesVersionDiscoveryTest, MapsTemplateHashesToImageTags) {
  auto fake = StartFake();
  fake->AddDeployment({.ns = "billing",
                       .name = "invoices",
                       .image = "registry.example.com/billing/invoices",
                       .revisions = 3});
  core::FakeClock clock;
  KubernetesOptions o;
  o.page_size = 2;
  o.sleep = [](std::chrono::milliseconds) {};
  auto all =
      KubernetesVersionDiscovery::Create(AccessTo(*fake), {}, std::chrono::seconds(30), clock, o);
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->Lookup(kAuth, "x").has_value());  // nothing before the first look
  ASSERT_TRUE(all->Refresh().ok());
  VersionMap map = all->Snapshot();
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ((map[{"shop", "auth"}].size()), 2u);
  EXPECT_EQ((map[{"billing", "invoices"}].size()), 3u);
  for (const auto& rs : fake->ReplicaSets("billing")) {
    auto v =
        all->Lookup({"billing", "invoices"}, rs.Text({"metadata", "labels", "pod-template-hash"}));
    ASSERT_TRUE(v.has_value());
    std::string rev = rs.Text({"metadata", "annotations", "deployment.kubernetes.io/revision"});
    EXPECT_EQ(v->version, "v" + rev);
    EXPECT_EQ(v->revision, rev);
    EXPECT_EQ(v->image, "registry.example.com/billing/invoices:v" + rev);
    EXPECT_EQ(v->rolled_out_at, core::ParseRfc3339(rs.Text({"metadata", "creationTimestamp"})));
  }
  auto rvs = all->resource_versions();
  EXPECT_FALSE(rvs["replicasets/*"].empty());
  EXPECT_FALSE(rvs["deployments/*"].empty());

  // Limited to one namespace, it asks only there.
  auto shop = KubernetesVersionDiscovery::Create(AccessTo(*fake), {"shop"},
                                                 std::chrono::seconds(30), clock, o);
  ASSERT_TRUE(shop->Refresh().ok());
  EXPECT_EQ(shop->Snapshot().size(), 1u);
  EXPECT_EQ(fake->requests().back().path, "/apis/apps/v1/namespaces/shop/replicasets");

  // A failed look keeps the last map.
  fake->AddFault({.method = "GET", .path_part = "/replicasets", .status = 403, .times = 99});
  auto failed = shop->Refresh();
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.error(), HasSubstr("cannot list replicasets in namespace shop"));
  EXPECT_EQ(shop->Snapshot().size(), 1u);
}

TEST(KubernetesVersionDiscoveryTest, PollsUntilStopped) {
  auto fake = StartFake();
  core::FakeClock clock;
  auto d = KubernetesVersionDiscovery::Create(AccessTo(*fake), {"shop"},
                                              std::chrono::milliseconds(20), clock);
  d->Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (fake->Requests("GET").size() < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  d->Stop();
  EXPECT_GE(fake->Requests("GET").size(), 6u);  // three looks, two lists each
  EXPECT_EQ(d->Snapshot().size(), 1u);
  std::size_t after_stop = fake->requests().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(fake->requests().size(), after_stop);
}

}  // namespace
}  // namespace obsgate::rollback::kubernetes
