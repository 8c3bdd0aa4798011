#include "ingest/tail/tail_source.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "ingest/tail/checkpoint.hpp"
#include "tests/ingest/tail/tail_test_support.hpp"
#include "tests/support/process.hpp"

namespace obsgate::ingest {
namespace {

using namespace std::chrono_literals;
using testing::Append;
using testing::MetricValue;
using testing::Requests;
using testing::SummingSink;
using testing::WaitUntil;

class TailSourceTest : public ::testing::Test {
 protected:
  core::TailSourceConfig Config() const {
    core::TailSourceConfig c;
    c.paths = {dir_.path() + "/*.log"};
    c.format = "raw";
    c.checkpoint_file = dir_.path() + "/ckpt.json";
    c.checkpoint_interval = 100ms;
    c.rescan_interval = 200ms;
    c.read_from_head = true;
    return c;
  }

  std::unique_ptr<Source> Make(const core::TailSourceConfig& config) {
    auto made = MakeTailSource("tail-test", config, ClassifyOptions{}, registry_);
    EXPECT_TRUE(made.ok()) << made.error();
    return made.ok() ? std::move(made).value() : nullptr;
  }

  // Starts a source over `config`, delivering to sink_.
  std::unique_ptr<Source> Start(const core::TailSourceConfig& config) {
    auto source = Make(config);
    if (source == nullptr) return nullptr;
    core::Status started = source->Start(sink_);
    EXPECT_TRUE(started.ok()) << started.error();
    return source;
  }

  bool WaitForRequests(std::uint64_t n, const SummingSink& sink) {
    return WaitUntil([&] { return sink.Total().requests >= n; });
  }
  bool WaitForRequests(std::uint64_t n) { return WaitForRequests(n, sink_); }

  double Metric(const std::string& name, std::map<std::string, std::string> labels = {}) {
    labels["source"] = "tail-test";
    return MetricValue(registry_, name, labels);
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  obsgate::testing::TempDir dir_;
  prometheus::Registry registry_;
  SummingSink sink_;
};

TEST_F(TailSourceTest, CountsLinesWrittenWhileTailedAndNotWhatWasThereBefore) {
  Append(Path("app.log"), Requests(50, 50));  // history, not counted without read_from_head
  core::TailSourceConfig config = Config();
  config.read_from_head = false;
  auto source = Start(config);
  ASSERT_NE(source, nullptr);

  Append(Path("app.log"), Requests(7, 3));
  ASSERT_TRUE(WaitForRequests(10)) << sink_.Total().requests;
  // A line without its "\n" waits for the rest instead of being counted as two lines.
  Append(Path("app.log"), "{\"app\":\"svc\",\"sta");
  std::this_thread::sleep_for(300ms);  // lets the reader see the half line; asserts nothing
  Append(Path("app.log"), "tus\":500}\n");
  ASSERT_TRUE(WaitForRequests(11));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{11, 4, 11, 0}));
  EXPECT_EQ(sink_.Of("svc").requests, 11u);
  EXPECT_EQ(Metric("obsgate_tail_files"), 1);
}

TEST_F(TailSourceTest, ReadsANewFileFromItsStart) {
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  Append(Path("new.log"), Requests(4, 1));
  ASSERT_TRUE(WaitForRequests(5));
  EXPECT_TRUE(WaitUntil([&] { return Metric("obsgate_tail_files") == 1; }));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{5, 1, 5, 0}));
}

