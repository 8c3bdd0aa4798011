#include "core/log.hpp"

#include <gtest/gtest.h>

#include "core/json.hpp"

namespace obsgate {
namespace {

TEST(Log, FormatsFieldsAsJsonMembers) {
  EXPECT_EQ(log::FormatMembers(log::Level::kWarn, "reload \"refused\"",
                               {{"problems", 2}, {"ok", false}, {"ratio", 0.5}, {"file", "a\nb"}}),
            "\"level\":\"warn\",\"msg\":\"reload \\\"refused\\\"\",\"problems\":2,\"ok\":false,"
            "\"ratio\":0.5,\"file\":\"a\\nb\"");
  EXPECT_EQ(log::FormatMembers(log::Level::kInfo, "x", {{"nan", 0.0 / 0.0}}),
            "\"level\":\"info\",\"msg\":\"x\",\"nan\":null");
}

TEST(Log, LevelsFilter) {
  ASSERT_TRUE(log::SetLevel("error"));
  EXPECT_FALSE(log::Enabled(log::Level::kInfo));
  EXPECT_TRUE(log::Enabled(log::Level::kError));
  ASSERT_TRUE(log::SetLevel("warning"));
  EXPECT_TRUE(log::Enabled(log::Level::kWarn));
  EXPECT_FALSE(log::SetLevel("verbose"));
  ASSERT_TRUE(log::SetLevel("info"));
}

TEST(Json, EscapesControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(core::JsonQuote("a\"b\\c\x01\t"), "\"a\\\"b\\\\c\\u0001\\t\"");
  EXPECT_EQ(core::JsonQuote("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  EXPECT_EQ(core::JsonQuote("bad\xC3(\xFF"), "\"bad\xEF\xBF\xBD(\xEF\xBF\xBD\"");
  EXPECT_EQ(core::JsonQuote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(core::JsonQuote("\xF0\x9F\x98\x80"), "\"\xF0\x9F\x98\x80\"");
}

}  // namespace
}  // namespace obsgate
