#include "ingest/container_line.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace obsgate::ingest {
namespace {

// JSON-escapes the way docker's json-file writer does for ASCII text and control characters.
std::string DockerEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string DockerLine(std::string_view log, std::string_view stream = "stdout") {
  return "{\"log\":\"" + DockerEscape(log) + "\",\"stream\":\"" + std::string(stream) +
         "\",\"time\":\"2024-03-05T10:00:00.123456789Z\"}";
}

TEST(DockerParserTest, ReadsAWholeLine) {
  DockerParser p;
  ContainerLine out;
  ASSERT_EQ(
      p.Parse(R"({"log":"hello world\n","stream":"stderr","time":"2024-03-05T10:00:00.5Z"})", out),
      FrameError::kNone);
  EXPECT_EQ(out.message, "hello world");
  EXPECT_EQ(out.time, "2024-03-05T10:00:00.5Z");
  EXPECT_EQ(out.stream, Stream::kStderr);
  EXPECT_FALSE(out.partial);
}

TEST(DockerParserTest, KeyOrderAndExtraKeysDoNotMatter) {
  DockerParser p;
  ContainerLine out;
  const std::string line =
      R"({ "time" : "2024-03-05T10:00:00Z", "attrs": {"tag": "a}\"b", "n": [1, {"x": null}]},)"
      R"( "stream":"stdout", "extra": -1.5e3, "ok": true, "log" : "x\n" })"
      "\r\n";
  ASSERT_EQ(p.Parse(line, out), FrameError::kNone);
  EXPECT_EQ(out.message, "x");
  EXPECT_EQ(out.time, "2024-03-05T10:00:00Z");
  EXPECT_EQ(out.stream, Stream::kStdout);
}