TEST_F(TailSourceTest, FollowsRenameAndCreateRotationAndDrainsTheOldFile) {
  Append(Path("app.log"), Requests(5, 0));
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitForRequests(5));

  Append(Path("app.log"), Requests(2, 1));
  ASSERT_EQ(std::rename(Path("app.log").c_str(), Path("app.log.1").c_str()), 0);
  // The writer has not reopened yet: these land in the renamed file.
  Append(Path("app.log.1"), Requests(1, 1));
  Append(Path("app.log"), Requests(3, 1));
  ASSERT_TRUE(WaitForRequests(14)) << sink_.Total().requests;
  EXPECT_TRUE(WaitUntil([&] {
    return Metric("obsgate_tail_rotations_total", {{"kind", "rename"}}) == 1;
  }));
  // The renamed file's last line has no "\n"; once the file is drained and closed it counts.
  Append(Path("app.log.1"), "{\"app\":\"svc\",\"status\":500}");
  ASSERT_TRUE(WaitForRequests(15)) << sink_.Total().requests;
  EXPECT_TRUE(WaitUntil([&] { return Metric("obsgate_tail_files") == 1; }));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{15, 4, 15, 0}));
  EXPECT_EQ(Metric("obsgate_tail_rotations_total", {{"kind", "truncate"}}), 0);
}

TEST_F(TailSourceTest, FollowsSymlinksAndTheRotationOfTheirTargets) {
  // The Kubernetes layout: /var/log/containers/*.log point into /var/log/pods, where the
  // runtime rotates.
  std::filesystem::create_directories(Path("pods/svc"));
  Append(Path("pods/svc/0.log"), Requests(2, 0));
  std::filesystem::create_symlink(Path("pods/svc/0.log"), Path("svc.log"));
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitForRequests(2));
  Append(Path("pods/svc/0.log"), Requests(1, 1));
  ASSERT_TRUE(WaitForRequests(4));

  ASSERT_EQ(std::rename(Path("pods/svc/0.log").c_str(), Path("pods/svc/0.log.1").c_str()), 0);
  Append(Path("pods/svc/0.log"), Requests(3, 0));
  ASSERT_TRUE(WaitForRequests(7)) << sink_.Total().requests;
  EXPECT_TRUE(WaitUntil([&] {
    return Metric("obsgate_tail_rotations_total", {{"kind", "rename"}}) == 1;
  }));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{7, 1, 7, 0}));
}

TEST_F(TailSourceTest, JoinsCriPartialLinesAndAttributesByTheKubernetesPath) {
  core::TailSourceConfig config = Config();
  config.format = "cri";
  auto source = Start(config);
  ASSERT_NE(source, nullptr);
  std::string file = Path("auth-7d9c8b6f5-x2k4q_prod_auth-" + std::string(64, 'a') + ".log");
  Append(file,
         "2024-05-01T10:00:00.000000001Z stdout P {\"status\":\n"
         "2024-05-01T10:00:00.000000002Z stdout F 503}\n"
         "2024-05-01T10:00:00.000000003Z stdout F {\"status\":200}\n");
  ASSERT_TRUE(WaitForRequests(2));
  source->Stop();
  EXPECT_EQ(sink_.Of("auth"), (core::Counts{2, 1, 2, 0}));
}

TEST_F(TailSourceTest, StartsAgainAtZeroAfterCopytruncate) {
  Append(Path("app.log"), Requests(10, 0));
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitForRequests(10));

  ASSERT_EQ(::truncate(Path("app.log").c_str(), 0), 0);
  Append(Path("app.log"), Requests(1, 1));  // shorter than what was read: the size tells
  ASSERT_TRUE(WaitForRequests(12)) << sink_.Total().requests;
  EXPECT_TRUE(WaitUntil([&] {
    return Metric("obsgate_tail_rotations_total", {{"kind", "truncate"}}) == 1;
  }));
  Append(Path("app.log"), Requests(3, 0));
  ASSERT_TRUE(WaitForRequests(15));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{15, 1, 15, 0}));
}

TEST_F(TailSourceTest, LosesNothingOverTwoRotationsInARow) {
  Append(Path("app.log"), Requests(5, 0));
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitForRequests(5));

  // logrotate's numbering, twice, with no pause: the middle file may live for microseconds.
  Append(Path("app.log"), Requests(1, 0));
  ASSERT_EQ(std::rename(Path("app.log").c_str(), Path("app.log.1").c_str()), 0);
  Append(Path("app.log"), Requests(2, 2));
  ASSERT_EQ(std::rename(Path("app.log.1").c_str(), Path("app.log.2").c_str()), 0);
  ASSERT_EQ(std::rename(Path("app.log").c_str(), Path("app.log.1").c_str()), 0);
  Append(Path("app.log"), Requests(3, 0));
  ASSERT_TRUE(WaitForRequests(13)) << sink_.Total().requests;
  EXPECT_TRUE(WaitUntil([&] {
    return Metric("obsgate_tail_rotations_total", {{"kind", "rename"}}) == 2;
  }));
  Append(Path("app.log"), Requests(1, 0));
  ASSERT_TRUE(WaitForRequests(14));
  source->Stop();
  EXPECT_EQ(sink_.Total(), (core::Counts{14, 2, 14, 0}));
}

