// obsgate's alerts reach a real Alertmanager (the Debian prometheus-alertmanager) through its
// API v2, with their labels and annotations, and leave it when they resolve.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// One second of traffic for auth v2: n requests, e of them failing.
void PushSecond(std::uint16_t port, int n, int e) {
  std::string body;
  for (int i = 0; i < n; ++i) body += i < e ? "{\"status\":503}\n" : "{\"status\":200}\n";
  HttpReply r = Post(port, "/api/v1/logs?namespace=shop&deployment=auth&version=v2", body);
  ASSERT_EQ(r.status, 200) << r.body;
}

std::string AlertmanagerAlerts(std::uint16_t port) {
  return Get(port, "/api/v2/alerts?active=true&silenced=true&inhibited=true").body;
}

TEST(Alertmanager, ReceivesFiringAlertsAndTheirResolution) {
  ASSERT_TRUE(HaveProgram("prometheus-alertmanager"))
      << "install the Debian prometheus-alertmanager package";
  TempDir dir;
  std::uint16_t am_port = FreePort();
  std::string am_config = dir.Write("alertmanager.yml",
                                    "route: {receiver: nobody}\n"
                                    "receivers: [{name: nobody}]\n");
  auto am = Process::Start({"prometheus-alertmanager", "--config.file=" + am_config,
                            "--storage.path=" + dir.path() + "/am",
                            "--web.listen-address=127.0.0.1:" + std::to_string(am_port),
                            "--cluster.listen-address="});
  bool am_ready = false;
  for (int i = 0; i < 100 && !am_ready; ++i) {
    std::this_thread::sleep_for(200ms);
    am_ready = Get(am_port, "/-/ready").status == 200;
  }
  ASSERT_TRUE(am_ready) << am->Output();

  GatewayProcess g = GatewayProcess::Start(dir.Write("obsgate.yaml", R"(listen: 127.0.0.1:0
external_url: http://obsgate.test:9464
sources: [{http: {}}]
rules:
  - name: AuthErrorRate
    expr: error_rate(5s) > 1% and requests(5s) >= 20
    labels: {severity: critical, team: identity}
    summary: "{{ deployment }} {{ version }}: {{ error_rate | pct }} of requests failed"
    description: "{{ requests }} requests in 5s"
receivers:
  - name: am
    alertmanager: {urls: ["http://127.0.0.1:)" + std::to_string(am_port) +
                                                                         R"("], resend_interval: 2s}
route: {receiver: am, group_wait: 0s, group_interval: 1s}
)"));
  // 10% errors until the alert is in Alertmanager.
  std::string alerts;
  bool seen = false;
  for (int i = 0; i < 40 && !seen; ++i) {
    PushSecond(g.port, 50, 5);
    std::this_thread::sleep_for(500ms);
    alerts = AlertmanagerAlerts(am_port);
    seen = alerts.find("AuthErrorRate") != std::string::npos;
  }
  ASSERT_TRUE(seen) << alerts << "\n" << g.process->Output();
  EXPECT_THAT(alerts, HasSubstr("\"alertname\":\"AuthErrorRate\""));
  EXPECT_THAT(alerts, HasSubstr("\"deployment\":\"auth\""));
  EXPECT_THAT(alerts, HasSubstr("\"namespace\":\"shop\""));
  EXPECT_THAT(alerts, HasSubstr("\"version\":\"v2\""));
  EXPECT_THAT(alerts, HasSubstr("\"severity\":\"critical\""));
  EXPECT_THAT(alerts, HasSubstr("\"team\":\"identity\""));
  EXPECT_THAT(alerts, HasSubstr("\"summary\":\"auth v2: 10.00% of requests failed\""));
  EXPECT_THAT(alerts, HasSubstr("\"state\":\"active\""));
  EXPECT_THAT(alerts, HasSubstr("\"generatorURL\":\"http://obsgate.test:9464"));

  // Healthy traffic: the rule resolves, obsgate sends endsAt = now, Alertmanager drops it.
  bool gone = false;
  for (int i = 0; i < 60 && !gone; ++i) {
    PushSecond(g.port, 50, 0);
    std::this_thread::sleep_for(500ms);
    alerts = AlertmanagerAlerts(am_port);
    gone = alerts.find("AuthErrorRate") == std::string::npos;
  }
  EXPECT_TRUE(gone) << alerts << "\n" << g.process->Output();
  std::string sent = Get(g.port, "/api/v1/notifications").body;
  EXPECT_THAT(sent, HasSubstr("\"status\":\"resolved\""));
  EXPECT_THAT(sent, HasSubstr("\"result\":\"delivered\""));
}

}  // namespace
}  // namespace obsgate::testing
