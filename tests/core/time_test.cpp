#include "core/time.hpp"

#include <gtest/gtest.h>

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

TEST(Rfc3339, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "2024-03-05", "2024-03-05T10:00:01", "2024-13-05T10:00:01Z",
                          "2024-03-05T10:00:01.Z", "2024-03-05T10:00:01Zjunk",
                          "2024-03-05T25:00:01Z", "2024-03-05T10:00:01+0100", "stdout F x"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
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
