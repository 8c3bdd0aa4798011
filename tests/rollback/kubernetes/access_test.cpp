#include "rollback/kubernetes/access.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "rollback/kubernetes/kubernetes_orchestrator.hpp"
#include "tests/fakes/kubernetes.hpp"
#include "tests/support/process.hpp"

namespace obsgate::rollback::kubernetes {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

core::Env MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// "hello" -> "aGVsbG8=", for *-data fields.
std::string B64(const std::string& in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kChars[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";

std::string Kubeconfig() {
  return R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://k8s.example.com:6443/
    certificate-authority-data: )" +
         B64(kCaPem) + R"(
- name: staging-cluster
  cluster:
    server: https://staging.example.com
    certificate-authority: certs/staging-ca.pem
    insecure-skip-tls-verify: true
contexts:
- name: prod
  context: {cluster: prod-cluster, user: deployer, namespace: shop}
- name: staging
  context: {cluster: staging-cluster, user: ci}
- name: broken
  context: {cluster: nowhere, user: ci}
- name: eks
  context: {cluster: prod-cluster, user: aws}
users:
- name: deployer
  user:
    client-certificate-data: )" +
         B64("CERT PEM") + R"(
    client-key-data: )" +
         B64("KEY PEM") + R"(
- name: ci
  user:
    tokenFile: secrets/ci-token
- name: aws
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
)";
}

TEST(KubeconfigTest, CurrentContextWithClientCertificateData) {
  testing::TempDir dir;
  std::string file = dir.Write("config", Kubeconfig());
  auto a = KubeconfigAccess(file, "", nullptr);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->server, "https://k8s.example.com:6443");
  EXPECT_EQ(a->options.ca_pem, kCaPem);
  EXPECT_EQ(a->options.client_cert_pem, "CERT PEM");
  EXPECT_EQ(a->options.client_key_pem, "KEY PEM");
  EXPECT_FALSE(a->options.insecure_skip_verify);
  EXPECT_EQ(a->default_namespace, "shop");
  EXPECT_EQ(a->identity, "the user \"deployer\"");
  EXPECT_TRUE(a->token.empty());
}

TEST(KubeconfigTest, NamedContextWithTokenFileAndRelativePaths) {
  testing::TempDir dir;
  std::string file = dir.Write("config", Kubeconfig());
  auto a = KubeconfigAccess(file, "staging", nullptr);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->server, "https://staging.example.com");
  EXPECT_EQ(a->options.ca_file, dir.path() + "/certs/staging-ca.pem");
  EXPECT_TRUE(a->options.insecure_skip_verify);
  EXPECT_EQ(a->token_file, dir.path() + "/secrets/ci-token");
  EXPECT_TRUE(a->default_namespace.empty());
}

TEST(KubeconfigTest, ErrorsNameWhatIsMissing) {
  testing::TempDir dir;
  std::string file = dir.Write("config", Kubeconfig());
  auto a = KubeconfigAccess(file, "dev", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("has no context \"dev\"; its contexts are: prod, staging"));
  a = KubeconfigAccess(file, "broken", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("no cluster \"nowhere\""));
  a = KubeconfigAccess(file, "eks", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("exec plugin"));
  a = KubeconfigAccess(dir.path() + "/absent", "", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("cannot read the kubeconfig " + dir.path() + "/absent"));
  std::string bad = dir.Write("bad", "clusters: [\n");
  a = KubeconfigAccess(bad, "", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("line"));
  std::string no_current = dir.Write("nocurrent", "apiVersion: v1\nkind: Config\n");
  a = KubeconfigAccess(no_current, "", nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("no current-context"));
}

TEST(KubeconfigTest, FindsTheFileThroughKubeconfigThenHome) {
  testing::TempDir dir;
  std::string first = dir.Write("first", "current-context: staging\n");
  std::string second = dir.Write("second", Kubeconfig());
  // KUBECONFIG lists files merged in order: the first current-context wins.
  auto a = KubeconfigAccess("", "", MapEnv({{"KUBECONFIG", first + ":" + second}}));
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->server, "https://staging.example.com");
  testing::TempDir home;
  std::string kube = home.path() + "/.kube";
  std::filesystem::create_directories(kube);
  { std::ofstream(kube + "/config") << Kubeconfig(); }
  a = KubeconfigAccess("", "", MapEnv({{"HOME", home.path()}}));
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->server, "https://k8s.example.com:6443");
  a = KubeconfigAccess("", "", MapEnv({}));
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error(), HasSubstr("no kubeconfig"));
}

