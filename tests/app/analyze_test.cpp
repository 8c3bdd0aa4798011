// The whole log pipeline (frame, join, classify, attribute, count) through `obsgate analyze`,
// on files shaped as the kubelet, docker and containerd write them, with exact counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <initializer_list>
#include <regex>

#include "tests/support/process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;

const std::string kHex(64, 'a');

std::string Docker(const std::string& log_json_escaped, const std::string& time,
                   const char* stream = "stdout") {
  return "{\"log\":\"" + log_json_escaped + "\",\"stream\":\"" + stream + "\",\"time\":\"" + time +
         "\"}\n";
}

// The JSON object of one series in `obsgate analyze --json` output.
std::string SeriesJson(const std::string& out, const std::string& deployment,
                       const std::string& version) {
  std::smatch m;
  std::regex re("\\{\"namespace\":\"[^\"]*\",\"deployment\":\"" + deployment + "\",\"version\":\"" +
                version + "\",[^}]*\\}");
  if (!std::regex_search(out, m, re)) return "";
  return m.str();
}

// `content` as the CRI log of a checkout pod, analyzed by one thread and by each of `threads`:
// the series as one thread reports it, once every thread count has printed the same.
std::string CheckoutSeriesWithThreads(TempDir& dir, const std::string& content,
                                      std::initializer_list<const char*> threads) {
  const std::string path = dir.Write(
      "var/log/pods/payments_checkout-5f6b9c7d48-q8zxv_0b5e6f2a-9c1d-4e8b-a7f3-2d6c8e1b4a90/"
      "checkout/0.log",
      content);
  RunResult one =
      RunCommand({OBSGATE_BINARY, "analyze", "--format", "cri", "--threads", "1", "--json", path});
  EXPECT_EQ(one.exit_code, 0) << one.output;
  for (const char* n : threads) {
    RunResult many =
        RunCommand({OBSGATE_BINARY, "analyze", "--format", "cri", "--threads", n, "--json", path});
    EXPECT_EQ(many.exit_code, 0) << many.output;
    EXPECT_EQ(many.output, one.output) << n << " threads";
  }
  return SeriesJson(one.output, "checkout", "5f6b9c7d48");
}

