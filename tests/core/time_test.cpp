#include "core/time.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace obsgate::core {
namespace {

using namespace std::chrono;

TEST(Rfc3339, ReadsWhatRuntimesWrite) {
  auto containerd = ParseRfc3339("2024-03-05T10:00:01.083456789Z");
  ASSERT_TRUE(containerd);
  EXPECT_EQ(duration_cast<nanoseconds>(containerd->time_since_epoch()).count() % 1'000'000'000,
            83'456'789);
  EXPECT_EQ(duration_cast<seconds>(containerd->time_since_epoch()).count(), 1709632801);
  auto crio = ParseRfc3339("2024-03-05T11:00:01.5+01:00");
  ASSERT_TRUE(crio);
  EXPECT_EQ(duration_cast<milliseconds>(crio->time_since_epoch()).count(), 1709632801500);
  EXPECT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z"));
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z")->time_since_epoch().count(), 0);
}

TEST(Rfc3339, HoldsTimesOutOfRangeAtTheEnds) {
  EXPECT_EQ(ParseRfc3339("0001-01-01T00:00:00Z"), TimePoint::min());  // Go's zero time
  EXPECT_EQ(ParseRfc3339("1600-01-01T00:00:00.5Z"), TimePoint::min());
  EXPECT_EQ(ParseRfc3339("2424-03-05T10:07:33Z"), TimePoint::max());
  EXPECT_LT(*ParseRfc3339("2262-04-11T23:47:15Z"), TimePoint::max());
}

TEST(Rfc3339, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "2024-03-05", "2024-03-05T10:00:01", "2024-13-05T10:00:01Z",
                          "2024-03-05T10:00:01.Z", "2024-03-05T10:00:01Zjunk",
                          "2024-03-05T25:00:01Z", "2024-03-05T10:00:01+0100", "stdout F x"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

// The reader must answer exactly what ParseRfc3339 answers, whatever came before: times that share
// a second with the one before, that differ only in the fraction or the zone, and bad ones.
TEST(Rfc3339, ReaderOfAStreamAgreesWithTheParserOnEveryTime) {
  const std::vector<std::string> seconds = {
      "2024-03-05T10:00:01", "2024-03-05T10:00:02", "2024-03-05T10:59:60", "2024-03-05T10:07:33",
      "2024-03-05T10:60:00", "2024-03-05T10:0a:00", "2024-03-05T10:00:61", "2024-03-05T10-00:01",
      "2024-03-05T11:00:00", "2024-03-05T23:59:60", "2024-13-05T10:00:01", "1969-12-31T23:59:59",
      "2262-04-11T23:47:16", "2262-04-11T23:47:17", "1677-09-21T00:12:44", "2424-03-05T10:07:33",
      "0001-01-01T00:00:00"};
  const std::vector<std::string> fractions = {"",   ".",   ".5", ".083456789", ".0834567891234",
                                              ".x", ".1.2"};
  const std::vector<std::string> zones = {"Z", "z",     "+01:00", "-05:30",
                                          "",  "Zjunk", "+0100",  "+01:00 "};
  std::mt19937 rng(7);
  Rfc3339Reader reader;
  for (int i = 0; i < 20000; ++i) {
    // Mostly the same hour as before, as in a log file.
    std::string text = seconds[rng() % 4 == 0 ? rng() % seconds.size() : rng() % 4] +
                       fractions[rng() % fractions.size()] + zones[rng() % zones.size()];
    std::optional<TimePoint> want = ParseRfc3339(text);
    std::optional<TimePoint> got = reader.Parse(text);
    ASSERT_EQ(got.has_value(), want.has_value()) << text;
    if (want) {
      ASSERT_EQ(*got, *want) << text;
    }
  }
}

TEST(Rfc3339, FormatsInUtcMilliseconds) {
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2024-03-05T11:00:01.5+01:00")),
            "2024-03-05T10:00:01.500Z");
  EXPECT_EQ(FormatRfc3339(TimePoint{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2000-02-29T23:59:59.999Z")), "2000-02-29T23:59:59.999Z");
}

}  // namespace
}  // namespace obsgate::core
