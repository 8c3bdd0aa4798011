// The obsgate binary as its users run it: CLI, signals, reload, /metrics checked by promtool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kConfig = "listen: 127.0.0.1:0\nserver:\n  shutdown_timeout: 5s\n";

TEST(Cli, VersionHelpAndUnknownCommands) {
  RunResult v = RunCommand({OBSGATE_BINARY, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.output, ::testing::MatchesRegex("obsgate [0-9]+\\.[0-9]+\\.[0-9]+ \\(revision "
                                                "[0-9a-f]{12}\\)\n"));
  RunResult h = RunCommand({OBSGATE_BINARY, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.output, HasSubstr("check-config"));
  RunResult rh = RunCommand({OBSGATE_BINARY, "run", "--help"});
  EXPECT_EQ(rh.exit_code, 0);
  EXPECT_THAT(rh.output, HasSubstr("usage: obsgate run [--config FILE]"));
  RunResult ch = RunCommand({OBSGATE_BINARY, "help", "check-config"});
  EXPECT_THAT(ch.output, HasSubstr("usage: obsgate check-config FILE"));
  RunResult bad = RunCommand({OBSGATE_BINARY, "frobnicate"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("unknown command \"frobnicate\""));
}

TEST(Cli, CheckConfigPrintsEveryProblemAndExitsOne) {
  TempDir dir;
  std::string good = dir.Write("good.yaml", kConfig);
  RunResult ok = RunCommand({OBSGATE_BINARY, "check-config", good});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, good + ": ok\n");

  std::string bad = dir.Write("bad.yaml", "listen: ${NOPE_NOT_SET}\nserver:\n  threads: lots\n");
  RunResult r = RunCommand({OBSGATE_BINARY, "check-config", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output,
            bad +
                ":1:9: listen: environment variable NOPE_NOT_SET is not set; set it or write "
                "${NOPE_NOT_SET:-default}\n" +
                bad + ":3:12: server.threads: \"lots\" is not a whole number\n2 problems in " +
                bad + "\n");

  std::string binary = dir.Write("binary.yaml", std::string("\x89PNG\r\n\x1a\n\0\0{[", 12));
  RunResult b = RunCommand({OBSGATE_BINARY, "check-config", binary});
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_THAT(b.output, HasSubstr("not valid YAML"));
}

TEST(Gateway, RefusesToStartOnABadConfig) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", "listen: [\n");
  RunResult r = RunCommand({OBSGATE_BINARY, "run", "--config", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("not valid YAML"));
  EXPECT_THAT(r.output, HasSubstr("nothing was started"));
}

TEST(Gateway, ServesHealthReadyAndMetricsThatPromtoolAccepts) {
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("c.yaml", kConfig));
  EXPECT_EQ(Get(g.port, "/health").body, "ok\n");
  EXPECT_EQ(Get(g.port, "/ready").status, 200);
  HttpReply m = Get(g.port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* name :
       {"obsgate_build_info{revision=\"", "process_cpu_seconds_total ",
        "process_resident_memory_bytes ", "process_start_time_seconds ", "process_open_fds ",
        "process_max_fds ", "obsgate_http_requests_total{code=\"200\",handler=\"health\"} 1",
        "obsgate_http_request_duration_seconds_bucket{handler=\"ready\",le=\"+Inf\"} 1"}) {
    EXPECT_THAT(m.body, HasSubstr(name));
  }
  ASSERT_TRUE(HaveProgram("promtool")) << "promtool comes with the Debian prometheus package";
  RunResult lint = RunCommand({"promtool", "check", "metrics"}, m.body);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << "promtool lint warnings";
}

TEST(Gateway, ReloadRefusesABadConfigAndKeepsServing) {
  TempDir dir;
  std::string path = dir.Write("c.yaml", kConfig);
  GatewayProcess g = GatewayProcess::Start(path);

  dir.Write("c.yaml", "listen: 127.0.0.1:0\nserver: {threads: nine}\n");
  g.process->Signal(SIGHUP);
  EXPECT_TRUE(g.process->WaitForOutput("reload refused", 10s));
  EXPECT_THAT(g.process->Output(), HasSubstr("server.threads: \\\"nine\\\" is not a whole number"));
  EXPECT_EQ(Get(g.port, "/health").status, 200);
  EXPECT_THAT(Get(g.port, "/metrics").body, HasSubstr("obsgate_config_last_reload_successful 0"));

  HttpReply refused = Post(g.port, "/-/reload", "");
  EXPECT_EQ(refused.status, 500);
  EXPECT_THAT(refused.body, HasSubstr("was not applied"));

  dir.Write("c.yaml", kConfig);
  HttpReply ok = Post(g.port, "/-/reload", "");
  EXPECT_EQ(ok.status, 200);
  EXPECT_THAT(Get(g.port, "/metrics").body, HasSubstr("obsgate_config_last_reload_successful 1"));
}

TEST(Gateway, SigtermWithARequestOnAKeptAliveConnectionExitsZero) {
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("c.yaml", kConfig));
  Connection c(g.port);
  c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(c.ReadReply()->status, 200);
  g.process->Signal(SIGTERM);
  EXPECT_EQ(g.process->Wait(20s), 0) << g.process->Output();
  EXPECT_THAT(g.process->Output(), HasSubstr("\"msg\":\"obsgate stopped\",\"clean\":true"));
  EXPECT_TRUE(c.WaitClosed(1s));
}

TEST(Gateway, LogsAreOneJsonObjectPerLine) {
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("c.yaml", kConfig), {"LOG_LEVEL=debug"});
  g.process->Signal(SIGINT);
  ASSERT_EQ(g.process->Wait(20s), 0);
  std::string out = g.process->Output();
  std::size_t lines = 0;
  for (std::size_t pos = 0, end; (end = out.find('\n', pos)) != std::string::npos; pos = end + 1) {
    std::string line = out.substr(pos, end - pos);
    EXPECT_THAT(line, ::testing::MatchesRegex("\\{\"ts\":\"[0-9T:.-]+Z\",\"level\":\"[a-z]+\","
                                              "\"msg\":.*\\}"));
    ++lines;
  }
  EXPECT_GE(lines, 3u);
}

}  // namespace
}  // namespace obsgate::testing

