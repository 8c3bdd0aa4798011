#include "core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/core/config_test_support.hpp"
#include "tests/support/process.hpp"

namespace obsgate::core {
namespace {

using ::testing::ElementsAre;

using testing::FakeEnv;

std::vector<std::string> Problems(std::string_view yaml, Env env = FakeEnv({})) {
  std::vector<std::string> out = testing::ProblemsOf(yaml, env);
  EXPECT_EQ(ParseConfig(yaml, "obsgate.yaml", env).config.has_value(), out.empty());
  return out;
}

TEST(ExpandEnv, ExpandsVariablesAndDefaults) {
  Env env = FakeEnv({{"HOST", "db"}, {"EMPTY", ""}});
  EXPECT_EQ(*ExpandEnv("${HOST}:5432", env), "db:5432");
  EXPECT_EQ(*ExpandEnv("${PORT:-9464}", env), "9464");
  EXPECT_EQ(*ExpandEnv("${EMPTY:-x}", env), "x");
  EXPECT_EQ(*ExpandEnv("${EMPTY}", env), "");
  EXPECT_EQ(*ExpandEnv("cost $$5 and $x", env), "cost $5 and $x");
  EXPECT_EQ(*ExpandEnv("${HOST:-}", env), "db");
}

TEST(ExpandEnv, ReportsMissingAndMalformedReferences) {
  Env env = FakeEnv({});
  EXPECT_EQ(ExpandEnv("${SLACK_WEBHOOK_URL}", env).error(),
            "environment variable SLACK_WEBHOOK_URL is not set; set it or write "
            "${SLACK_WEBHOOK_URL:-default}");
  EXPECT_EQ(ExpandEnv("a${B", env).error(),
            "unclosed ${ at position 2; write ${NAME} or ${NAME:-default}, or $$ for a literal $");
  EXPECT_EQ(ExpandEnv("${1X}", env).error(),
            "\"${1X}\" is not a variable reference; names are letters, digits and _");
}

TEST(ParseConfig, EmptyFileGivesDefaults) {
  ConfigLoad load = ParseConfig("", "empty.yaml", FakeEnv({}));
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->server.host, "127.0.0.1");
  EXPECT_EQ(load.config->server.port, 9464);
  EXPECT_EQ(load.config->server.threads, 2);
}

TEST(ParseConfig, ReadsEverySetting) {
  ConfigLoad load = ParseConfig(R"(
listen: ${LISTEN:-0.0.0.0:9000}
server:
  threads: 4
  max_header_size: 32KiB
  max_body_size: 1MiB
  read_timeout: 5s
  idle_timeout: 1m
  shutdown_timeout: 500ms
)",
                                "x.yaml", FakeEnv({}));
  ASSERT_TRUE(load.config);
  const ServerConfig& s = load.config->server;
  EXPECT_EQ(s.host, "0.0.0.0");
  EXPECT_EQ(s.port, 9000);
  EXPECT_EQ(s.threads, 4);
  EXPECT_EQ(s.max_header_bytes, 32u * 1024);
  EXPECT_EQ(s.max_body_bytes, 1u << 20);
  EXPECT_EQ(s.read_timeout, std::chrono::seconds(5));
  EXPECT_EQ(s.idle_timeout, std::chrono::minutes(1));
  EXPECT_EQ(s.shutdown_timeout, std::chrono::milliseconds(500));
}

