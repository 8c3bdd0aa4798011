// `obsgate metrics-dump` on the captures in tests/data, on bad input, and on a live node exporter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

const std::string kCaptures = std::string(OBSGATE_TEST_DATA_DIR) + "/exposition/";

TEST(MetricsDump, PrintsFamiliesAndTheSampleCountOfAFile) {
  RunResult r = RunCommand({OBSGATE_BINARY, "metrics-dump", kCaptures + "node_exporter.prom"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("# go_gc_duration_seconds summary, 7 samples: A summary of"));
  EXPECT_THAT(r.output, HasSubstr("go_gc_duration_seconds{quantile=\"0.25\"} 0\n"));
  EXPECT_THAT(r.output, EndsWith("283 families, 507 samples\n"));
}

TEST(MetricsDump, PrintsJson) {
  RunResult r =
      RunCommand({OBSGATE_BINARY, "metrics-dump", "--json", kCaptures + "prometheus.openmetrics"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("{\"name\":\"go_goroutines\",\"type\":\"gauge\","));
  EXPECT_THAT(r.output, HasSubstr("\"labels\":{\"code\":\"200\"},\"value\":\"2\"}"));
  EXPECT_THAT(r.output, EndsWith(",\"family_count\":168,\"sample_count\":344}\n"));
}

TEST(MetricsDump, ReadsOpenMetricsFromStdinAndKeepsExemplars) {
  RunResult r = RunCommand({OBSGATE_BINARY, "metrics-dump", "-"},
                           "# TYPE c counter\nc_total 3 # {trace_id=\"a1\"} 0.5\n# EOF\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("c_total 3 exemplar {trace_id=\"a1\"} 0.5\n"));
  EXPECT_THAT(r.output, EndsWith("1 families, 1 samples\n"));
}

TEST(MetricsDump, ExitsNonZeroWithTheParsersMessage) {
  RunResult r = RunCommand({OBSGATE_BINARY, "metrics-dump", "-"}, "up 1\nup{job=\"x} 1\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("-: line 2: expected '\"' to close the value of label \"job\", "
                                  "got end of line"));
  RunResult om = RunCommand(
      {OBSGATE_BINARY, "metrics-dump", "--openmetrics", kCaptures + "prometheus.openmetrics"});
  EXPECT_EQ(om.exit_code, 1);
  EXPECT_THAT(om.output, HasSubstr("line 20: the counter family \"go_memstats_alloc_bytes_total\" "
                                   "is named without its sample suffix"));
}

TEST(MetricsDump, SaysWhyAUrlCannotBeFetched) {
  std::uint16_t port = FreePort();
  RunResult r = RunCommand(
      {OBSGATE_BINARY, "metrics-dump", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot connect to 127.0.0.1:" + std::to_string(port)));
}

TEST(MetricsDump, FetchesALiveNodeExporter) {
  ASSERT_TRUE(HaveProgram("prometheus-node-exporter")) << "install prometheus-node-exporter";
  std::uint16_t port = FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  auto exporter = Process::Start(
      {"prometheus-node-exporter", "--web.listen-address=127.0.0.1:" + std::to_string(port)});
  RunResult r;
  for (int i = 0; i < 50; ++i) {
    r = RunCommand({OBSGATE_BINARY, "metrics-dump", url});
    if (r.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(r.exit_code, 0) << r.output << exporter->Output();
  EXPECT_THAT(r.output, HasSubstr("# node_exporter_build_info gauge, 1 sample"));
}

}  // namespace
}  // namespace obsgate::testing