TEST_F(TailSourceTest, SkipsExcludedFiles) {
  core::TailSourceConfig config = Config();
  config.exclude = {"*.skip.log"};
  auto source = Start(config);
  ASSERT_NE(source, nullptr);
  Append(Path("b.skip.log"), Requests(0, 9, "skipped"));
  Append(Path("a.log"), Requests(2, 0, "kept"));
  ASSERT_TRUE(WaitForRequests(2));
  // One more round trip through the reader, after both files were there to be found.
  Append(Path("b.skip.log"), Requests(0, 9, "skipped"));
  Append(Path("a.log"), Requests(1, 0, "kept"));
  ASSERT_TRUE(WaitForRequests(3));
  source->Stop();
  EXPECT_EQ(sink_.Of("skipped").requests, 0u);
  EXPECT_EQ(sink_.Total(), (core::Counts{3, 0, 3, 0}));
  EXPECT_EQ(Metric("obsgate_tail_files"), 1);
}

TEST_F(TailSourceTest, CutsLinesLongerThanTheLimitAndCountsThem) {
  core::TailSourceConfig config = Config();
  config.max_line_size = 100;
  auto source = Start(config);
  ASSERT_NE(source, nullptr);

  std::string huge(1 << 20, 'x');
  Append(Path("app.log"), "{\"app\":\"svc\",\"status\":500,\"pad\":\"" + huge + "\"}\n");
  // Exactly at the limit: whole, not cut.
  std::string at_limit = "{\"app\":\"svc\",\"status\":200,\"pad\":\"";
  at_limit += std::string(100 - at_limit.size() - 2, 'y') + "\"}";
  ASSERT_EQ(at_limit.size(), 100u);
  Append(Path("app.log"), at_limit + "\n");
  // A long line written in pieces, the newline last.
  Append(Path("app.log"), std::string(150, 'z'));
  std::this_thread::sleep_for(300ms);  // lets the reader see the first piece; asserts nothing
  Append(Path("app.log"), std::string(150, 'z') + "\n");
  Append(Path("app.log"), Requests(0, 1));
  ASSERT_TRUE(WaitUntil([&] { return sink_.Total().log_lines >= 4; }));
  source->Stop();
  // The cut JSON line is no longer JSON, so it counts as a line without a status.
  EXPECT_EQ(sink_.Total(), (core::Counts{2, 1, 4, 0}));
  EXPECT_EQ(sink_.Stats().truncated, 2u);
  EXPECT_EQ(sink_.Stats().lines, 4u);
}

TEST_F(TailSourceTest, ResumesFromTheCheckpointWithExactCounts) {
  Append(Path("app.log"), Requests(15, 5));
  core::TailSourceConfig config = Config();
  auto first = Start(config);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(WaitForRequests(20));
  Append(Path("app.log"), "{\"app\":\"svc\",\"status\":200");  // unfinished at Stop
  first->Stop();
  EXPECT_EQ(sink_.Total().requests, 20u);
  EXPECT_GE(Metric("obsgate_tail_checkpoint_age_seconds"), 0);

  auto entries = LoadCheckpoint(config.checkpoint_file);
  ASSERT_TRUE(entries.ok()) << entries.error();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().path, Path("app.log"));
  EXPECT_EQ(entries->front().offset, Requests(15, 5).size());

  // While stopped: the half line is finished and more is written.
  Append(Path("app.log"), "}\n" + Requests(3, 4));
  SummingSink second_sink;
  auto second = Make(config);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Start(second_sink).ok());
  ASSERT_TRUE(WaitForRequests(8, second_sink)) << second_sink.Total().requests;
  Append(Path("app.log"), Requests(1, 0));
  ASSERT_TRUE(WaitForRequests(9, second_sink));
  second->Stop();
  EXPECT_EQ(second_sink.Total(), (core::Counts{9, 4, 9, 0}));
}

