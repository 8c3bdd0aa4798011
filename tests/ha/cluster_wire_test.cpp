#include "ha/cluster_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace obsgate::ha {
namespace {

using ::testing::HasSubstr;

std::map<std::string, core::Counts> Decoded(std::string_view body) {
  core::LocalCounts counts;
  core::Status s = DecodeCounts(body, counts);
  EXPECT_TRUE(s.ok()) << s.error();
  std::map<std::string, core::Counts> out;
  counts.Drain([&](const core::SeriesKey& k, const core::Counts& c) {
    out[k.ns + "/" + k.deployment + "@" + k.version] += c;
  });
  return out;
}

TEST(ClusterWire, CountsGoAndComeBackWhateverTheirLabelsHold) {
  std::vector<std::pair<core::SeriesKey, core::Counts>> series = {
      {{"shop", "auth", "v1"}, {10, 1, 12, 2}},
      {{"", "unknown", ""}, {0, 0, 3, 1}},
      {{"we\"ird", "line\nbreak", "\xc3\xa9t\xc3\xa9"}, {1ull << 40, 7, 0, 0}}};
  std::map<std::string, core::Counts> got = Decoded(EncodeCounts(series));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got["shop/auth@v1"], (core::Counts{10, 1, 12, 2}));
  EXPECT_EQ(got["/unknown@"], (core::Counts{0, 0, 3, 1}));
  EXPECT_EQ(got["we\"ird/line\nbreak@\xc3\xa9t\xc3\xa9"], (core::Counts{1ull << 40, 7, 0, 0}));
  // The same series twice in one message: added up.
  EXPECT_EQ(Decoded(R"({"series":[["a","b","c",1,0,1,0],["a","b","c",2,1,2,1]]})")["a/b@c"],
            (core::Counts{3, 1, 3, 1}));
}

TEST(ClusterWire, RefusesWhatNoPeerSendsAndSaysWhy) {
  for (auto [body, why] : std::vector<std::pair<std::string, std::string>>{
           {"nope", "not JSON"},
           {"{}", "no \"series\" list"},
           {R"({"series":[["a","b",1,0,0,0]]})", "a series is not"},
           {R"({"series":[["a","b","c",-1,0,0,0]]})", "a count is not a whole number"},
           {R"({"series":[["a","b","c",1.5,0,0,0]]})", "a count is not a whole number"},
           {R"({"series":[["a",2,"c",1,0,0,0]]})", "a deployment is not a string"},
           {R"({"series":[["a","b","c",1,0,0,0])", "not JSON"}}) {
    core::LocalCounts counts;
    core::Status s = DecodeCounts(body, counts);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_THAT(s.error(), HasSubstr(why)) << body;
  }
  std::string long_name(2000, 'x');
  core::LocalCounts counts;
  EXPECT_THAT(
      DecodeCounts(R"({"series":[["a",")" + long_name + R"(","c",1,0,0,0]]})", counts).error(),
      HasSubstr("longer than 1024 bytes"));
}

TEST(ClusterWire, ARollbackCarriesWhatTheGuardJudges) {
  ForwardedRollback r;
  r.from = "http://obsgate-1.obsgate:9090";
  r.rule = "ErrorRateAbove1Percent";
  r.candidate.target = {"shop", "auth"};
  r.candidate.bad_version = "v2";
  r.candidate.baseline_version = "v1";
  r.candidate.age = std::chrono::seconds(95);
  r.candidate.baseline_error_rate = 0.002;
  r.candidate.peers.push_back({"shop/cart", 500, 1, 480, 0});
  r.values = {{"error_rate(10s)", 0.05}, {"requests(10s)", 500}};
  auto back = DecodeRollback(EncodeRollback(r));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->from, r.from);
  EXPECT_EQ(back->rule, r.rule);
  EXPECT_EQ(back->candidate.target, r.candidate.target);
  EXPECT_EQ(back->candidate.bad_version, "v2");
  EXPECT_EQ(back->candidate.baseline_version, "v1");
  EXPECT_EQ(back->candidate.age, std::chrono::seconds(95));
  EXPECT_EQ(back->candidate.baseline_error_rate, 0.002);
  EXPECT_FALSE(back->candidate.recent_error_rate.has_value());
  ASSERT_EQ(back->candidate.peers.size(), 1u);
  EXPECT_EQ(back->candidate.peers[0].name, "shop/cart");
  EXPECT_EQ(back->candidate.peers[0].before_requests, 480);
  EXPECT_EQ(back->values, r.values);
  EXPECT_EQ(back->candidate.origin, rollback::Candidate::Origin::kRule);
  EXPECT_FALSE(back->candidate.forced) << "a forwarded rollback never skips a guard";
}

TEST(ClusterWire, RefusesARollbackThatNamesNothingOrAnImpossibleAge) {
  EXPECT_THAT(DecodeRollback("[]").error(), HasSubstr("not a JSON object"));
  EXPECT_THAT(DecodeRollback(R"({"from":"x"})").error(), HasSubstr("no \"rule\""));
  std::string base =
      R"({"from":"x","rule":"r","namespace":"n","baseline_version":"","bad_version":"v",)";
  EXPECT_THAT(DecodeRollback(base + R"("deployment":""})").error(), HasSubstr("must not be empty"));
  EXPECT_THAT(DecodeRollback(base + R"("deployment":"d","age_seconds":-5})").error(),
              HasSubstr("age_seconds is out of range"));
  EXPECT_THAT(DecodeRollback(base + R"("deployment":"d","peers":[{"name":"a/b"}]})").error(),
              HasSubstr("a peer has no requests"));
  EXPECT_THAT(DecodeRollback(base + R"("deployment":"d","baseline_error_rate":"high"})").error(),
              HasSubstr("baseline_error_rate is not a number"));
}

}  // namespace
}  // namespace obsgate::ha