TEST(DockerParserTest, UnescapesTheLog) {
  DockerParser p;
  ContainerLine out;
  ASSERT_EQ(p.Parse(R"({"log":"q\" b\\ s\/ \b\f\n\r\t|\n","stream":"stdout","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message, "q\" b\\ s/ \b\f\n\r\t|");

  ASSERT_EQ(p.Parse(R"({"log":"caf\u00e9 \u003cb\u003e\n","stream":"stdout","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message, "caf\xC3\xA9 <b>");

  ASSERT_EQ(p.Parse(R"({"log":"smile \ud83d\ude00!\n","stream":"stdout","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message, "smile \xF0\x9F\x98\x80!");
}

TEST(DockerParserTest, LoneSurrogatesBecomeReplacementCharacters) {
  DockerParser p;
  ContainerLine out;
  ASSERT_EQ(p.Parse(R"({"log":"a\ud83d b\n","stream":"stdout","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message, "a\xEF\xBF\xBD b");
  ASSERT_EQ(p.Parse(R"({"log":"\ude00\n","stream":"stdout","time":"t"})", out), FrameError::kNone);
  EXPECT_EQ(out.message, "\xEF\xBF\xBD");
  // A high surrogate followed by an escape that is not a low surrogate: both are decoded.
  ASSERT_EQ(p.Parse(R"({"log":"\ud83d\u0041\n","stream":"stdout","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message,
            "\xEF\xBF\xBD"
            "A");
  // A high surrogate at the very end of the string.
  ASSERT_EQ(p.Parse(R"({"log":"\ud83d","stream":"stdout","time":"t"})", out), FrameError::kNone);
  EXPECT_EQ(out.message, "\xEF\xBF\xBD");
  EXPECT_TRUE(out.partial);
}

TEST(DockerParserTest, PassesInvalidUtf8Through) {
  DockerParser p;
  ContainerLine out;
  ASSERT_EQ(
      p.Parse("{\"log\":\"bad \xff\xfe\xc3 bytes\\n\",\"stream\":\"stdout\",\"time\":\"t\"}", out),
      FrameError::kNone);
  EXPECT_EQ(out.message, "bad \xff\xfe\xc3 bytes");
}

TEST(DockerParserTest, NamesEachBrokenLine) {
  struct Case {
    std::string line;
    FrameError want;
  };
  const std::vector<Case> cases = {
      {"", FrameError::kEmpty},
      {" \r\n", FrameError::kEmpty},
      {"hello", FrameError::kNotJson},
      {"[1,2]", FrameError::kNotJson},
      {R"({"log":"abc)", FrameError::kTruncated},
      {R"({"log":"abc\)", FrameError::kTruncated},
      {R"({"log":"abc\u12)", FrameError::kTruncated},
      {R"({"log":"abc\n","stream":"stdout")", FrameError::kTruncated},
      {R"({"log":"abc\n","attrs":{"a":[1,2)", FrameError::kTruncated},
      {R"({"log")", FrameError::kTruncated},
      {R"({"stream":"stdout","time":"t"})", FrameError::kMissingLog},
      {R"({})", FrameError::kMissingLog},
      {R"({"log":5,"stream":"stdout"})", FrameError::kBadField},
      {R"({"log":"x\n","stream":"stdin"})", FrameError::kBadField},
      {R"({"log":"x\n","time":null})", FrameError::kBadField},
      {R"({"log":"a\x41"})", FrameError::kBadEscape},
      {R"({"log":"a\u12G4"})", FrameError::kBadEscape},
      {R"({"log":"x\n"} trailing)", FrameError::kNotJson},
      {R"({"log":"x\n" "stream":"stdout"})", FrameError::kNotJson},
      {R"({log:"x"})", FrameError::kNotJson},
  };
  DockerParser p;
  for (const Case& c : cases) {
    ContainerLine out;
    EXPECT_EQ(p.Parse(c.line, out), c.want) << c.line;
  }
}

TEST(DockerParserTest, ErrorNamesAreMetricLabels) {
  EXPECT_STREQ(FrameErrorName(FrameError::kNone), "none");
  EXPECT_STREQ(FrameErrorName(FrameError::kEmpty), "empty");
  EXPECT_STREQ(FrameErrorName(FrameError::kNotJson), "not_json");
  EXPECT_STREQ(FrameErrorName(FrameError::kTruncated), "truncated");
  EXPECT_STREQ(FrameErrorName(FrameError::kMissingLog), "missing_log");
  EXPECT_STREQ(FrameErrorName(FrameError::kBadField), "bad_field");
  EXPECT_STREQ(FrameErrorName(FrameError::kBadEscape), "bad_escape");
  EXPECT_STREQ(FrameErrorName(FrameError::kBadCri), "bad_cri");
}

// Docker cuts messages at 16 KiB of raw bytes and JSON-encodes each piece on its own line.
TEST(DockerParserTest, SplitLinesOver16KiBJoinBackExactly) {
  std::string message;
  for (int i = 0; message.size() < 50000; ++i) {
    message += "row " + std::to_string(i) + " \"quoted\" back\\slash\ttab {json:[1]} ";
  }
  std::vector<std::string> lines;
  const std::size_t kPiece = 16 * 1024;
  const std::string with_newline = message + "\n";
  for (std::size_t at = 0; at < with_newline.size(); at += kPiece) {
    lines.push_back(DockerLine(std::string_view(with_newline).substr(at, kPiece)));
  }
  ASSERT_EQ(lines.size(), 4u);

  DockerParser p;
  PartialJoiner joiner;
  std::string_view whole;
  int completed = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ContainerLine out;
    ASSERT_EQ(p.Parse(lines[i], out), FrameError::kNone);
    EXPECT_EQ(out.partial, i + 1 < lines.size());
    if (joiner.Add(out, whole)) ++completed;
    EXPECT_EQ(joiner.HasPending(), i + 1 < lines.size());
  }
  ASSERT_EQ(completed, 1);
  EXPECT_EQ(whole.size(), message.size());
  EXPECT_TRUE(whole == message);
  EXPECT_EQ(joiner.truncated(), 0u);
}

// The shape docker writes is read without looking at keys; written any other way (a space after
// the brace is enough) the same line goes the general way. Both must agree on every line.
TEST(DockerParserTest, TheShapeDockerWritesReadsAsAnyOtherSpellingOfIt) {
  const std::vector<std::string> lines = {
      R"({"log":"plain\n","stream":"stdout","time":"2024-03-05T10:00:00.000000001Z"})",
      R"({"log":"{\"level\":\"error\",\"status\":503}\n","stream":"stderr","time":"t"})",
      R"({"log":"partial, no newline","stream":"stdout","time":"t"})",
      R"({"log":"","stream":"stdout","time":""})",
      R"({"log":"tab\tand \u00e9 and \ud83d\ude00\n","stream":"stdout","time":"t"})",
      R"({"log":"bad \x escape","stream":"stdout","time":"t"})",
      R"({"log":"cut off \u12)",
      R"({"log":"torn)",
      R"({"log":"x\n","stream":"stdout","time":"t"}  )",
      R"({"log":"x\n","stream":"stdout","time":"t","attrs":{"a":"b"}})",
      R"({"log":"x\n","stream":"stdout","time":"with \"quote\""})",
      R"({"log":"x\n","stream":"nowhere","time":"t"})",
      R"({"log":"x\n","stream":"stdout","time":"t"}x)",
      R"({"log":"x\n","stream":"stdout","time":"t")",
      R"({"log":"x\n","time":"t","stream":"stdout"})",
  };
  DockerParser fast, general;
  for (const std::string& line : lines) {
    ContainerLine a, b;
    const FrameError ea = fast.Parse(line, a);
    const std::string spaced = "{ " + line.substr(1);
    const FrameError eb = general.Parse(spaced, b);
    EXPECT_EQ(FrameErrorName(ea), std::string(FrameErrorName(eb))) << line;
    if (ea != FrameError::kNone || eb != FrameError::kNone) continue;
    EXPECT_EQ(a.message, b.message) << line;
    EXPECT_EQ(a.time, b.time) << line;
    EXPECT_EQ(a.stream, b.stream) << line;
    EXPECT_EQ(a.partial, b.partial) << line;
  }
}

