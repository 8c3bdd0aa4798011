// Golden corpus: real-looking kubelet log files (docker json-file, containerd and CRI-O) run
// through framing, joining, classification and attribution, with the counts a user would see per
// series.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <tuple>

#include "ingest/attribution.hpp"
#include "ingest/classify.hpp"
#include "ingest/container_line.hpp"

namespace obsgate::ingest {
namespace {

using Series = std::tuple<std::string, std::string, std::string>;  // ns, deployment, version

struct Counts {
  int lines = 0;
  int requests = 0;
  int errors = 0;
  int error_lines = 0;
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{lines=" << c.lines << " requests=" << c.requests << " errors=" << c.errors
            << " error_lines=" << c.error_lines << "}";
}

struct FileResult {
  std::map<Series, Counts> series;
  std::map<std::string, int> frame_errors;
  std::uint64_t truncated = 0;
};

// The pipeline as the tail source wires it: the path names the pod; JSON fields that name a
// deployment take the line over.
FileResult RunFile(const std::string& relative, Format format) {
  FileResult r;
  const auto ref = ParseKubernetesLogPath(relative);
  EXPECT_TRUE(ref.has_value()) << relative;
  if (!ref) return r;
  const Workload w = WorkloadFromPod(ref->pod);

  std::ifstream in(std::string(OBSGATE_SOURCE_DIR) + "/tests/ingest/corpus/" + relative,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << relative;
  LineFramer framer(format);
  PartialJoiner joiner;
  auto classifier = std::move(Classifier::Create({})).value();
  std::string line;
  while (std::getline(in, line)) {
    ContainerLine cl;
    if (FrameError e = framer.Parse(line, cl); e != FrameError::kNone) {
      ++r.frame_errors[FrameErrorName(e)];
      continue;
    }
    std::string_view whole;
    if (!joiner.Add(cl, whole)) continue;
    const LineFacts f = classifier->Classify(whole);
    Series key{std::string(ref->ns), std::string(w.deployment), std::string(w.version)};
    if (!f.deployment.empty()) {
      key = {f.ns.empty() ? std::string(ref->ns) : std::string(f.ns), std::string(f.deployment),
             std::string(f.version)};
    }
    Counts& c = r.series[key];
    ++c.lines;
    if (f.status != 0) ++c.requests;
    if (f.status != 0 && classifier->IsErrorStatus(f.status)) ++c.errors;
    if (f.error_line) ++c.error_lines;
  }
  EXPECT_FALSE(joiner.HasPending()) << relative;
  r.truncated = joiner.truncated();
  return r;
}

struct GoldenFile {
  std::string path;
  Format format;
  std::map<Series, Counts> want;
  std::map<std::string, int> frame_errors;
};

const GoldenFile kGolden[] = {
    // Go service logging JSON through docker: requests, levels, a 40 KB error split in 3 pieces,
    // escapes (\u003c, \", unicode), an empty line and a logfmt pair in plain text.
    {"var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-"
     "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1.log",
     Format::kDocker,
     {{{"shop", "auth", "7d9c8b6f5"}, {19, 11, 4, 6}}},
     {}},
    // containerd: logfmt service, P/F pieces interleaved across stdout and stderr.
    {"var/log/pods/payments_checkout-5f6b9c7d48-q8zxv_0b5e6f2a-9c1d-4e8b-a7f3-2d6c8e1b4a90/"
     "checkout/0.log",
     Format::kCri,
     {{{"payments", "checkout", "5f6b9c7d48"}, {20, 14, 4, 5}}},
     {}},
    // CRI-O (+00:00 times): ingress-nginx combined access log and nginx error log with CRLF.
    {"var/log/pods/edge_ingress-nginx-controller-6d5f7c9b8-m4ndw_"
     "7e1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b/controller/0.log",
     Format::kCri,
     {{{"edge", "ingress-nginx-controller", "6d5f7c9b8"}, {16, 13, 3, 1}}},
     {}},
    // StatefulSet with log4j-style plain text.
    {"var/log/containers/kafka-0_streaming_kafka-"
     "26c48bbf33feff9243a8f506b40928b5b7a767c76fb008f86bebb2737f6a6f0f.log",
     Format::kDocker,
     {{{"streaming", "kafka", ""}, {9, 0, 0, 2}}},
     {}},
    // DaemonSet forwarding OpenTelemetry and ECS records that name their service, its own Python
    // logging, broken JSON from the app, and a torn last line.
    {"var/log/containers/otel-agent-x2k4q_observability_agent-"
     "5da2cec255404e4fb440034d6608697a8d41bed440e50454f31af3176813e02e.log",
     Format::kDocker,
     {{{"observability", "cart", "1.4.2"}, {5, 5, 2, 2}},
      {{"observability", "otel-agent", ""}, {3, 0, 0, 1}}},
     {{"truncated", 1}}},
};

TEST(GoldenCorpusTest, CountsPerSeries) {
  for (const GoldenFile& g : kGolden) {
    const FileResult r = RunFile(g.path, g.format);
    EXPECT_EQ(r.series, g.want) << g.path;
    EXPECT_EQ(r.frame_errors, g.frame_errors) << g.path;
    EXPECT_EQ(r.truncated, 0u) << g.path;
  }
}

TEST(GoldenCorpusTest, AutoFormatGivesTheSameCounts) {
  for (const GoldenFile& g : kGolden) {
    const FileResult r = RunFile(g.path, Format::kAuto);
    EXPECT_EQ(r.series, g.want) << g.path;
    EXPECT_EQ(r.frame_errors, g.frame_errors) << g.path;
  }
}

TEST(GoldenCorpusTest, WrongFormatIsCountedNotCrashed) {
  const FileResult r = RunFile(kGolden[1].path, Format::kDocker);
  EXPECT_TRUE(r.series.empty());
  EXPECT_EQ(r.frame_errors, (std::map<std::string, int>{{"not_json", 23}}));
}

}  // namespace
}  // namespace obsgate::ingest
