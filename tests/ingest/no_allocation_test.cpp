// The hot path promise: once warm, framing, joining and classifying a line allocate nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "ingest/attribution.hpp"
#include "ingest/classify.hpp"
#include "ingest/container_line.hpp"
#include "ingest/pipeline.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
// GCC pairs the inlined malloc/free below with new/delete and warns; they do match here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts every allocation in this test binary; the tests compare counts around a loop.
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace obsgate::ingest {
namespace {

const std::vector<std::string> kLines = {
    R"({"log":"{\"level\":\"error\",\"status\":503,\"http\":{\"status_code\":\"502\"},\"service.name\":\"cart\"}\n","stream":"stdout","time":"2024-03-05T10:00:00Z"})",
    R"({"log":"caf\u00e9 \ud83d\ude00 \"quoted\" ts=1 level=warn status=429 msg=\"a b\"\n","stream":"stderr","time":"t"})",
    R"({"log":"piece one ","stream":"stdout","time":"t"})",
    R"({"log":"and two\n","stream":"stdout","time":"t"})",
    "2024-03-05T10:00:00.1+00:00 stdout F 10.0.0.1 - - [05/Mar/2024:10:00:00 +0000] \"GET / "
    "HTTP/1.1\" 500 12 \"-\" \"ua\"",
    "2024-03-05T10:00:00.1Z stderr P 2024-03-05 10:00:00,123 ERROR partial ",
    "2024-03-05T10:00:00.1Z stderr F rest of it",
    "2024-03-05T10:00:00.1Z stdout F E0305 10:00:13.000000 7 x.go:1] failed",
    "plain raw line with nothing",
    R"({"kubernetes":{"namespace_name":"shop","labels":{"app":"auth","version":"v1"}},"level":50})",
    "{\"level\":\"error\",\"msg\":\"bad \xff byte\"}",
    R"({"status":503,"lev)",
};

TEST(NoAllocationTest, WarmPathAllocatesNothing) {
  ClassifyOptions options;
  options.error_patterns = {"(?i)exception", "panic: "};
  auto classifier = std::move(Classifier::Create(options)).value();
  LineFramer framer(Format::kAuto);
  PartialJoiner joiner;
  const std::string path =
      "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-"
      "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1.log";
  int errors = 0;
  int attributed = 0;
  auto pass = [&] {
    for (const std::string& line : kLines) {
      ContainerLine cl;
      if (framer.Parse(line, cl) != FrameError::kNone) continue;
      std::string_view whole;
      if (!joiner.Add(cl, whole)) continue;
      const LineFacts f = classifier->Classify(whole);
      if (f.error_line || classifier->IsErrorStatus(f.status)) ++errors;
      const auto ref = ParseKubernetesLogPath(path);
      if (ref && WorkloadFromPod(ref->pod).version == "7d9c8b6f5") ++attributed;
    }
  };
  pass();
  pass();
  const int warm_errors = errors;
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) pass();
  const long after = g_allocations.load();
  EXPECT_EQ(after - before, 0);
  // The counter is live: this allocates.
  auto* probe = new std::string(100, 'x');
  delete probe;
  EXPECT_GE(g_allocations.load() - after, 2);
  // Per pass: docker JSON (error+503), the logfmt 429 line (not an error by default), the access
  // log 500, the joined Python ERROR, the klog E line, the pino 50 line, the bad-UTF-8 JSON error.
  EXPECT_EQ(warm_errors, 2 * 6);
  EXPECT_EQ(errors, 102 * 6);
  // Whole messages: 12 lines less 2 first pieces and the torn docker frame.
  EXPECT_EQ(attributed, 102 * 9);
}

// The same through a stream and its counter, as the tail, Kafka and push sources count: a docker
// JSON line read inside its escaped string allocates nothing either.
TEST(NoAllocationTest, WarmStreamAllocatesNothing) {
  auto counter = std::move(LineCounter::Create({})).value();
  LogStream stream(Format::kAuto,
                   "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-"
                   "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1.log");
  auto pass = [&] {
    for (const std::string& line : kLines) stream.Feed(line, *counter);
  };
  pass();
  pass();
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) pass();
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(counter->stats().lines, 102u * 9);
}

}  // namespace
}  // namespace obsgate::ingest