TEST(CriTest, ReadsContainerdAndCriOLines) {
  ContainerLine out;
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00.123456789Z stdout F hello world", out),
            FrameError::kNone);
  EXPECT_EQ(out.time, "2024-03-05T10:00:00.123456789Z");
  EXPECT_EQ(out.stream, Stream::kStdout);
  EXPECT_FALSE(out.partial);
  EXPECT_EQ(out.message, "hello world");

  ASSERT_EQ(ParseCri("2024-03-05T10:00:00.123456789+00:00 stderr P  two  spaces ", out),
            FrameError::kNone);
  EXPECT_EQ(out.time, "2024-03-05T10:00:00.123456789+00:00");
  EXPECT_EQ(out.stream, Stream::kStderr);
  EXPECT_TRUE(out.partial);
  EXPECT_EQ(out.message, " two  spaces ");
}

TEST(CriTest, EmptyMessagesTagListsAndLineEnds) {
  ContainerLine out;
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00Z stdout F", out), FrameError::kNone);
  EXPECT_EQ(out.message, "");
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00Z stdout F ", out), FrameError::kNone);
  EXPECT_EQ(out.message, "");
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00Z stdout F done\r", out), FrameError::kNone);
  EXPECT_EQ(out.message, "done");
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00Z stdout F done\r\n", out), FrameError::kNone);
  EXPECT_EQ(out.message, "done");
  ASSERT_EQ(ParseCri("2024-03-05T10:00:00Z stdout P:future x", out), FrameError::kNone);
  EXPECT_TRUE(out.partial);
  EXPECT_EQ(out.message, "x");
}

TEST(CriTest, RejectsWhatIsNotCri) {
  const std::vector<std::pair<std::string, FrameError>> cases = {
      {"", FrameError::kEmpty},
      {"\r\n", FrameError::kEmpty},
      {"hello world", FrameError::kBadCri},
      {"2024-03-05T10:00:00Z", FrameError::kBadCri},
      {"2024-03-05T10:00:00Z stdout", FrameError::kBadCri},
      {"2024-03-05T10:00:00Z stdin F x", FrameError::kBadCri},
      {"2024-03-05T10:00:00Z stdout X x", FrameError::kBadCri},
      {"2024-03-05T10:00:00Z stdout FF x", FrameError::kBadCri},
      {"404 not found at all", FrameError::kBadCri},
      {"2024/03/05 10:00:00 stdout F x", FrameError::kBadCri},
  };
  for (const auto& [line, want] : cases) {
    ContainerLine out;
    EXPECT_EQ(ParseCri(line, out), want) << line;
  }
}

TEST(PartialJoinerTest, JoinsInterleavedCriStreams) {
  const std::vector<std::string> lines = {
      "2024-03-05T10:00:00Z stdout P level=error msg=\"up",
      "2024-03-05T10:00:01Z stderr P Traceback: ",
      "2024-03-05T10:00:02Z stdout P stream ",
      "2024-03-05T10:00:03Z stderr F boom",
      "2024-03-05T10:00:04Z stderr F whole",
      "2024-03-05T10:00:05Z stdout F down\" status=503",
  };
  PartialJoiner joiner;
  std::vector<std::string> got;
  for (const std::string& l : lines) {
    ContainerLine out;
    ASSERT_EQ(ParseCri(l, out), FrameError::kNone);
    std::string_view whole;
    if (joiner.Add(out, whole)) got.emplace_back(whole);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"Traceback: boom", "whole",
                                           "level=error msg=\"upstream down\" status=503"}));
  EXPECT_FALSE(joiner.HasPending());
}

