#include "ingest/attribution.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace obsgate::ingest {
namespace {

const std::string kId = "4f7a9b2c1d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

TEST(KubernetesLogPathTest, ContainersLayout) {
  const std::string path = "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-" + kId + ".log";
  const auto ref = ParseKubernetesLogPath(path);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->pod, "auth-7d9c8b6f5-x2k4q");
  EXPECT_EQ(ref->ns, "shop");
  EXPECT_EQ(ref->container, "auth");

  // Any directory prefix, or none; container names with dashes.
  // PodRef views the path, so the path outlives it.
  const std::string other_path = "/host/logs/db-0_data_pg-exporter-" + kId + ".log";
  const auto other = ParseKubernetesLogPath(other_path);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->pod, "db-0");
  EXPECT_EQ(other->ns, "data");
  EXPECT_EQ(other->container, "pg-exporter");
  const std::string bare_path = "web-0_default_nginx-" + kId + ".log";
  const auto bare = ParseKubernetesLogPath(bare_path);
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->container, "nginx");
}

TEST(KubernetesLogPathTest, PodsLayout) {
  const auto ref = ParseKubernetesLogPath(
      "/var/log/pods/shop_auth-7d9c8b6f5-x2k4q_0b5e6f2a-9c1d-4e8b-a7f3-2d6c8e1b4a90/auth/0.log");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->ns, "shop");
  EXPECT_EQ(ref->pod, "auth-7d9c8b6f5-x2k4q");
  EXPECT_EQ(ref->container, "auth");

  const auto restarted = ParseKubernetesLogPath(
      "/mnt/node/var/log/pods/kube-system_kube-proxy-m4ndw_1f2e3d4c/kube-proxy/12.log");
  ASSERT_TRUE(restarted.has_value());
  EXPECT_EQ(restarted->ns, "kube-system");
  EXPECT_EQ(restarted->pod, "kube-proxy-m4ndw");
  EXPECT_EQ(restarted->container, "kube-proxy");
}

TEST(KubernetesLogPathTest, RejectsRotatedAndForeignFiles) {
  const std::vector<std::string> paths = {
      "/var/log/pods/shop_auth-1_uid/auth/0.log.20240101-120000",
      "/var/log/pods/shop_auth-1_uid/auth/0.log.20240101-120000.gz",
      "/var/log/pods/shop_auth-1_uid/auth/0.log.1",
      "/var/log/containers/auth-1_shop_auth-" + kId + ".log.1",
      "/var/log/containers/auth-1_shop_auth-" + kId.substr(1) + ".log",  // 63 hex
      "/var/log/containers/auth-1_shop_auth_" + kId + ".log",            // '_' before the id
      "/var/log/containers/auth-1_shop_auth-" + std::string(64, 'g') + ".log",
      "/var/log/containers/auth-1_auth-" + kId + ".log",  // no namespace
      "/var/log/containers/a_b_c_d-" + kId + ".log",
      "/var/log/containers/_shop_auth-" + kId + ".log",
      "/var/log/pods/shop_auth-1/auth/0.log",  // no uid
      "/var/log/pods/auth/0.log",
      "0.log",
      "/var/log/syslog",
      ".log",
      "",
  };
  for (const std::string& p : paths) {
    EXPECT_FALSE(ParseKubernetesLogPath(p).has_value()) << p;
  }
}

TEST(WorkloadFromPodTest, Names) {
  struct Case {
    std::string pod, deployment, version;
  };
  const std::vector<Case> cases = {
      {"auth-7d9c8b6f5-x2k4q", "auth", "7d9c8b6f5"},
      {"ingress-nginx-controller-6d5f7c9b8-m4ndw", "ingress-nginx-controller", "6d5f7c9b8"},
      {"api-5b8c-zzzzz", "api", "5b8c"},
      {"api-bcdfghjklm-22222", "api", "bcdfghjklm"},  // 10-char hash, all-digit suffix
      {"db-0", "db", ""},
      {"kafka-broker-12", "kafka-broker", ""},
      {"node-exporter-x2k4q", "node-exporter", ""},  // DaemonSet: "exporter" is no hash
      {"agent-x2k4q", "agent", ""},
      {"migrate-schema-x2k4q", "migrate-schema", ""},      // vowels: no hash
      {"backup-28391234-x2k4q", "backup", ""},             // CronJob run
      {"api-bcdfghjklmn-x2k4q", "api-bcdfghjklmn", ""},    // hash longer than 10
      {"api-7d9c8b6f5-x2k4", "api-7d9c8b6f5-x2k4", ""},    // suffix not 5 chars
      {"api-7d9c8b6f5-x2k4a", "api-7d9c8b6f5-x2k4a", ""},  // vowel in suffix
      {"static-pod-node1", "static-pod-node1", ""},
      {"standalone", "standalone", ""},
      {"-x2k4q", "-x2k4q", ""},
      {"", "", ""},
  };
  for (const Case& c : cases) {
    const Workload w = WorkloadFromPod(c.pod);
    EXPECT_EQ(w.deployment, c.deployment) << c.pod;
    EXPECT_EQ(w.version, c.version) << c.pod;
  }
}

}  // namespace
}  // namespace obsgate::ingest