TEST_F(TailSourceTest, ReadsAFileFromItsStartWhenItsInodeNowHoldsOtherBytes) {
  Append(Path("app.log"), Requests(5, 0, "old"));
  core::TailSourceConfig config = Config();
  auto first = Start(config);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(WaitForRequests(5));
  first->Stop();

  // Same inode, other first bytes, longer than the checkpointed offset: only the fingerprint can
  // tell it is not the file the checkpoint speaks of.
  struct stat before;
  ASSERT_EQ(::stat(Path("app.log").c_str(), &before), 0);
  {
    std::ofstream rewrite(Path("app.log"), std::ios::trunc);
    rewrite << Requests(6, 2, "new");
  }
  struct stat after;
  ASSERT_EQ(::stat(Path("app.log").c_str(), &after), 0);
  ASSERT_EQ(before.st_ino, after.st_ino);

  SummingSink second_sink;
  auto second = Make(config);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Start(second_sink).ok());
  ASSERT_TRUE(WaitForRequests(8, second_sink)) << second_sink.Total().requests;
  Append(Path("app.log"), Requests(1, 0, "new"));
  ASSERT_TRUE(WaitForRequests(9, second_sink));
  second->Stop();
  EXPECT_EQ(second_sink.Of("new"), (core::Counts{9, 2, 9, 0}));
  EXPECT_EQ(second_sink.Of("old").requests, 0u);
}

TEST_F(TailSourceTest, ReadsAFileRotatedInTheMeantimeFromItsStart) {
  Append(Path("app.log"), Requests(2, 0));
  core::TailSourceConfig config = Config();
  auto first = Start(config);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(WaitForRequests(2));
  first->Stop();

  // While stopped, the old file goes and a new one takes its path: all of it is new.
  ASSERT_EQ(std::rename(Path("app.log").c_str(), Path("app.log.1").c_str()), 0);
  Append(Path("app.log"), Requests(3, 1));
  config.read_from_head = false;
  SummingSink second_sink;
  auto second = Make(config);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Start(second_sink).ok());
  ASSERT_TRUE(WaitForRequests(4, second_sink));
  second->Stop();
  EXPECT_EQ(second_sink.Total(), (core::Counts{4, 1, 4, 0}));
}

TEST_F(TailSourceTest, RefusesToStartWhenTheCheckpointCannotBeWritten) {
  core::TailSourceConfig config = Config();
  config.checkpoint_file = dir_.path() + "/missing-dir/ckpt.json";
  auto source = Make(config);
  ASSERT_NE(source, nullptr);
  core::Status started = source->Start(sink_);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().find("missing-dir/ckpt.json"), std::string::npos) << started.error();
  source->Stop();  // harmless after a failed start
}

TEST_F(TailSourceTest, RefusesACorruptCheckpoint) {
  core::TailSourceConfig config = Config();
  dir_.Write("ckpt.json", "{\"files\":[{\"path\":1}]}");
  auto source = Make(config);
  ASSERT_NE(source, nullptr);
  core::Status started = source->Start(sink_);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().find("corrupt"), std::string::npos) << started.error();
}

TEST_F(TailSourceTest, StopIsIdempotent) {
  auto source = Start(Config());
  ASSERT_NE(source, nullptr);
  source->Stop();
  source->Stop();
  EXPECT_EQ(source->name(), "tail-test");
}

TEST(TailSourceConfigTest, RefusesNoPaths) {
  prometheus::Registry registry;
  core::TailSourceConfig config;
  config.paths.clear();
  auto made = MakeTailSource("t", config, ClassifyOptions{}, registry);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().find("paths"), std::string::npos);
}

}  // namespace
}  // namespace obsgate::ingest
