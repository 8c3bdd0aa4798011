#include "rollback/kubernetes/json.hpp"

#include <gtest/gtest.h>

namespace obsgate::rollback::kubernetes {
namespace {

TEST(JsonTest, KeepsMemberOrderAndNumberText) {
  auto j = Json::Parse(R"( {"b": 1, "a": [true, null, 1.50, -0], "c": {"z": "x", "y": {}}} )");
  ASSERT_TRUE(j.ok()) << j.error();
  EXPECT_EQ(j->Dump(), R"({"b":1,"a":[true,null,1.50,-0],"c":{"z":"x","y":{}}})");
}

TEST(JsonTest, EscapesStringsAsGoDoes) {
  auto j =
      Json::Parse(R"(["<a href=\"x\">&amp;</a>", "tab\tnl\nbs\\ \u0001 \u2028 \ud83d\ude00 \/"])");
  ASSERT_TRUE(j.ok()) << j.error();
  EXPECT_EQ(j->Dump(),
            "[\"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\","
            "\"tab\\tnl\\nbs\\\\ \\u0001 \\u2028 \xF0\x9F\x98\x80 /\"]");
  std::string out;
  AppendGoString(out, std::string("bad \xff byte"));
  EXPECT_EQ(out, "\"bad \\ufffd byte\"");
}

TEST(JsonTest, RefusesBrokenAndTooDeepInput) {
  EXPECT_FALSE(Json::Parse("{\"a\":}").ok());
  EXPECT_FALSE(Json::Parse("[1,]").ok());
  EXPECT_FALSE(Json::Parse("\"open").ok());
  EXPECT_FALSE(Json::Parse("{} x").ok());
  EXPECT_FALSE(Json::Parse(std::string(500, '[') + std::string(500, ']')).ok());
}

TEST(JsonTest, SemanticEqualTreatsZeroValuesAsAbsent) {
  auto a = Json::Parse(R"({"x":1,"labels":{},"resources":{},"env":[]})");
  auto b = Json::Parse(R"({"x":1,"name":""})");
  auto c = Json::Parse(R"({"x":2})");
  EXPECT_TRUE(SemanticEqual(*a, *b));
  EXPECT_FALSE(SemanticEqual(*a, *c));
  EXPECT_FALSE(*a == *b);
}

}  // namespace
}  // namespace obsgate::rollback::kubernetes