TEST(ParseConfig, ReportsEveryProblemWithLineColumnAndKey) {
  EXPECT_THAT(Problems(R"(listen: 127.0.0.1
server:
  threads: 0
  read_timeout: 30
  idle_timeout: soon
  max_body_size: 10 MB
  shutdown_timout: 5s
rulez: []
)"),
              ElementsAre("obsgate.yaml:1:9: listen: \"127.0.0.1\" has no port; write host:port, "
                          "like 127.0.0.1:9464",
                          "obsgate.yaml:3:12: server.threads: \"0\" is out of range; use 1 to 64",
                          "obsgate.yaml:4:17: server.read_timeout: duration \"30\" has no unit; "
                          "add one of ms, s, m, h, d, w",
                          "obsgate.yaml:5:17: server.idle_timeout: bad duration \"soon\": expected "
                          "a whole number at position 1; write it like 30s, 5m or 1h30m",
                          "obsgate.yaml:6:18: server.max_body_size: size \"10 MB\" has unknown "
                          "unit \" MB\"; use B, KiB, MiB, GiB, KB, MB or GB",
                          "obsgate.yaml:7:3: server.shutdown_timout: unknown key; check its "
                          "spelling and place",
                          "obsgate.yaml:8:1: rulez: unknown key; check its spelling and place"));
}

TEST(ParseConfig, ReportsWrongShapes) {
  EXPECT_THAT(Problems("server: 5\n"),
              ElementsAre("obsgate.yaml:1:9: server: expected a mapping of keys to values"));
  EXPECT_THAT(Problems("server:\n  threads: [1, 2]\n"),
              ElementsAre("obsgate.yaml:2:12: server.threads: expected a single value"));
  EXPECT_THAT(Problems("listen:\n"), ElementsAre("obsgate.yaml:1:1: listen: a value is required"));
  EXPECT_THAT(Problems("- a\n- b\n"),
              ElementsAre("obsgate.yaml:1:1: the configuration must be a YAML mapping of keys "
                          "such as listen: and rules:"));
  EXPECT_THAT(Problems("listen: a:1\nlisten: b:2\n"),
              ElementsAre("obsgate.yaml:2:1: listen: duplicate key; each key may appear once"));
  EXPECT_THAT(Problems("listen: \"[::1]9464\"\n"),
              ElementsAre("obsgate.yaml:1:9: listen: \"[::1]9464\" is not an address; write "
                          "[::1]:9464"));
  EXPECT_THAT(Problems("listen: 1.2.3.4:99999\n"),
              ElementsAre("obsgate.yaml:1:9: listen: port \"99999\" is not a number from 0 to "
                          "65535"));
}

TEST(ParseConfig, NotYamlIsOneClearProblem) {
  EXPECT_THAT(Problems("listen: [unclosed\nserver: {\n"),
              ElementsAre(::testing::Eq(
                  "obsgate.yaml:2:7: not valid YAML: end of sequence flow not found")));
  EXPECT_THAT(Problems("\x01\x02 binary"),
              ElementsAre(::testing::StartsWith("obsgate.yaml:1:1: ")));
}

TEST(ParseConfig, MissingVariableNamedButValuesFromTheEnvironmentNeverShown) {
  EXPECT_THAT(Problems("listen: ${LISTEN_ADDR}\n"),
              ElementsAre("obsgate.yaml:1:9: listen: environment variable LISTEN_ADDR is not set; "
                          "set it or write ${LISTEN_ADDR:-default}"));
  // A secret put in the wrong place must not be echoed back.
  std::vector<std::string> problems =
      Problems("server:\n  read_timeout: ${TOKEN}\n  threads: ${TOKEN}\nlisten: ${TOKEN}\n",
               FakeEnv({{"TOKEN", "s3cr3t-routing-key"}}));
  ASSERT_EQ(problems.size(), 3u);
  for (const std::string& p : problems) {
    EXPECT_EQ(p.find("s3cr3t"), std::string::npos) << p;
    EXPECT_NE(p.find("from the environment"), std::string::npos) << p;
  }
}

