// `obsgate demo` as a newcomer runs it: the whole story from v1 to the rollback and back, told on
// stdout, ending by itself with exit 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "tests/support/process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

// The output with every run of white space made one space: the demo wraps its text to 80
// columns, and where a line breaks is not what these tests are about.
std::string Flat(const std::string& out) {
  std::string flat;
  for (char c : out) {
    bool space = c == ' ' || c == '\n';
    if (space && !flat.empty() && flat.back() == ' ') continue;
    flat += space ? ' ' : c;
  }
  return flat;
}

TEST(Demo, ShowsTheRollbackTheSlackMessageAndTrafficBackOnV1ThenEnds) {
  RunResult r =
      RunCommand({OBSGATE_BINARY, "demo", "--speed", "10"}, {}, {}, std::chrono::seconds(120));
  const std::string& raw = r.output;
  const std::string out = Flat(raw);
  EXPECT_EQ(r.exit_code, 0) << raw;
  // Both stand-ins say what they are.
  EXPECT_THAT(out, HasSubstr("orchestrator SIMULATED: a cluster in memory")) << raw;
  EXPECT_THAT(out, HasSubstr("Slack SIMULATED: a webhook on 127.0.0.1")) << raw;
  EXPECT_THAT(out, HasSubstr("A demo rule, shortened windows: 20s instead of 5m"));
  // The story in order: rollout, pending, firing, the decision with its numbers, back on v1.
  std::vector<std::string> story = {
      ">> rollout of v2",
      ">> ErrorRateAbove1Percent is pending on v2",
      ">> ErrorRateAbove1Percent is FIRING on v2",
      ">> ROLLBACK: shop/checkout v2 rolled back to v1, decided by rule ErrorRateAbove1Percent",
      ">> traffic back on v1",
      "Summary:"};
  std::size_t at = 0;
  for (const std::string& step : story) {
    std::size_t found = out.find(step, at);
    ASSERT_NE(found, std::string::npos) << "missing, or out of order: " << step << "\n" << raw;
    at = found;
  }
  EXPECT_THAT(out, ContainsRegex("measured: v2 failed [0-9.]+% of [0-9,]+ requests over 20s; v1 "
                                 "failed [0-9.]+% over the same seconds; p-value [0-9]"));
  EXPECT_THAT(out, HasSubstr("guards: verdict act: shop/checkout v2 passed every guard"));
  EXPECT_THAT(out, HasSubstr("acted: rolled_back: simulated: rolled shop/checkout back from v2"));
  // Slack: the alert and the rollback, drawn from the JSON the simulated webhook received.
  EXPECT_THAT(raw, HasSubstr("| [FIRING] ErrorRateAbove1Percent — checkout v2\n"));
  EXPECT_THAT(raw, HasSubstr("| [FIRING] ObsgateRollback — checkout v2\n"));
  EXPECT_THAT(raw, HasSubstr("| [RESOLVED] ErrorRateAbove1Percent — checkout v2\n"));
  EXPECT_THAT(raw, HasSubstr("| notification text: [FIRING] ErrorRateAbove1Percent"));
  EXPECT_THAT(raw, ContainsRegex("\\| Error rate: [0-9.]+% +Requests: [0-9]+"));
  EXPECT_THAT(out, HasSubstr("the simulated orchestrator rolled shop/checkout back to v1 at"));
  // Nothing of the gateway's own JSON log in the timeline, and no colour codes off a terminal.
  EXPECT_THAT(raw, Not(HasSubstr("{\"ts\":")));
  EXPECT_THAT(raw, Not(HasSubstr("\033[")));
}

TEST(Demo, FollowKeepsRunningUntilCtrlC) {
  auto p = Process::Start({OBSGATE_BINARY, "demo", "--follow", "--speed", "10"});
  ASSERT_TRUE(p->WaitForOutput("--follow: the story is told", std::chrono::seconds(120)))
      << p->Output();
  EXPECT_EQ(p->Wait(std::chrono::seconds(2)), std::nullopt) << p->Output();
  p->Signal(SIGINT);
  EXPECT_EQ(p->Wait(std::chrono::seconds(30)), 0) << p->Output();
  EXPECT_THAT(p->Output(), HasSubstr("Summary:"));
}

TEST(Demo, RefusesABadSpeed) {
  RunResult r = RunCommand({OBSGATE_BINARY, "demo", "--speed", "fast"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--speed \"fast\" is not a number from 1 to 20"));
}

}  // namespace
}  // namespace obsgate::testing
