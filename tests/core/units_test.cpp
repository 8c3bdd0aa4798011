#include "core/units.hpp"

#include <gtest/gtest.h>

namespace obsgate::core {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, ReadsEveryUnitAndSums) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30'000));
  EXPECT_EQ(*ParseDuration("5m"), milliseconds(300'000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(*ParseDuration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(*ParseDuration("1w"), milliseconds(604'800'000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDuration, RejectsBadValuesWithAHint) {
  EXPECT_EQ(ParseDuration("").error(), "empty duration; write it like 30s, 5m or 1h");
  EXPECT_EQ(ParseDuration("30").error(),
            "duration \"30\" has no unit; add one of ms, s, m, h, d, w");
  EXPECT_EQ(ParseDuration("5x").error(),
            "duration \"5x\" has unknown unit \"x\"; use ms, s, m, h, d or w");
  EXPECT_EQ(ParseDuration("-5s").error(),
            "bad duration \"-5s\": expected a whole number at position 1; write it like 30s, 5m "
            "or 1h30m");
  EXPECT_EQ(ParseDuration("1.5s").error(),
            "duration \"1.5s\" has unknown unit \".\"; use ms, s, m, h, d or w");
  EXPECT_EQ(ParseDuration("30m1h").error(),
            "duration \"30m1h\" repeats or misorders its units; write 1h30m");
  EXPECT_EQ(ParseDuration("99999999999999999999s").error(),
            "duration \"99999999999999999999s\" is too large");
  EXPECT_EQ(ParseDuration("9999999999999999w").error(),
            "duration \"9999999999999999w\" is too large");
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1s500ms");
  for (const char* s : {"1h30m", "500ms", "2w3d", "45s"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
}

TEST(ParseSize, ReadsBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseSize("512"), 512u);
  EXPECT_EQ(*ParseSize("512B"), 512u);
  EXPECT_EQ(*ParseSize("16KiB"), 16u * 1024);
  EXPECT_EQ(*ParseSize("8MiB"), 8u * 1024 * 1024);
  EXPECT_EQ(*ParseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseSize("10KB"), 10'000u);
  EXPECT_EQ(*ParseSize("10MB"), 10'000'000u);
  EXPECT_EQ(*ParseSize("1GB"), 1'000'000'000u);
}

TEST(ParseSize, RejectsBadValues) {
  EXPECT_EQ(ParseSize("KiB").error(),
            "bad size \"KiB\": expected a whole number and a unit such as 16KiB");
  EXPECT_EQ(ParseSize("16kib").error(),
            "size \"16kib\" has unknown unit \"kib\"; use B, KiB, MiB, GiB, KB, MB or GB");
  EXPECT_EQ(ParseSize("-1").error(),
            "bad size \"-1\": expected a whole number and a unit such as 16KiB");
  EXPECT_EQ(ParseSize("99999999999GiB").error(), "size \"99999999999GiB\" is too large");
}

TEST(ParsePercent, ReadsPercents) {
  EXPECT_DOUBLE_EQ(*ParsePercent("1%"), 0.01);
  EXPECT_DOUBLE_EQ(*ParsePercent("0.5%"), 0.005);
  EXPECT_DOUBLE_EQ(*ParsePercent("100%"), 1.0);
  EXPECT_DOUBLE_EQ(*ParsePercent("0%"), 0.0);
}

TEST(ParsePercent, RejectsBadValues) {
  EXPECT_EQ(ParsePercent("0.01").error(),
            "bad percent \"0.01\": write it with a percent sign, like 1% or 0.5%");
  EXPECT_EQ(ParsePercent("%").error(), "bad percent \"%\": expected a number before %");
  EXPECT_EQ(ParsePercent("abc%").error(), "bad percent \"abc%\": expected a number before %");
  EXPECT_EQ(ParsePercent("101%").error(), "percent \"101%\" must be between 0% and 100%");
  EXPECT_EQ(ParsePercent("-1%").error(), "percent \"-1%\" must be between 0% and 100%");
  EXPECT_EQ(ParsePercent("nan%").error(), "bad percent \"nan%\": expected a number before %");
}

}  // namespace
}  // namespace obsgate::core