TEST(ParseConfig, ReadsAClusterAndItsSelfFromTheEnvironment) {
  ConfigLoad load = ParseConfig(R"(cluster:
  peers: [http://obsgate-1.obsgate:9090/, http://obsgate-0.obsgate:9090]
  self: http://${POD_NAME}.obsgate:9090
  forward_interval: 50ms
sources:
  - kafka: {brokers: "kafka:9092", topics: [logs], rewind_on_assign: true}
)",
                                "obsgate.yaml", FakeEnv({{"POD_NAME", "obsgate-1"}}));
  ASSERT_TRUE(load.config) << load.problems.front().ToString();
  const ClusterConfig& c = load.config->cluster;
  EXPECT_TRUE(c.enabled());
  EXPECT_THAT(c.peers,
              ElementsAre("http://obsgate-0.obsgate:9090", "http://obsgate-1.obsgate:9090"));
  EXPECT_EQ(c.self, "http://obsgate-1.obsgate:9090");
  EXPECT_EQ(c.forward_interval, std::chrono::milliseconds(50));
  EXPECT_TRUE(std::get<KafkaSourceConfig>(load.config->sources.at(0).spec).rewind_on_assign);
  EXPECT_FALSE(ParseConfig("{}", "obsgate.yaml", FakeEnv({})).config->cluster.enabled());
}

TEST(ParseConfig, ReportsAClusterThatCannotWork) {
  EXPECT_THAT(Problems(R"(cluster:
  peers: [http://a:9090, a:9091, http://a:9090]
  self: http://b:9090
)"),
              ElementsAre("obsgate.yaml:2:10: cluster.peers: \"a:9091\" is not an http(s):// URL",
                          "obsgate.yaml:2:10: cluster.peers: a replica is listed twice",
                          "obsgate.yaml:3:9: cluster.self: \"http://b:9090\" is not one of peers"));
  EXPECT_THAT(Problems("cluster: {peers: []}\n"),
              ::testing::UnorderedElementsAre(
                  ::testing::HasSubstr("cluster.peers: list every replica's URL"),
                  ::testing::HasSubstr("cluster.self: name this replica's entry")));
}

TEST(ParseListenAddress, AcceptsTheUsualForms) {
  EXPECT_EQ(*ParseListenAddress("127.0.0.1:9464"),
            (std::pair<std::string, std::uint16_t>{"127.0.0.1", 9464}));
  EXPECT_EQ(ParseListenAddress(":80")->first, "0.0.0.0");
  EXPECT_EQ(ParseListenAddress("[::1]:0")->first, "::1");
  EXPECT_EQ(ParseListenAddress("::1:80").error(), "IPv6 addresses go in brackets, like [::1]:9464");
}

TEST(LoadConfigFile, UnreadableFileIsAProblem) {
  ConfigLoad load = LoadConfigFile("/nonexistent/obsgate.yaml", FakeEnv({}));
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_EQ(load.problems[0].ToString(),
            "/nonexistent/obsgate.yaml: cannot read the file; check the path and its permissions");
}

TEST(LoadConfigFile, ReadsAFile) {
  obsgate::testing::TempDir dir;
  std::string path = dir.Write("c.yaml", "listen: 127.0.0.1:1234\n");
  ConfigLoad load = LoadConfigFile(path, FakeEnv({}));
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->server.port, 1234);
  EXPECT_EQ(load.config->file, path);
}

}  // namespace
}  // namespace obsgate::core

namespace obsgate::core {
namespace {

TEST(ParseConfig, ReadsAScrapeSource) {
  ConfigLoad load = ParseConfig(R"(sources:
  - scrape:
      interval: 30s
      timeout: 5s
      targets:
        - {url: "http://auth:8000/metrics", labels: {deployment: auth, namespace: prod}}
      file_sd: [/etc/obsgate/targets.json]
      scheme: https
      metrics_path: /custom
      requests: http_request_duration_seconds_count
      errors: 'http_request_duration_seconds_count{code=~"5..|429"}'
      label_names: {deployment: app, version: release}
      bearer_token: ${TOKEN}
      tls: {ca_file: /etc/ca.pem, insecure_skip_verify: true}
      sample_limit: 5000
      honor_labels: true
)",
                                "obsgate.yaml", FakeEnv({{"TOKEN", "s3cret"}}));
  ASSERT_TRUE(load.config) << load.problems.front().ToString();
  ASSERT_EQ(load.config->sources.size(), 1u);
  EXPECT_EQ(load.config->sources[0].name, "scrape-1");
  const auto& s = std::get<ScrapeSourceConfig>(load.config->sources[0].spec);
  EXPECT_EQ(s.interval, std::chrono::seconds(30));
  EXPECT_EQ(s.timeout, std::chrono::seconds(5));
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0].url, "http://auth:8000/metrics");
  EXPECT_EQ(s.targets[0].labels.at("deployment"), "auth");
  EXPECT_EQ(s.file_sd, std::vector<std::string>{"/etc/obsgate/targets.json"});
  EXPECT_EQ(s.scheme, "https");
  EXPECT_EQ(s.metrics_path, "/custom");
  EXPECT_EQ(s.errors, "http_request_duration_seconds_count{code=~\"5..|429\"}");
  EXPECT_EQ(s.label_names.deployment, "app");
  EXPECT_EQ(s.label_names.ns, "namespace");  // unnamed keys keep their defaults
  EXPECT_EQ(s.label_names.version, "release");
  EXPECT_EQ(s.bearer_token, "s3cret");
  EXPECT_EQ(s.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(s.insecure_skip_verify);
  EXPECT_EQ(s.sample_limit, 5000u);
  EXPECT_TRUE(s.honor_labels);
}

