#include "ingest/tail/tailed_file.hpp"

#include <gtest/gtest.h>

namespace obsgate::ingest {
namespace {

class TailedFileTest : public ::testing::Test {
 protected:
  TailedFile File(std::size_t max_line = 1 << 20) {
    return TailedFile(UniqueFd(), FileId{1, 2}, "app.log", 0, Format::kRaw, {}, max_line, max_line);
  }
  std::uint64_t Lines() {
    std::uint64_t n = 0;
    counter_->counts().Drain(
        [&](const core::SeriesKey&, const core::Counts& c) { n += c.log_lines; });
    return n;
  }
  std::unique_ptr<LineCounter> counter_ = std::move(LineCounter::Create({})).value();
};

TEST_F(TailedFileTest, JoinsLinesSplitAcrossReads) {
  TailedFile f = File();
  f.Consume("ab", *counter_);
  EXPECT_EQ(Lines(), 0u);
  EXPECT_EQ(f.line_end(), 0u);
  f.Consume("c\nd", *counter_);
  EXPECT_EQ(Lines(), 1u);
  EXPECT_EQ(f.line_end(), 4u);
  EXPECT_EQ(f.read_offset(), 5u);
  f.Consume("\n\ne\n", *counter_);
  EXPECT_EQ(Lines(), 2u);  // "d" and "e"; the blank line says nothing
  EXPECT_EQ(f.line_end(), 9u);
  EXPECT_EQ(f.delivered(), 0u);
  f.MarkDelivered();
  EXPECT_EQ(f.delivered(), 9u);
}

TEST_F(TailedFileTest, CountsALastLineWithoutNewlineOnlyWhenTheFileEnds) {
  TailedFile f = File();
  f.Consume("a\nlast", *counter_);
  EXPECT_EQ(Lines(), 1u);
  f.Finish(*counter_);
  EXPECT_EQ(Lines(), 1u);
  EXPECT_EQ(f.line_end(), 6u);
}

TEST_F(TailedFileTest, CutsALineAtTheLimitOnceAndSkipsItsRest) {
  TailedFile f = File(4);
  f.Consume("abcdefgh", *counter_);
  f.Consume("ijk\nlm", *counter_);
  f.Consume("no\n", *counter_);
  EXPECT_EQ(Lines(), 2u);  // "abcd" (cut) and "lmno" (exactly at the limit)
  EXPECT_EQ(counter_->stats().truncated, 1u);
  EXPECT_EQ(f.line_end(), 17u);
}

}  // namespace
}  // namespace obsgate::ingest
