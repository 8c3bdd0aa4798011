// A stream of format auto reads a JSON line that cannot be a docker frame in one pass; these
// check it counts every line exactly as framing first and classifying after does.
#include "ingest/pipeline.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <tuple>

namespace obsgate::ingest {
namespace {

using Totals = std::map<std::tuple<std::string, std::string, std::string>,
                        std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>>;

Totals Drain(LineCounter& counter) {
  Totals t;
  counter.counts().Drain([&](const core::SeriesKey& k, const core::Counts& c) {
    auto& [requests, errors, lines, error_lines] = t[{k.ns, k.deployment, k.version}];
    requests += c.requests;
    errors += c.errors;
    lines += c.log_lines;
    error_lines += c.error_lines;
  });
  return t;
}

// Each sequence of lines through Feed, and through Frame then Count (the framer always first).
void ExpectSameCounts(const std::vector<std::vector<std::string>>& sequences,
                      const ClassifyOptions& options = {}, Format format = Format::kAuto) {
  for (const auto& lines : sequences) {
    auto fed = LineCounter::Create(options).value();
    auto framed = LineCounter::Create(options).value();
    const std::string path = "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-0123.log";
    LogStream a(format, path, {}, 64);
    LogStream b(format, path, {}, 64);
    std::string all;
    for (const std::string& line : lines) {
      std::optional<std::string_view> time = a.Feed(line, *fed);
      std::optional<LogStream::Message> m = b.Frame(line, framed->stats());
      if (m) b.Count(*m, *framed);
      EXPECT_EQ(time.has_value(), m.has_value()) << line;
      if (time && m) {
        EXPECT_EQ(*time, m->time) << line;
      }
      all += line + "\n";
    }
    a.Finish(*fed);
    b.Finish(*framed);
    EXPECT_EQ(Drain(*fed), Drain(*framed)) << all;
    const IngestStats& x = fed->stats();
    const IngestStats& y = framed->stats();
    EXPECT_EQ(
        std::tie(x.lines, x.bytes, x.docker_errors, x.cri_errors, x.unattributed, x.truncated),
        std::tie(y.lines, y.bytes, y.docker_errors, y.cri_errors, y.unattributed, y.truncated))
        << all;
  }
}

TEST(LogStreamTest, AutoFormatCountsJsonLinesAsTheFramerWould) {
  ExpectSameCounts({
      {R"({"level":"error","status":503})", R"({"level":"info","status":200})"},
      {R"({"level":"info","status":200}  )", "{\"status\":500}\r"},
      // Docker frames, and JSON lines with a key a frame has, anywhere at the top level.
      {R"({"log":"{\"status\":503}\n","stream":"stdout","time":"2024-03-05T10:00:00Z"})"},
      {R"({"level":"error","log":"a line"})", R"({"status":503,"stream":"stdout"})",
       R"({"status":503,"time":5})", R"({"status":503,"stream":"nowhere"})"},
      // Not the same bytes as a frame's key: read in one pass (the framer compares bytes too).
      {R"({"l\u006fg":"x","status":503})", R"({"inner":{"log":"x"},"status":502})"},
      // A docker piece waiting for its end: the next line goes through the joiner.
      {R"({"log":"{\"status\":50","stream":"stdout","time":"t"})", R"({"status":503})",
       R"({"status":504})"},
      // Torn, malformed, trailing bytes, too long for the 64-byte limit, not objects at all.
      {R"({"level":"error","status":5)", R"({"level":"error" "status":503})", R"({"a":1}})",
       R"({"a":tru,"status":503})", R"({"status":"503","msg":"x"} trailing)", "{", "{}",
       R"({"msg":"a line longer than sixty-four bytes, so the joiner cuts it","status":503})",
       R"({"status":503,"level":"err\x01or"})", R"({"status":5e2})", R"({"status":0503})",
       R"([{"status":503}])", R"( {"status":503})", "{\"k\":\"bad \\q escape\",\"status\":503}"},
      // Attribution from the line where the path gives none is the same either way.
      {R"({"namespace":"n","app":"d","version":"v","status":503})"},
  });
}

// A docker line whose log is a JSON line is read inside the escaped string; every spelling must
// count as unescaping first does, whichever way the read in place goes.
TEST(LogStreamTest, DockerJsonLogsCountAsUnescapingFirstDoes) {
  auto docker = [](const std::string& escaped_log, const std::string& tail = "\\n") {
    return "{\"log\":\"" + escaped_log + tail +
           "\",\"stream\":\"stdout\",\"time\":\"2024-03-05T10:00:00.5Z\"}";
  };
  const std::vector<std::vector<std::string>> sequences = {
      {docker(R"({\"level\":\"error\",\"status\":503})"), docker(R"({\"status\":200})")},
      // Escapes of the application inside docker's: \" \\ \n in a value, in a key, in a skipped
      // value; a level and names read from escaped values.
      {docker(R"({\"msg\":\"say \\\"hi\\\" \\\\ \\n\",\"status\":503})"),
       docker(R"({\"lev\\u0065l\":\"error\"})"), docker(R"({\"level\":\"\\u0065rror\"})"),
       docker(R"({\"app\":\"d\\\"x\",\"namespace\":\"n\\\\s\",\"status\":502})")},
      // What only unescaping can read: \u and \/ of docker's own, control bytes, tabs and
      // newlines between tokens and inside strings.
      {docker(R"({\"msg\":\"\u003cb\u003e\",\"status\":503})"),
       docker(R"({\"path\":\"\/x\",\"status\":503})"), docker(R"({\u0022status\":503})"),
       docker(R"({\n\t\"status\":\r503\n})"), docker(R"({\"msg\":\"a\nb\",\"status\":503})"),
       docker(R"({\"msg\":[\"\/\",\"\u005d\"],\"status\":503})")},
      // Not JSON once unescaped, trailing bytes, partial pieces, bad docker escapes, other shapes.
      {docker(R"({\"status\":503)"), docker(R"({\"status\":503} x)"),
       docker(R"({\"status\":503})", ""), docker(R"({\"status\":504})"),
       docker(R"({\"status\":503,\"x\":\"\q\"})"), docker(R"({\"status\":5\q})"),
       R"({"log":"{\"status\":503}\n","time":"t","stream":"stdout"})",
       R"({"log":"{\"status\":503}\n","stream":"stdout","time":"t"}  )",
       R"({"log":"{\"status\":503}\n","stream":"stdout","time":"t\"}")",
       R"({"log":"{\"status\":503}\n","stream":"other","time":"t"})"},
      // Longer than the 64-byte limit: cut by the joiner.
      {docker(R"({\"status\":503,\"msg\":\"long enough to be cut by the joiner\"})")},
  };
  ExpectSameCounts(sequences, {}, Format::kDocker);
  ExpectSameCounts(sequences, {}, Format::kAuto);
  ClassifyOptions patterns;
  patterns.error_patterns = {"hi"};
  ExpectSameCounts(sequences, patterns, Format::kDocker);
}

TEST(LogStreamTest, AutoFormatMatchesErrorPatternsAsTheFramerWould) {
  ClassifyOptions options;
  options.error_patterns = {"timeout"};
  ExpectSameCounts({{R"({"msg":"upstream timeout","status":200})", R"({"msg":"fine"})"}}, options);
}

}  // namespace
}  // namespace obsgate::ingest