TEST(ParseConfig, ScrapeDefaultsFollowPrometheus) {
  ConfigLoad load =
      ParseConfig("sources:\n  - scrape: {interval: 5s, targets: [{url: 'http://a/metrics'}]}\n",
                  "obsgate.yaml", FakeEnv({}));
  ASSERT_TRUE(load.config);
  const auto& s = std::get<ScrapeSourceConfig>(load.config->sources[0].spec);
  EXPECT_EQ(s.timeout, std::chrono::seconds(5));  // 10s, cut to the interval
  EXPECT_EQ(s.requests, "http_requests_total");
  EXPECT_EQ(s.errors, "http_requests_total{code=~\"5..\"}");
  EXPECT_FALSE(s.honor_labels);
}

TEST(ParseConfig, ReportsEveryScrapeProblem) {
  EXPECT_THAT(
      Problems(R"(sources:
  - scrape:
      interval: 10s
      timeout: 20s
      targets:
        - {url: "ftp://x/metrics", lables: {a: b}}
        - {labels: {a: b}}
      scheme: gopher
      requests: "http requests"
      tls: {ca: x}
      sample_limit: -1
      bearer_token: a
      basic_auth: {username: u, password: p}
      interval_jitter: 1s
)"),
      ElementsAre(
          "obsgate.yaml:4:16: sources[0].scrape.timeout: must be at most the interval",
          "obsgate.yaml:6:17: sources[0].scrape.targets[0].url: \"ftp://x/metrics\" is not an "
          "http:// or https:// URL",
          "obsgate.yaml:6:36: sources[0].scrape.targets[0].lables: unknown key; check its "
          "spelling and place",
          "obsgate.yaml:7:11: sources[0].scrape.targets[1].url: name the target's URL, like "
          "http://auth:8000/metrics",
          "obsgate.yaml:8:15: sources[0].scrape.scheme: \"gopher\" is not a scheme; use http or "
          "https",
          "obsgate.yaml:9:17: sources[0].scrape.requests: \"http requests\" is not a series "
          "selector; write name{label=~\"re\"}",
          "obsgate.yaml:10:13: sources[0].scrape.tls.ca: unknown key; check its spelling and place",
          "obsgate.yaml:11:21: sources[0].scrape.sample_limit: \"-1\" is out of range; use 0 to "
          "100000000",
          "obsgate.yaml:13:19: sources[0].scrape.basic_auth: give bearer_token or basic_auth, not "
          "both",
          "obsgate.yaml:14:7: sources[0].scrape.interval_jitter: unknown key; check its spelling "
          "and place"));
  EXPECT_THAT(Problems("sources:\n  - scrape: {interval: 1m}\n"),
              ElementsAre("obsgate.yaml:2:13: sources[0].scrape.targets: name at least one "
                          "target or a file_sd file"));
}

}  // namespace
}  // namespace obsgate::core