TEST(Analyze, CountsDockerJsonFileLinesExactly) {
  TempDir dir;
  std::string t = "2024-03-05T10:00:0";
  std::string content;
  for (int i = 0; i < 3; ++i)
    content += Docker("{\\\"status\\\":200,\\\"msg\\\":\\\"ok\\\"}\\n", t + "1Z");
  content += Docker("{\\\"status\\\":\\\"503\\\",\\\"level\\\":\\\"error\\\"}\\n", t + "2Z");
  // A 40000-byte message split by docker at 16 KiB: only the last piece ends in \n.
  std::string body = "{\\\"msg\\\":\\\"" + std::string(40000, 'x') + "\\\",\\\"status\\\":500}";
  content += Docker(body.substr(0, 16384), t + "3Z");
  content += Docker(body.substr(16384, 16384), t + "3Z");
  content += Docker(body.substr(32768) + "\\n", t + "3Z");
  // Escapes: quotes, backslashes, é, a surrogate pair, and a lone surrogate.
  content += Docker(
      "{\\\"msg\\\":\\\"caf\\\\u00e9 \\\\ud83d\\\\ude00 \\\\\\\"q\\\\\\\" \\\\\\\\ "
      "\\\\ud800\\\",\\\"status\\\":201}\\n",
      t + "4Z");
  content += Docker("ERROR connection refused\\n", t + "5Z", "stderr");
  content += Docker("\\n", t + "5Z");         // an empty application line
  content += "{\"log\":\"truncated frame\n";  // a torn docker frame: rejected, counted
  content += Docker("level=warn status=404 path=/x\\n", t + "6Z");
  std::string path =
      dir.Write("var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-" + kHex + ".log", content);
  RunResult r = RunCommand({OBSGATE_BINARY, "analyze", "--format", "docker", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(SeriesJson(r.output, "auth", "7d9c8b6f5"),
            "{\"namespace\":\"shop\",\"deployment\":\"auth\",\"version\":\"7d9c8b6f5\","
            "\"requests\":7,\"errors\":2,\"error_rate\":0.285714,\"window_requests\":7,"
            "\"window_errors\":2,\"window_error_rate\":0.285714,\"log_lines\":9,"
            "\"log_error_lines\":2,\"first\":\"2024-03-05T10:00:01.000Z\","
            "\"last\":\"2024-03-05T10:00:06.000Z\"}");
  EXPECT_THAT(r.output, HasSubstr("\"lines\":9,\"rejected\":{\"docker\":1,\"cri\":0},"
                                  "\"unattributed\":0,\"truncated\":0}"));
}

TEST(Analyze, CountsCriLinesJoinedAndAttributedByThePodsLayout) {
  TempDir dir;
  std::string content =
      "2024-03-05T10:00:22.882101000Z stdout P 10.0.0.1 - - [05/Mar/2024:10:00:22 +0000] \"GET "
      "/pay HTTP/1.1\" 5\n"
      "2024-03-05T10:00:22.882102000Z stderr F [ERROR] payment gateway timed out\n"
      "2024-03-05T10:00:22.882103000Z stdout P 03 512 \"-\" \"curl/8.0\" tail\n"
      "2024-03-05T10:00:22.882104000Z stdout F  of the access line\n"
      "2024-03-05T10:00:23.000000000+00:00 stdout F level=error status=502 msg=\"upstream "
      "reset\"\r\n"
      "2024-03-05T10:00:24.000000000Z stdout F {\"severity\":\"INFO\",\"http\":{\"status_code\":"
      "200}}\n"
      "not a cri line at all\n"
      "2024-03-05T10:00:25.000000000Z stdout F\n";
  std::string path = dir.Write(
      "var/log/pods/payments_checkout-5f6b9c7d48-q8zxv_0b5e6f2a-9c1d-4e8b-a7f3-2d6c8e1b4a90/"
      "checkout/0.log",
      content);
  RunResult r = RunCommand({OBSGATE_BINARY, "analyze", "--format", "cri", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(SeriesJson(r.output, "checkout", "5f6b9c7d48"),
            "{\"namespace\":\"payments\",\"deployment\":\"checkout\",\"version\":\"5f6b9c7d48\","
            "\"requests\":3,\"errors\":2,\"error_rate\":0.666667,\"window_requests\":3,"
            "\"window_errors\":2,\"window_error_rate\":0.666667,\"log_lines\":5,"
            "\"log_error_lines\":2,\"first\":\"2024-03-05T10:00:22.882Z\","
            "\"last\":\"2024-03-05T10:00:25.000Z\"}");
  EXPECT_THAT(r.output, HasSubstr("\"rejected\":{\"docker\":0,\"cri\":1}"));
}

TEST(Analyze, AttributesPlainJsonLinesFromTheirFieldsAndTheRestToUnknown) {
  std::string input =
      "{\"service.name\":\"cart\",\"service.version\":\"v1.2.0\",\"status\":200}\n"
      "{\"service\":{\"name\":\"cart\",\"version\":\"v1.2.0\"},\"status\":503}\n"
      "{\"kubernetes\":{\"namespace_name\":\"shop\",\"labels\":{\"app\":\"web\",\"version\":"
      "\"v2\"}},\"level\":\"error\"}\n"
      "just some text with no status and no level\n"
      "\n";
  RunResult r = RunCommand({OBSGATE_BINARY, "analyze", "--format", "raw", "--json", "-"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(SeriesJson(r.output, "cart", "v1.2.0"),
              HasSubstr("\"requests\":2,\"errors\":1,\"error_rate\":0.5,"));
  EXPECT_THAT(SeriesJson(r.output, "web", "v2"),
              HasSubstr("\"requests\":0,\"errors\":0,\"error_rate\":null,"));
  EXPECT_THAT(SeriesJson(r.output, "web", "v2"), HasSubstr("\"log_error_lines\":1,"));
  EXPECT_THAT(r.output, HasSubstr("\"namespace\":\"shop\",\"deployment\":\"web\""));
  EXPECT_THAT(SeriesJson(r.output, "unknown", ""), HasSubstr("\"log_lines\":1,"));
  EXPECT_THAT(r.output, HasSubstr("\"unattributed\":1,"));
}

TEST(Analyze, WindowCountsOnlyTheLastMinutesOfLogTime) {
  std::string input;
  for (int minute = 0; minute < 10; ++minute) {
    std::string ts = "2024-03-05T10:0" + std::to_string(minute) + ":00Z";
    std::string status = minute >= 8 ? "500" : "200";
    input += ts + " stdout F {\"status\":" + status + ",\"app\":\"api\"}\n";
  }
  RunResult r = RunCommand({OBSGATE_BINARY, "analyze", "--window", "2m", "--json", "-"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // (10:07:00, 10:09:00]: the lines at 10:08 and 10:09, both errors.
  EXPECT_THAT(SeriesJson(r.output, "api", ""),
              HasSubstr("\"requests\":10,\"errors\":2,\"error_rate\":0.2,\"window_requests\":2,"
                        "\"window_errors\":2,\"window_error_rate\":1,"));
}

// Large files are read in pieces by several threads. A piece that begins inside a message the
// runtime split must be read after the piece before it, so every thread count gives the counts of
// one reader going through the file in order.
TEST(Analyze, CountsTheSameWithAnyNumberOfThreadsWhenPiecesSplitMessages) {
  TempDir dir;
  // CRI messages of 64 pieces of about 1 KiB: a cut between pieces almost always lands inside one.
  // The window (5m before 10:59) holds the messages of minutes 55 to 59: 15, 9 of them errors.
  std::string content;
  const std::string pad(1000, 'x');
  const int messages = 200;  // about 13 MB, several pieces
  for (int m = 0; m < messages; ++m) {
    const std::string ts = "2024-03-05T10:" + std::string(m % 60 < 10 ? "0" : "") +
                           std::to_string(m % 60) + ":00.000000001Z";
    content += ts + " stdout P 10.0.0.1 - - [05/Mar/2024:10:00:00 +0000] \"GET /x HTTP/1.1\" " +
               (m % 2 ? "503" : "200") + " 12 \"-\" \"curl/8.0\" " + pad + "\n";
    for (int piece = 1; piece < 63; ++piece) content += ts + " stdout P " + pad + "\n";
    content += ts + " stderr F level=error msg=interleaved\n";
    content += ts + " stdout F " + pad + "\n";
  }
  EXPECT_EQ(CheckoutSeriesWithThreads(dir, content, {"2", "3", "7"}),
            "{\"namespace\":\"payments\",\"deployment\":\"checkout\",\"version\":\"5f6b9c7d48\","
            "\"requests\":200,\"errors\":100,\"error_rate\":0.5,\"window_requests\":15,"
            "\"window_errors\":9,\"window_error_rate\":0.6,\"log_lines\":400,"
            "\"log_error_lines\":200,\"first\":\"2024-03-05T10:00:00.000Z\","
            "\"last\":\"2024-03-05T10:59:00.000Z\"}");
}

// Pieces cut between messages are each counted by their own thread; a long file keeps only a
// window's worth of seconds per series as it goes. Both must leave the counts of one reader.
TEST(Analyze, CountsTheSameWithAnyNumberOfThreadsOverAnHourOfWholeLines) {
  TempDir dir;
  // 3600 seconds, 3 lines each (about 14 MB, three pieces): every 10th second's last line fails.
  // The window (5m before 10:59:59) holds seconds 10:55:00 to 10:59:59: 900 requests, 30 errors.
  std::string content;
  const std::string pad(1200, 'x');
  for (int second = 0; second < 3600; ++second) {
    char ts[40];
    std::snprintf(ts, sizeof ts, "2024-03-05T10:%02d:%02d.000000001Z", second / 60, second % 60);
    for (int i = 0; i < 3; ++i) {
      const bool error = i == 2 && second % 10 == 0;
      content += std::string(ts) + " stdout F {\"status\":" + (error ? "500" : "200") +
                 ",\"pad\":\"" + pad + "\"}\n";
    }
  }
  EXPECT_EQ(CheckoutSeriesWithThreads(dir, content, {"2", "3"}),
            "{\"namespace\":\"payments\",\"deployment\":\"checkout\",\"version\":\"5f6b9c7d48\","
            "\"requests\":10800,\"errors\":360,\"error_rate\":0.0333333,"
            "\"window_requests\":900,\"window_errors\":30,\"window_error_rate\":0.0333333,"
            "\"log_lines\":10800,\"log_error_lines\":0,\"first\":\"2024-03-05T10:00:00.000Z\","
            "\"last\":\"2024-03-05T10:59:59.000Z\"}");
}

// Files are opened as they are read, not all at once: more files than a process may hold open.
TEST(Analyze, ReadsMoreFilesThanMayBeOpenAtOnce) {
  TempDir dir;
  std::vector<std::string> args = {"/bin/sh",      "-c",      "ulimit -n 32 && exec \"$0\" \"$@\"",
                                   OBSGATE_BINARY, "analyze", "--format",
                                   "cri",          "--json"};
  for (int i = 0; i < 100; ++i) {
    args.push_back(dir.Write("f" + std::to_string(i) + ".log",
                             "2024-03-05T10:00:00Z stdout F {\"app\":\"api\",\"status\":" +
                                 std::string(i % 4 ? "200" : "503") + "}\n"));
  }
  RunResult r = RunCommand(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(SeriesJson(r.output, "api", ""), HasSubstr("\"requests\":100,\"errors\":25,"));
}

// A line is cut where the gateway's tail cuts it (twice the 1 MiB message limit, plus framing), so
// a line that never ends takes no more memory than that: here a 256 MiB line in a process allowed
// 200 MB of address space. What follows it still counts, a last line without "\n" too.
TEST(Analyze, ReadsALineLongerThanItsMemoryAllowsCutWhereTheTailCutsIt) {
  TempDir dir;
  std::string content = "2024-03-05T10:00:00Z stdout F ";
  content.append(256 << 20, 'x');
  content += "\n2024-03-05T10:00:01Z stdout F {\"app\":\"api\",\"status\":500}\n";
  content += "2024-03-05T10:00:02Z stdout F {\"app\":\"api\",\"status\":200}";
  const std::string path = dir.Write("endless.log", content);
  content = std::string();
  RunResult r = RunCommand({"/bin/sh", "-c", "ulimit -v 200000 && exec \"$0\" \"$@\"",
                            OBSGATE_BINARY, "analyze", "--format", "cri", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  EXPECT_THAT(SeriesJson(r.output, "api", ""), HasSubstr("\"requests\":2,\"errors\":1,"));
  // The cut line once, as a line of its own, cut at the message limit by the joiner.
  EXPECT_THAT(r.output, HasSubstr("\"lines\":3,"));
  EXPECT_THAT(r.output, HasSubstr("\"truncated\":1}"));
}

TEST(Analyze, TableAndErrors) {
  RunResult table =
      RunCommand({OBSGATE_BINARY, "analyze", "-"},
                 "{\"app\":\"api\",\"status\":500}\n{\"app\":\"api\",\"status\":200}\n");
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("NAMESPACE"));
  EXPECT_THAT(table.output, HasSubstr("50.00%"));
  EXPECT_THAT(table.output, HasSubstr("2 lines in 1 series"));
  RunResult missing = RunCommand({OBSGATE_BINARY, "analyze", "/nonexistent.log"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("cannot read /nonexistent.log"));
  RunResult bad = RunCommand({OBSGATE_BINARY, "analyze", "--window", "5", "-"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("has no unit"));
  RunResult threads = RunCommand({OBSGATE_BINARY, "analyze", "--threads", "0", "-"});
  EXPECT_EQ(threads.exit_code, 2);
  EXPECT_THAT(threads.output, HasSubstr("--threads: \"0\" is no number from 1 to 256"));
  RunResult help = RunCommand({OBSGATE_BINARY, "analyze", "--help"});
  EXPECT_THAT(help.output, HasSubstr("usage: obsgate analyze"));
}

}  // namespace
}  // namespace obsgate::testing
