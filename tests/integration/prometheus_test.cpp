// A real Prometheus scrapes a running obsgate and sees it up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using namespace std::chrono_literals;

TEST(Prometheus, ScrapesObsgateAndSeesItUp) {
  ASSERT_TRUE(HaveProgram("prometheus")) << "install the Debian prometheus package";
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("obsgate.yaml", "listen: 127.0.0.1:0\n"));
  std::uint16_t prom_port = FreePort();
  std::string config = dir.Write("prometheus.yml",
                                 "global: {scrape_interval: 1s}\n"
                                 "scrape_configs:\n"
                                 "  - job_name: obsgate\n"
                                 "    static_configs: [{targets: ['127.0.0.1:" +
                                     std::to_string(g.port) + "']}]\n");
  auto prom = Process::Start({"prometheus", "--config.file=" + config,
                              "--storage.tsdb.path=" + dir.path() + "/data",
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)});
  std::string body;
  bool up = false;
  for (int i = 0; i < 120 && !up; ++i) {
    std::this_thread::sleep_for(500ms);
    body = Get(prom_port, "/api/v1/query?query=up%7Bjob%3D%22obsgate%22%7D").body;
    up = body.find("\"value\":[") != std::string::npos && body.find(",\"1\"]") != std::string::npos;
  }
  EXPECT_TRUE(up) << body << "\n" << prom->Output();
  // Prometheus stored obsgate's own series, so it parsed the exposition.
  std::string build =
      Get(prom_port, "/api/v1/query?query=obsgate_build_info%7Bjob%3D%22obsgate%22%7D").body;
  EXPECT_THAT(build, ::testing::HasSubstr("\"version\":\""));
}

}  // namespace
}  // namespace obsgate::testing