TEST(PartialJoinerTest, CutsLongMessagesAndCountsThem) {
  PartialJoiner joiner(10);
  std::string_view whole;
  ContainerLine piece;
  piece.partial = true;
  piece.message = "aaaaaa";
  EXPECT_FALSE(joiner.Add(piece, whole));
  piece.message = "bbbbbb";
  EXPECT_FALSE(joiner.Add(piece, whole));
  piece.message = "cccccc";
  EXPECT_FALSE(joiner.Add(piece, whole));
  EXPECT_TRUE(joiner.HasPending());
  piece.partial = false;
  piece.message = "dd";
  ASSERT_TRUE(joiner.Add(piece, whole));
  EXPECT_EQ(whole, "aaaaaabbbb");
  EXPECT_EQ(joiner.truncated(), 1u);

  piece.message = "short";
  ASSERT_TRUE(joiner.Add(piece, whole));
  EXPECT_EQ(whole, "short");
  EXPECT_EQ(joiner.truncated(), 1u);

  // A message that was never split is cut too.
  piece.message = "0123456789abc";
  ASSERT_TRUE(joiner.Add(piece, whole));
  EXPECT_EQ(whole, "0123456789");
  EXPECT_EQ(joiner.truncated(), 2u);

  // Exactly max_bytes is not a cut.
  piece.partial = true;
  piece.message = "01234";
  EXPECT_FALSE(joiner.Add(piece, whole));
  piece.partial = false;
  piece.message = "56789";
  ASSERT_TRUE(joiner.Add(piece, whole));
  EXPECT_EQ(whole, "0123456789");
  EXPECT_EQ(joiner.truncated(), 2u);
}

TEST(PartialJoinerTest, FlushHandsOutWhatIsPending) {
  PartialJoiner joiner;
  std::string_view whole;
  ContainerLine piece;
  piece.partial = true;
  piece.stream = Stream::kStderr;
  piece.message = "exited mid-";
  EXPECT_FALSE(joiner.Add(piece, whole));
  piece.message = "line";
  EXPECT_FALSE(joiner.Add(piece, whole));
  ASSERT_TRUE(joiner.Flush(whole));
  EXPECT_EQ(whole, "exited mid-line");
  EXPECT_FALSE(joiner.HasPending());
  EXPECT_FALSE(joiner.Flush(whole));
}

TEST(LineFramerTest, AutoDecidesPerLine) {
  LineFramer framer(Format::kAuto);
  ContainerLine out;
  ASSERT_EQ(framer.Parse(R"({"log":"from docker\n","stream":"stderr","time":"t"})", out),
            FrameError::kNone);
  EXPECT_EQ(out.message, "from docker");
  EXPECT_EQ(out.stream, Stream::kStderr);

  ASSERT_EQ(framer.Parse("2024-03-05T10:00:00Z stdout P from cri", out), FrameError::kNone);
  EXPECT_EQ(out.message, "from cri");
  EXPECT_TRUE(out.partial);

  ASSERT_EQ(framer.Parse("404 is a raw line\n", out), FrameError::kNone);
  EXPECT_EQ(out.message, "404 is a raw line");
  EXPECT_FALSE(out.partial);

  ASSERT_EQ(framer.Parse("plain raw\r\n", out), FrameError::kNone);
  EXPECT_EQ(out.message, "plain raw");

  // An application's own JSON line in a plain file.
  ASSERT_EQ(framer.Parse(R"({"level":"error","status":503})", out), FrameError::kNone);
  EXPECT_EQ(out.message, R"({"level":"error","status":503})");

  EXPECT_EQ(framer.Parse(R"({"log":"torn)", out), FrameError::kTruncated);
  EXPECT_EQ(framer.Parse("", out), FrameError::kEmpty);
}

TEST(LineFramerTest, FixedFormatsDoNotGuess) {
  ContainerLine out;
  EXPECT_EQ(LineFramer(Format::kDocker).Parse("2024-03-05T10:00:00Z stdout F x", out),
            FrameError::kNotJson);
  EXPECT_EQ(LineFramer(Format::kCri).Parse(R"({"log":"x\n"})", out), FrameError::kBadCri);
  ASSERT_EQ(LineFramer(Format::kRaw).Parse(R"({"log":"x\n"})", out), FrameError::kNone);
  EXPECT_EQ(out.message, R"({"log":"x\n"})");
}

}  // namespace
}  // namespace obsgate::ingest
