// The obsgate binary tailing a file, killed with SIGKILL mid-stream and started again: its
// checkpoint must lose no line and repeat at most one checkpoint interval's worth.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kCheckpointInterval = 200ms;

struct Totals {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

// Sums "total" over every series of GET /api/v1/deployments; nullopt when it does not answer.
std::optional<Totals> Counted(std::uint16_t port) {
  HttpReply r = Get(port, "/api/v1/deployments");
  if (r.status != 200) return std::nullopt;
  Totals t;
  auto number_after = [&](std::size_t at, std::string_view key) -> std::uint64_t {
    std::size_t k = r.body.find(key, at);
    return k == std::string::npos ? 0 : std::stoull(r.body.substr(k + key.size()));
  };
  for (std::size_t at = r.body.find("\"total\":{"); at != std::string::npos;
       at = r.body.find("\"total\":{", at + 1)) {
    t.requests += number_after(at, "\"requests\":");
    t.errors += number_after(at, "\"errors\":");
  }
  return t;
}

// Appends batches of request lines to one file and remembers when each was written.
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {}

  void Batch(int lines) {
    std::string text;
    for (int i = 0; i < lines; ++i, ++written_) {
      bool failed = written_ % 10 == 0;  // one in ten fails
      if (failed) ++errors_;
      text += failed ? "{\"app\":\"svc\",\"status\":500}\n" : "{\"app\":\"svc\",\"status\":200}\n";
    }
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    batches_.push_back({SteadyClock::now(), lines});
  }

  // The most lines written within any span of `interval`.
  std::uint64_t MostWrittenWithin(SteadyClock::duration interval) const {
    std::uint64_t most = 0;
    for (std::size_t i = 0; i < batches_.size(); ++i) {
      std::uint64_t n = 0;
      for (std::size_t j = i; j < batches_.size() && batches_[j].at - batches_[i].at <= interval;
           ++j) {
        n += static_cast<std::uint64_t>(batches_[j].lines);
      }
      most = std::max(most, n);
    }
    return most;
  }

  std::uint64_t written() const { return written_; }
  std::uint64_t errors() const { return errors_; }

 private:
  struct Written {
    SteadyClock::time_point at;
    int lines;
  };
  std::string path_;
  std::uint64_t written_ = 0;
  std::uint64_t errors_ = 0;
  std::vector<Written> batches_;
};

bool WaitForRequests(std::uint16_t port, std::uint64_t n, Totals& seen) {
  auto until = SteadyClock::now() + 60s;
  while (SteadyClock::now() < until) {
    if (auto t = Counted(port)) {
      seen = *t;
      if (seen.requests >= n) return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(TailProcess, ResumesFromItsCheckpointAfterSigkillWithoutLosingLines) {
  TempDir dir;
  std::string config = dir.Write(
      "obsgate.yaml", "listen: 127.0.0.1:0\nsources:\n  - tail: {paths: [\"" + dir.path() +
                          "/*.log\"], format: raw, checkpoint_file: " + dir.path() +
                          "/ckpt.json, checkpoint_interval: 200ms, read_from_head: true}\n");
  Writer writer(dir.path() + "/app.log");
  writer.Batch(20);  // before the start: read from the head

  GatewayProcess first = GatewayProcess::Start(config);
  ASSERT_NE(first.port, 0);
  // Writing while it runs, over many checkpoint intervals.
  for (int i = 0; i < 60; ++i) {
    writer.Batch(5);
    std::this_thread::sleep_for(25ms);
  }
  // Killed as soon as everything written so far shows in its API, so what it counted is known
  // exactly (counts in a dead process's memory are lost with it, and the test could not tell).
  Totals before;
  ASSERT_TRUE(WaitForRequests(first.port, writer.written(), before)) << first.process->Output();
  ASSERT_EQ(before.requests, writer.written());
  first.process->Signal(SIGKILL);
  ASSERT_TRUE(first.process->Wait(10s).has_value());

  for (int i = 0; i < 10; ++i) writer.Batch(5);  // while it is down
  GatewayProcess second = GatewayProcess::Start(config);
  ASSERT_NE(second.port, 0);
  for (int i = 0; i < 20; ++i) {
    writer.Batch(5);
    std::this_thread::sleep_for(25ms);
  }

  Totals after;
  std::uint64_t still_needed = writer.written() - before.requests;
  ASSERT_TRUE(WaitForRequests(second.port, still_needed, after))
      << "counted " << before.requests + after.requests << " of " << writer.written() << "\n"
      << second.process->Output();
  // What one checkpoint interval may repeat: the lines of the busiest interval of writing.
  std::uint64_t may_repeat = writer.MostWrittenWithin(kCheckpointInterval);
  std::uint64_t counted = before.requests + after.requests;
  std::uint64_t duplicates = counted - writer.written();
  RecordProperty("written", static_cast<int>(writer.written()));
  RecordProperty("duplicates", static_cast<int>(duplicates));
  std::cout << "written " << writer.written() << " lines, counted " << counted << ", " << duplicates
            << " counted twice (at most " << may_repeat << " allowed)\n";
  EXPECT_GE(counted, writer.written());
  EXPECT_LE(duplicates, may_repeat);
  EXPECT_GE(before.errors + after.errors, writer.errors());
}

}  // namespace
}  // namespace obsgate::testing
