#include "ingest/tail/checkpoint.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "ingest/tail/unique_fd.hpp"
#include "tests/support/process.hpp"

namespace obsgate::ingest {
namespace {

TEST(CheckpointTest, ReadsBackWhatItWrote) {
  obsgate::testing::TempDir dir;
  std::vector<CheckpointEntry> entries = {
      {"/var/log/containers/a \"quoted\".log", 2049, 1234567, 0xfedcba9876543210ull, 1024, 77},
      {"/x/b.log", 1, 2, 3, 0, 0}};
  std::string path = dir.path() + "/ckpt.json";
  ASSERT_TRUE(SaveCheckpoint(path, entries).ok());
  auto read = LoadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.error();
  EXPECT_EQ(*read, entries);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(CheckpointTest, AMissingFileIsAFirstStart) {
  auto read = LoadCheckpoint("/nonexistent/obsgate/ckpt.json");
  ASSERT_TRUE(read.ok()) << read.error();
  EXPECT_TRUE(read->empty());
}

TEST(CheckpointTest, RefusesEntriesWithoutTheirFields) {
  EXPECT_FALSE(ParseCheckpoint("not json").ok());
  EXPECT_FALSE(ParseCheckpoint("{\"version\":1}").ok());
  EXPECT_FALSE(ParseCheckpoint("{\"files\":[{\"path\":\"a\",\"device\":1}]}").ok());
  EXPECT_FALSE(ParseCheckpoint("{\"files\":[{\"path\":\"a\",\"device\":1,\"inode\":2,"
                               "\"fingerprint\":\"zz\",\"fingerprint_bytes\":3,\"offset\":4}]}")
                   .ok());
  EXPECT_TRUE(ParseCheckpoint("{\"files\":[]}").ok());
}

TEST(CheckpointTest, SaysWhereItCouldNotWrite) {
  auto s = SaveCheckpoint("/nonexistent/obsgate/ckpt.json", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("/nonexistent/obsgate/ckpt.json"), std::string::npos);
}

TEST(FingerprintTest, ComparesOnlyTheBytesItWasTakenOver) {
  obsgate::testing::TempDir dir;
  std::string path = dir.Write("f.log", "hello\n");
  UniqueFd fd(::open(path.c_str(), O_RDONLY));
  auto first = ReadFingerprint(fd.get());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->now.bytes, 6u);
  EXPECT_EQ(first->now.hash, FingerprintHash("hello\n"));

  dir.Write("f.log", "hello\nworld\n" + std::string(2000, 'x'));  // same prefix, grown
  UniqueFd grown(::open(path.c_str(), O_RDONLY));
  auto check = ReadFingerprint(grown.get(), &first->now);
  ASSERT_TRUE(check.has_value());
  EXPECT_TRUE(check->prefix_matches);
  EXPECT_EQ(check->now.bytes, kFingerprintBytes);

  dir.Write("f.log", "jello\nworld\n");  // other first bytes
  UniqueFd other(::open(path.c_str(), O_RDONLY));
  EXPECT_FALSE(ReadFingerprint(other.get(), &first->now)->prefix_matches);

  dir.Write("f.log", "hel");  // shorter than the fingerprint
  UniqueFd shorter(::open(path.c_str(), O_RDONLY));
  EXPECT_FALSE(ReadFingerprint(shorter.get(), &first->now)->prefix_matches);
}

}  // namespace
}  // namespace obsgate::ingest