TEST(InClusterTest, ReadsTheServiceAccountDirectory) {
  testing::TempDir sa;
  sa.Write("token", "token-1\n");
  sa.Write("ca.crt", kCaPem);
  sa.Write("namespace", "obsgate");
  auto env = MapEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  auto a = InClusterAccess(env, sa.path());
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->server, "https://10.96.0.1:443");
  EXPECT_EQ(a->options.ca_file, sa.path() + "/ca.crt");
  EXPECT_EQ(a->token_file, sa.path() + "/token");
  EXPECT_EQ(a->default_namespace, "obsgate");
  EXPECT_EQ(a->identity, "the service account");

  auto v6 = InClusterAccess(
      MapEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      sa.path());
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");

  auto outside = InClusterAccess(MapEnv({}), sa.path());
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.error(), HasSubstr("KUBERNETES_SERVICE_HOST"));

  testing::TempDir empty;
  auto no_token = InClusterAccess(env, empty.path());
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.error(),
              HasSubstr("cannot read the service account token " + empty.path() + "/token"));
}

TEST(InClusterTest, TheTokenIsReadAgainWhenItRotates) {
  testing::TempDir sa;
  sa.Write("token", "token-1\n");
  sa.Write("ca.crt", kCaPem);
  auto env = MapEnv({{"KUBERNETES_SERVICE_HOST", "127.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "1"}});
  auto a = InClusterAccess(env, sa.path());
  ASSERT_TRUE(a.ok()) << a.error();
  fakes::FakeKubernetes fake;
  fake.AddDeployment({});
  ASSERT_TRUE(fake.Start().ok());
  ApiAccess access = *a;
  access.server = fake.url();  // the fake speaks plain HTTP
  access.options.ca_file.clear();
  core::FakeClock clock;
  auto o = KubernetesOrchestrator::Create(access, clock);
  ASSERT_TRUE(o.ok()) << o.error();
  fake.RequireToken("token-1");
  EXPECT_TRUE((*o)->Status({"shop", "auth"}).ok());
  sa.Write("token", "token-2\n");
  fake.RequireToken("token-2");
  auto s = (*o)->Status({"shop", "auth"});
  EXPECT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(fake.requests().back().authorization, "Bearer token-2");
  fake.RequireToken("token-3");
  s = (*o)->Status({"shop", "auth"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error(), HasSubstr("401"));
  EXPECT_THAT(s.error(), HasSubstr(sa.path() + "/token"));
  EXPECT_THAT(s.error(), Not(HasSubstr("token-2")));
}

TEST(KubernetesCreateTest, FromAKubeconfigWithATokenToTheApi) {
  fakes::FakeKubernetes fake;
  fake.AddDeployment({});
  ASSERT_TRUE(fake.Start().ok());
  fake.RequireToken("kubeconfig-token");
  testing::TempDir dir;
  std::string file = dir.Write("config",
                               "current-context: c\nclusters:\n- name: k\n  cluster:\n"
                               "    server: " +
                                   fake.url() +
                                   "\ncontexts:\n- name: c\n"
                                   "  context: {cluster: k, user: u}\nusers:\n- name: u\n"
                                   "  user: {token: kubeconfig-token}\n");
  core::KubernetesOrchestratorConfig config;
  config.kubeconfig = file;
  config.timeout = std::chrono::seconds(3);
  core::FakeClock clock;
  auto o = KubernetesOrchestrator::Create(config, MapEnv({}), clock);
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ((*o)->kind(), "kubernetes");
  EXPECT_EQ((*o)->access().options.timeout, std::chrono::seconds(3));
  auto s = (*o)->Status({"shop", "auth"});
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->state, RolloutStatus::State::kComplete);

  config.in_cluster = true;
  auto missing = KubernetesOrchestrator::Create(config, MapEnv({}), clock);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error(), HasSubstr("not running in a pod"));
}

TEST(Base64Test, DecodesKubeconfigData) {
  EXPECT_EQ(DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64(B64("any bytes")), "any bytes");
  EXPECT_FALSE(DecodeBase64("a*b").has_value());
}

}  // namespace
}  // namespace obsgate::rollback::kubernetes
