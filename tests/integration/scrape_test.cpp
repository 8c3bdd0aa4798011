// obsgate and a real Prometheus scrape the same real node exporter and count the same samples.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <regex>
#include <thread>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using namespace std::chrono_literals;

// Prometheus's last scrape_samples_scraped of the node job, from /api/v1/query.
std::optional<long> PrometheusSamples(std::uint16_t port) {
  std::string body =
      Get(port, "/api/v1/query?query=scrape_samples_scraped%7Bjob%3D%22node%22%7D").body;
  std::smatch m;
  if (!std::regex_search(body, m, std::regex("\"value\":\\[[0-9.]+,\"([0-9]+)\"\\]"))) {
    return std::nullopt;
  }
  return std::stol(m[1]);
}

// obsgate's obsgate_scrape_samples_scraped for `target`, from its /metrics.
std::optional<long> ObsgateSamples(std::uint16_t port, const std::string& target) {
  std::string body = Get(port, "/metrics").body;
  std::smatch m;
  std::regex line("obsgate_scrape_samples_scraped\\{[^}]*target=\"" +
                  std::regex_replace(target, std::regex("[.]"), "\\.") + "\"[^}]*\\} ([0-9]+)");
  if (!std::regex_search(body, m, line)) return std::nullopt;
  return std::stol(m[1]);
}

TEST(Scrape, ObsgateCountsTheSameSamplesAsPrometheusFromTheNodeExporter) {
  ASSERT_TRUE(HaveProgram("prometheus")) << "install the Debian prometheus package";
  ASSERT_TRUE(HaveProgram("prometheus-node-exporter"))
      << "install the Debian prometheus-node-exporter package";
  TempDir dir;
  std::uint16_t node_port = FreePort();
  std::string node = "127.0.0.1:" + std::to_string(node_port);
  auto exporter = Process::Start({"prometheus-node-exporter", "--web.listen-address=" + node});
  ASSERT_TRUE(exporter->WaitForOutput("Listening on", 30s)) << exporter->Output();

  std::string target = "http://" + node + "/metrics";
  GatewayProcess g = GatewayProcess::Start(dir.Write("obsgate.yaml",
                                                     "listen: 127.0.0.1:0\n"
                                                     "sources:\n"
                                                     "  - scrape:\n"
                                                     "      interval: 1s\n"
                                                     "      targets: [{url: \"" +
                                                         target + "\"}]\n"));
  std::uint16_t prom_port = FreePort();
  std::string config = dir.Write("prometheus.yml",
                                 "global: {scrape_interval: 1s}\n"
                                 "scrape_configs:\n"
                                 "  - job_name: node\n"
                                 "    static_configs: [{targets: ['" +
                                     node + "']}]\n");
  auto prom = Process::Start({"prometheus", "--config.file=" + config,
                              "--storage.tsdb.path=" + dir.path() + "/data",
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)});

  // The node exporter's sample count can move between scrapes (a collector that fails once, a
  // new promhttp status code), so each round reads both sides' latest scrape, at most one
  // interval apart, and the test passes when they agree. A systematic miscount (a sample kind
  // counted differently) never agrees and fails at the deadline.
  std::optional<long> ours, theirs;
  bool same = false;
  for (int i = 0; i < 120 && !same; ++i) {
    std::this_thread::sleep_for(500ms);
    theirs = PrometheusSamples(prom_port);
    ours = ObsgateSamples(g.port, target);
    same = ours && theirs && *ours == *theirs && *ours > 0;
  }
  EXPECT_TRUE(same) << "obsgate " << ours.value_or(-1) << ", Prometheus " << theirs.value_or(-1)
                    << "\n"
                    << g.process->Output() << "\n"
                    << prom->Output();
  std::string metrics = Get(g.port, "/metrics").body;
  EXPECT_THAT(metrics, ::testing::HasSubstr("obsgate_scrape_up{source=\"scrape-1\",target=\"" +
                                            target + "\"} 1"));
}

}  // namespace
}  // namespace obsgate::testing