namespace obsgate::testing {
namespace {

TEST(Rules, CheckConfigPointsAtTheBadExpression) {
  TempDir dir;
  std::string path = dir.Write("rules.yaml",
                               "listen: 127.0.0.1:0\n"
                               "rules:\n"
                               "  - name: Broken\n"
                               "    expr: error_rate(5m) > 1% and requests(5) >= 100\n"
                               "  - name: Fine\n"
                               "    expr: errors(1m) > 0\n"
                               "    actions: [notify, page]\n");
  RunResult r = RunCommand({OBSGATE_BINARY, "check-config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr(path + ":4:11: rules[0] (Broken): column 34: requests() takes a "
                                         "duration here, not a number, as in requests(5m)\n"
                                         "  error_rate(5m) > 1% and requests(5) >= 100\n"
                                         "                                   ^"));
  EXPECT_THAT(r.output, HasSubstr(path + ":7:14: rules[1].actions: \"page\" is not an action; use "
                                         "notify or rollback"));
}

TEST(Rules, PushedErrorsFireAnAlertSeenInTheApiAndTheLog) {
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(
      dir.Write("c.yaml",
                "listen: 127.0.0.1:0\n"
                "sources: [{http: {}}]\n"
                "rules:\n"
                "  - name: AnyErrors\n"
                "    expr: errors(10s) >= 3 and requests(10s) >= 10\n"
                "    labels: {severity: page}\n"
                "    summary: \"{{ deployment }} {{ version }}: {{ errors }} errors\"\n"));
  std::string body = "{\"streams\":[{\"stream\":{\"app\":\"auth\",\"version\":\"v9\"},\"values\":[";
  for (int i = 0; i < 20; ++i) {
    body +=
        std::string(i ? "," : "") + "[\"1\",\"{\\\"status\\\":" + (i < 5 ? "503" : "200") + "}\"]";
  }
  body += "]}]}";
  ASSERT_EQ(Post(g.port, "/loki/api/v1/push", body).status, 204);
  std::string alerts;
  for (int i = 0; i < 100 && alerts.find("\"state\":\"firing\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    alerts = Get(g.port, "/api/v1/alerts").body;
  }
  EXPECT_THAT(alerts, HasSubstr("\"alertname\":\"AnyErrors\""));
  EXPECT_THAT(alerts, HasSubstr("\"state\":\"firing\""));
  EXPECT_THAT(alerts, HasSubstr("\"summary\":\"auth v9: 5 errors\""));
  EXPECT_TRUE(g.process->WaitForOutput("\"msg\":\"alert firing\",\"alertname\":\"AnyErrors\"", 5s));
  EXPECT_THAT(Get(g.port, "/api/v1/rules").body, HasSubstr("\"name\":\"AnyErrors\""));
  EXPECT_THAT(Get(g.port, "/metrics").body,
              HasSubstr("obsgate_alerts{alertname=\"AnyErrors\",state=\"firing\"} 1"));
}

TEST(Rules, AReloadReplacesTheRules) {
  TempDir dir;
  std::string path = dir.Write("c.yaml",
                               "listen: 127.0.0.1:0\nrules: [{name: First, expr: "
                               "\"errors(1m) > 0\"}]\n");
  GatewayProcess g = GatewayProcess::Start(path);
  EXPECT_THAT(Get(g.port, "/api/v1/rules").body, HasSubstr("\"name\":\"First\""));
  dir.Write("c.yaml", "listen: 127.0.0.1:0\nrules: [{name: Second, expr: \"errors(1m) > 1\"}]\n");
  ASSERT_EQ(Post(g.port, "/-/reload", "").status, 200);
  std::string rules = Get(g.port, "/api/v1/rules").body;
  EXPECT_THAT(rules, HasSubstr("\"name\":\"Second\""));
  EXPECT_THAT(rules, ::testing::Not(HasSubstr("\"name\":\"First\"")));
  dir.Write("c.yaml", "listen: 127.0.0.1:0\nrules: [{name: Third, expr: \"errors(1m)\"}]\n");
  HttpReply bad = Post(g.port, "/-/reload", "");
  EXPECT_EQ(bad.status, 500);
  EXPECT_THAT(bad.body, HasSubstr("a rule needs a condition"));
  EXPECT_THAT(Get(g.port, "/api/v1/rules").body, HasSubstr("\"name\":\"Second\""));
}

TEST(Rules, TheDefaultRulesRunWhenNoneAreConfigured) {
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("c.yaml", "listen: 127.0.0.1:0\n"));
  std::string rules = Get(g.port, "/api/v1/rules").body;
  EXPECT_THAT(rules, HasSubstr("\"name\":\"ErrorRateAbove1Percent\",\"query\":\"error_rate(5m) > "
                               "1% and requests(5m) >= 100 and worse_than_baseline(5m, 0.01)\""));
  EXPECT_THAT(rules, HasSubstr("\"actions\":[\"notify\",\"rollback\"]"));
}

}  // namespace
}  // namespace obsgate::testing
