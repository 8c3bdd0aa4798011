#include "ingest/classify.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace obsgate::ingest {
namespace {

std::unique_ptr<Classifier> Make(ClassifyOptions options = {}) {
  auto c = Classifier::Create(std::move(options));
  EXPECT_TRUE(c.ok()) << c.error();
  return std::move(c).value();
}

// The JSON of a docker log string is read where it lies, escaped; it must give what the unescaped
// line gives, stop right after its object, and leave to unescaping what it cannot be sure of.
TEST(ClassifyJsonTest, ReadsJsonStillEscapedInsideADockerString) {
  auto c = Make();
  struct Case {
    std::string escaped, plain;
  };
  const std::vector<Case> read_in_place = {
      {R"({\"ts\":\"2024-03-05T10:00:01Z\",\"level\":\"error\",\"status\":503,\"ms\":1})",
       R"({"ts":"2024-03-05T10:00:01Z","level":"error","status":503,"ms":1})"},
      {R"({\"kubernetes\":{\"namespace_name\":\"shop\",\"labels\":{\"app\":\"web\"}},)"
       R"(\"msg\":\"a \\\"b\\\" \\\\ c\\n\",\"lvl\":\"warn\",\"code\":\"404\"})",
       R"({"kubernetes":{"namespace_name":"shop","labels":{"app":"web"}},)"
       R"("msg":"a \"b\" \\ c\n","lvl":"warn","code":"404"})"},
      {R"({\"app\":\"w\\\"eb\",\"version\":\"v\\u0032\",\"a\":[1,{\"b\":\"}\"}],\"t\":true})",
       R"({"app":"w\"eb","version":"v\u0032","a":[1,{"b":"}"}],"t":true})"},
  };
  for (const Case& k : read_in_place) {
    std::size_t used = 0;
    std::optional<LineFacts> escaped = c->ClassifyEscaped(k.escaped + "\\n\"", used);
    ASSERT_TRUE(escaped) << k.escaped;
    EXPECT_EQ(used, k.escaped.size()) << k.escaped;
    const LineFacts got = *escaped;
    const std::tuple<int, Level, bool, std::string, std::string, std::string> in_place = {
        got.status,
        got.level,
        got.error_line,
        std::string(got.ns),
        std::string(got.deployment),
        std::string(got.version)};
    const LineFacts want = c->Classify(k.plain);
    EXPECT_EQ(in_place,
              std::make_tuple(want.status, want.level, want.error_line, std::string(want.ns),
                              std::string(want.deployment), std::string(want.version)))
        << k.escaped;
  }
  std::size_t used = 0;
  for (const char* unsure : {R"({\"msg\":\"\u003c\",\"status\":503})", R"({\"p\":\"\/\"})",
                             R"({\"status\":503)", R"({\"status\":50\q})", R"({\"a\":\"\t\"})",
                             R"({\"a\":[\u0022]})", R"(x{\"status\":503})", "{\"a\":\"\x01\"}"}) {
    EXPECT_FALSE(c->ClassifyEscaped(unsure, used)) << unsure;
  }
  ClassifyOptions patterns;
  patterns.error_patterns = {"timeout"};
  EXPECT_FALSE(Make(patterns)->ClassifyEscaped(R"({\"status\":503})", used));
}

TEST(ClassifyJsonTest, StatusAsNumberOrString) {
  auto c = Make();
  EXPECT_EQ(c->Classify(R"({"status":503})").status, 503);
  EXPECT_EQ(c->Classify(R"({"status":"503"})").status, 503);
  EXPECT_EQ(c->Classify(R"({"statusCode":201.0})").status, 201);
  EXPECT_EQ(c->Classify(R"({"http_status":404,"msg":"x"})").status, 404);
  // Out of range, not a status, or not a whole number: ignored.
  EXPECT_EQ(c->Classify(R"({"status":99})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":600})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":"ok"})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":"5031"})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":503.5})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":-503})").status, 0);
  EXPECT_EQ(c->Classify(R"({"code":"ECONNRESET"})").status, 0);
  EXPECT_EQ(c->Classify(R"({"code":14})").status, 0);
  // Any JSON spelling of the number; one that JSON does not allow makes the line text.
  EXPECT_EQ(c->Classify(R"({"status":5.03e2})").status, 503);
  EXPECT_EQ(c->Classify(R"({"status":50300E-2})").status, 503);
  EXPECT_EQ(c->Classify(R"({"status":-0,"code":502})").status, 502);
  EXPECT_EQ(c->Classify(R"({"status":0503})").status, 0);
  EXPECT_EQ(c->Classify(R"({"status":0503} status=504)").status, 504) << "read as text";
  EXPECT_EQ(c->Classify(R"({"status":503x} status=504)").status, 504) << "read as text";
  EXPECT_EQ(c->Classify(R"({"status":1e999} status=504)").status, 504) << "out of range: text";
}

TEST(ClassifyJsonTest, FirstFieldInListOrderWins) {
  auto c = Make();
  // "status" comes before "code" in the list, whatever the order in the document.
  EXPECT_EQ(c->Classify(R"({"code":404,"status":500})").status, 500);
  EXPECT_EQ(c->Classify(R"({"status_code":502,"status":200})").status, 200);
  // A field that holds no status does not hide the next one.
  EXPECT_EQ(c->Classify(R"({"status":"ok","status_code":503})").status, 503);
  EXPECT_EQ(c->Classify(R"({"severity":"warning","level":"error"})").level, Level::kError);
}

TEST(ClassifyJsonTest, DottedPathsMatchNestedAndFlatKeys) {
  auto c = Make();
  EXPECT_EQ(c->Classify(R"({"http":{"status_code":502}})").status, 502);
  EXPECT_EQ(c->Classify(R"({"http.status_code":502})").status, 502);
  EXPECT_EQ(c->Classify(R"({"http":{"response":{"status_code":504}}})").status, 504);
  EXPECT_EQ(c->Classify(R"({"http.response":{"status_code":504}})").status, 504);
  EXPECT_EQ(c->Classify(R"({"http":{"response.status_code":504}})").status, 504);
  EXPECT_EQ(c->Classify(R"({"response":{"status":"429"}})").status, 429);
  EXPECT_EQ(c->Classify(R"({"log.level":"warn"})").level, Level::kWarn);
  EXPECT_EQ(c->Classify(R"({"log":{"level":"ERROR"}})").level, Level::kError);
  // A nested object whose keys do not lead anywhere is skipped, including arrays and deep nesting.
  EXPECT_EQ(c->Classify(R"({"http":{"req":{"a":[1,{"status":1}]},"status_code":"500"}})").status,
            500);
  EXPECT_EQ(c->Classify(R"({"req":{"status":500}})").status, 0);
}

TEST(ClassifyJsonTest, EveryLevelForm) {
  struct Case {
    std::string line;
    Level level;
    bool error_line;
  };
  const std::vector<Case> cases = {
      {R"({"level":"trace"})", Level::kTrace, false},
      {R"({"level":"DEBUG"})", Level::kDebug, false},
      {R"({"level":"Info"})", Level::kInfo, false},
      {R"({"level":"notice"})", Level::kInfo, false},
      {R"({"level":"warn"})", Level::kWarn, false},
      {R"({"level":"WARNING"})", Level::kWarn, false},
      {R"({"level":"error"})", Level::kError, true},
      {R"({"level":"err"})", Level::kError, true},
      {R"({"severity":"ERROR"})", Level::kError, true},
      {R"({"lvl":"crit"})", Level::kFatal, true},
      {R"({"loglevel":"CRITICAL"})", Level::kFatal, true},
      {R"({"severity_text":"FATAL"})", Level::kFatal, true},
      {R"({"level":"panic"})", Level::kFatal, true},
      {R"({"level":"alert"})", Level::kFatal, true},
      {R"({"level":"emerg"})", Level::kFatal, true},
      // pino / bunyan numbers, and the same as strings
      {R"({"level":10})", Level::kTrace, false},
      {R"({"level":20})", Level::kDebug, false},
      {R"({"level":30})", Level::kInfo, false},
      {R"({"level":40})", Level::kWarn, false},
      {R"({"level":50})", Level::kError, true},
      {R"({"level":60})", Level::kFatal, true},
      {R"({"level":"50"})", Level::kError, true},
      // Not levels.
      {R"({"level":3})", Level::kNone, false},
      {R"({"level":"verbose"})", Level::kNone, false},
      {R"({"level":true})", Level::kNone, false},
      {R"({"level":{"name":"error"}})", Level::kNone, false},
      {R"({"msg":"ERROR in the message is not a level"})", Level::kNone, false},
  };
  auto c = Make();
  for (const Case& k : cases) {
    const LineFacts f = c->Classify(k.line);
    EXPECT_EQ(f.level, k.level) << k.line;
    EXPECT_EQ(f.error_line, k.error_line) << k.line;
  }
}

TEST(ClassifyJsonTest, KubernetesAttribution) {
  auto c = Make();
  const LineFacts f = c->Classify(
      R"({"log":"x","kubernetes":{"pod_name":"auth-7d9c8b6f5-x2k4q","namespace_name":"shop",)"
      R"("labels":{"app":"auth","version":"v1.2.0","pod-template-hash":"7d9c8b6f5"}}})");
  EXPECT_EQ(f.ns, "shop");
  EXPECT_EQ(f.deployment, "auth");
  EXPECT_EQ(f.version, "v1.2.0");

  // Recommended labels, whose keys contain dots and a slash.
  const LineFacts g = c->Classify(
      R"({"kubernetes":{"namespace_name":"pay","labels":{"app.kubernetes.io/name":"checkout",)"
      R"("app.kubernetes.io/version":"3.1.4"}}})");
  EXPECT_EQ(g.ns, "pay");
  EXPECT_EQ(g.deployment, "checkout");
  EXPECT_EQ(g.version, "3.1.4");

  // kubernetes.labels.app comes before service.name in the list.
  const LineFacts h = c->Classify(
      R"({"service.name":"svc","kubernetes":{"labels":{"app":"lbl"}},"namespace":"ns1"})");
  EXPECT_EQ(h.deployment, "lbl");
  EXPECT_EQ(h.ns, "ns1");
  EXPECT_EQ(h.version, "");
}

TEST(ClassifyJsonTest, OpenTelemetryAttribution) {
  auto c = Make();
  LineFacts f =
      c->Classify(R"({"service.name":"cart","service.version":"1.4.2","k8s.namespace.name")"
                  R"(:"shop","severity_text":"ERROR"})");
  EXPECT_EQ(f.deployment, "cart");
  EXPECT_EQ(f.version, "1.4.2");
  EXPECT_EQ(f.ns, "shop");
  EXPECT_TRUE(f.error_line);

  f = c->Classify(R"({"resource":{"service.name":"cart","service.version":"1.4.3"},"body":"x"})");
  EXPECT_EQ(f.deployment, "cart");
  EXPECT_EQ(f.version, "1.4.3");

  f = c->Classify(R"({"service":{"name":"cart","version":"1.4.4"}})");
  EXPECT_EQ(f.deployment, "cart");
  EXPECT_EQ(f.version, "1.4.4");
  EXPECT_EQ(f.ns, "");

  // Escaped keys and values are unescaped before matching.
  f = c->Classify(R"({"service\u002ename":"caf\u00e9"})");
  EXPECT_EQ(f.deployment, "caf\xC3\xA9");
}

TEST(ClassifyJsonTest, ConfiguredFieldsReplaceTheDefaults) {
  ClassifyOptions o;
  o.status_fields = {"resp.code"};
  o.level_fields = {"sev"};
  o.deployment_fields = {"svc"};
  auto c = Make(o);
  const LineFacts f = c->Classify(R"({"status":500,"resp":{"code":418},"sev":"E","svc":"a"})");
  EXPECT_EQ(f.status, 418);
  EXPECT_EQ(f.level, Level::kNone);
  EXPECT_EQ(f.deployment, "a");
}

TEST(ClassifyJsonTest, BrokenJsonFallsBackToText) {
  auto c = Make();
  LineFacts f = c->Classify(R"({"status":503,"lev)");
  EXPECT_EQ(f.status, 0);
  EXPECT_EQ(f.level, Level::kNone);
  f = c->Classify(R"({"status":503,"level":"error")");
  EXPECT_EQ(f.status, 0);
  EXPECT_FALSE(f.error_line);
  // The raw bytes are read as logfmt.
  f = c->Classify("{ not json level=error status=502");
  EXPECT_EQ(f.status, 502);
  EXPECT_EQ(f.level, Level::kError);
  EXPECT_TRUE(f.error_line);
  EXPECT_EQ(f.deployment, "");
}

TEST(ClassifyJsonTest, InvalidUtf8DoesNotHideTheFields) {
  auto c = Make();
  const LineFacts f = c->Classify(
      "{\"level\":\"error\",\"msg\":\"bad \xff\xc3\",\"status\":500,\"app\":\"a\xe9\"}");
  EXPECT_EQ(f.level, Level::kError);
  EXPECT_EQ(f.status, 500);
  EXPECT_EQ(f.deployment, "a?");
}

TEST(ClassifyJsonTest, CrlfAndWhitespace) {
  auto c = Make();
  LineFacts f = c->Classify("  {\"status\":500,\"level\":\"warn\"}\r");
  EXPECT_EQ(f.status, 500);
  EXPECT_EQ(f.level, Level::kWarn);
  EXPECT_FALSE(f.error_line);
}

TEST(ClassifyJsonTest, ViewsStayValidUntilTheNextLine) {
  auto c = Make();
  std::string line = R"({"namespace":"n","app":"d","version":"v"})";
  const LineFacts f = c->Classify(line);
  line.assign(line.size(), 'x');  // the caller's buffer is reused
  EXPECT_EQ(f.ns, "n");
  EXPECT_EQ(f.deployment, "d");
  EXPECT_EQ(f.version, "v");
}

TEST(ClassifyTextTest, NothingToFind) {
  auto c = Make();
  for (const char* line : {"", "\r", "   ", "hello world", "12 workers started",
                           "Traceback (most recent call last):", "errors: none", "\xff\xfe\xfd"}) {
    const LineFacts f = c->Classify(line);
    EXPECT_EQ(f.status, 0) << line;
    EXPECT_EQ(f.level, Level::kNone) << line;
    EXPECT_FALSE(f.error_line) << line;
  }
}

TEST(ClassifyTextTest, LeadingLevelWords) {
  struct Case {
    std::string line;
    Level level;
  };
  const std::vector<Case> cases = {
      {"ERROR something broke", Level::kError},
      {"error: something broke", Level::kError},
      {"ERR connection reset", Level::kError},
      {"Err: x", Level::kError},
      {"[ERROR] x", Level::kError},
      {"[warn] disk 91% full", Level::kWarn},
      {"WARN x", Level::kWarn},
      {"WARNING: x", Level::kWarn},
      {"INFO x", Level::kInfo},
      {"info", Level::kInfo},
      {"DEBUG x", Level::kDebug},
      {"TRACE x", Level::kTrace},
      {"FATAL x", Level::kFatal},
      {"CRITICAL:root:db gone", Level::kFatal},
      {"PANIC x", Level::kFatal},
      {"  ERROR indented\r", Level::kError},
      {"2024-01-01T00:00:00Z ERROR x", Level::kError},
      {"2024-01-01T00:00:00.123456+02:00 [WARN] x", Level::kWarn},
      {"2024-01-01 00:00:00,123 ERROR x", Level::kError},
      {"2024-01-01 00:00:00,123 - CRITICAL - x", Level::kFatal},
      {"2024/01/01 00:00:00 [error] 31#31: connect() failed", Level::kError},
      {"[2024-01-01 00:00:00,123] FATAL x", Level::kFatal},
      {"2024-01-01 00:00:00 +0000 INFO | x", Level::kInfo},
      {"2024-01-01 00:00:00,123 - app.db - ERROR - x", Level::kError},
      {"E0305 10:00:13.000000       7 controller.go:190] sync failed", Level::kError},
      {"W0305 10:00:13.000000 7 x.go:1] slow", Level::kWarn},
      {"I0305 10:00:13.000000 7 x.go:1] ok", Level::kInfo},
      {"F0305 10:00:13.000000 7 x.go:1] dead", Level::kFatal},
      // Not a leading level.
      {"ERRORS were found", Level::kNone},
      {"[ERROR x", Level::kNone},
      {"Errored out", Level::kNone},
      {"the ERROR is later", Level::kNone},
      {"2024-01-01 myapp ERROR x", Level::kNone},
      {"ERROR-x", Level::kNone},
      {"E0305 is not klog", Level::kNone},
      {"A0305 10:00:13.000000 7 x.go:1] not a klog level", Level::kNone},
      {"2024-01-01 00:00:00,123 - app - db - ERROR - x", Level::kNone},
      {"- app - ERROR - no time before", Level::kNone},
  };
  auto c = Make();
  for (const Case& k : cases) {
    const LineFacts f = c->Classify(k.line);
    EXPECT_EQ(f.level, k.level) << k.line;
    EXPECT_EQ(f.error_line, k.level == Level::kError || k.level == Level::kFatal) << k.line;
    EXPECT_EQ(LeadingLevel(k.line), k.level) << k.line;
  }
}

TEST(ClassifyTextTest, Logfmt) {
  auto c = Make();
  LineFacts f = c->Classify(R"(ts=2024-01-01T00:00:00Z level=error status=503 msg="x y")");
  EXPECT_EQ(f.status, 503);
  EXPECT_EQ(f.level, Level::kError);
  EXPECT_TRUE(f.error_line);

  // A quoted value hides what looks like pairs inside it, escaped quotes included.
  f = c->Classify(R"(level=info msg="card \"visa\" status=500 level=error" status=201)");
  EXPECT_EQ(f.status, 201);
  EXPECT_EQ(f.level, Level::kInfo);
  EXPECT_FALSE(f.error_line);

  f = c->Classify(R"(level="warn" status="404")");
  EXPECT_EQ(f.status, 404);
  EXPECT_EQ(f.level, Level::kWarn);

  // An unterminated quote runs to the end of the line.
  f = c->Classify(R"(level=info msg="never closed status=500)");
  EXPECT_EQ(f.status, 0);
  EXPECT_EQ(f.level, Level::kInfo);

  // The first name in the list wins, as for JSON; other keys with the name inside do not count.
  f = c->Classify("code=404 status=500 upstream_status=200 severity=warn lvl=error");
  EXPECT_EQ(f.status, 500);
  EXPECT_EQ(f.level, Level::kWarn);

  // Pairs after a plain-text prefix, with CRLF.
  f = c->Classify("WARN retrying call status=502 attempt=3\r");
  EXPECT_EQ(f.status, 502);
  EXPECT_EQ(f.level, Level::kWarn);

  // Bare words, stray '=' and quotes are skipped.
  f = c->Classify("= =x \"odd status=500 level");
  EXPECT_EQ(f.status, 500);
}

TEST(LogfmtReaderTest, YieldsPairsRaw) {
  LogfmtReader r(R"(a=1 b="two words" bare c="q\"x" d= e)");
  std::vector<std::pair<std::string, std::string>> got;
  std::string_view k, v;
  while (r.Next(k, v)) got.emplace_back(k, v);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"a", "1"}, {"b", "two words"}, {"c", R"(q\"x)"}, {"d", ""}}));
}

TEST(ClassifyTextTest, AccessLogs) {
  auto c = Make();
  // Common log format.
  EXPECT_EQ(
      c->Classify(R"(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 503 1234)")
          .status,
      503);
  // Combined.
  EXPECT_EQ(
      c->Classify(
           R"(127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 1234 "-" "ua")")
          .status,
      200);
  // The user agent holds quotes and a fake status; the real one is right after the request.
  EXPECT_EQ(
      c->Classify(
           R"(10.0.0.1 - - [05/Mar/2024:10:00:00 +0000] "POST /a?\"b\" HTTP/2.0" 404 0 "-" "x\" 500 y")")
          .status,
      404);
  // Malformed requests are logged too.
  EXPECT_EQ(c->Classify(R"(10.0.0.1 - - [05/Mar/2024:10:00:00 +0000] "-" 400 0 "-" "-")").status,
            400);
  // Envoy's default format.
  EXPECT_EQ(
      c->Classify(R"([2024-03-05T10:00:00.310Z] "GET /api HTTP/2" 503 UF 0 91 1 - "-")").status,
      503);
  // Access logs carry no level.
  EXPECT_EQ(c->Classify(R"(1.2.3.4 - - [d] "GET / HTTP/1.1" 500 1)").level, Level::kNone);

  EXPECT_EQ(AccessLogStatus(R"(said "GET / HTTP/1.1" 503 times)"), 0);
  EXPECT_EQ(AccessLogStatus(R"(1.2.3.4 - - [d] "GET / HTTP/1.1" 5030 1)"), 0);
  EXPECT_EQ(AccessLogStatus(R"(1.2.3.4 - - [d] "GET / HTTP/1.1" 700 1)"), 0);
  EXPECT_EQ(AccessLogStatus(R"(1.2.3.4 - - [d] "GET / HTTP/1.1)"), 0);
  EXPECT_EQ(AccessLogStatus(R"(1.2.3.4 - - [d] "GET / HTTP/1.1" 204)"), 204);
}

TEST(ClassifierTest, ErrorPatterns) {
  ClassifyOptions o;
  o.error_patterns = {"panic: ", "(?i)out of memory"};
  auto c = Make(o);
  EXPECT_TRUE(c->Classify("goroutine 1 [running]: panic: nil map").error_line);
  EXPECT_TRUE(c->Classify(R"({"msg":"Out Of Memory","level":"info"})").error_line);
  EXPECT_EQ(c->Classify(R"({"msg":"Out Of Memory","level":"info"})").level, Level::kInfo);
  EXPECT_FALSE(c->Classify("all good").error_line);
}

TEST(ClassifierTest, BadPatternNamesPatternAndReason) {
  ClassifyOptions o;
  o.error_patterns = {"fine", "unclosed(group"};
  auto c = Classifier::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("\"unclosed(group\""), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("missing )"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("error_patterns"), std::string::npos) << c.error();
}

TEST(ClassifierTest, EmptyFieldNameIsRefused) {
  ClassifyOptions o;
  o.level_fields = {"level", ""};
  auto c = Classifier::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("level_fields"), std::string::npos) << c.error();
}

TEST(ClassifierTest, ErrorStatuses) {
  ClassifyOptions o;
  o.extra_error_statuses = {429};
  auto c = Make(o);
  EXPECT_TRUE(c->IsErrorStatus(500));
  EXPECT_TRUE(c->IsErrorStatus(503));
  EXPECT_TRUE(c->IsErrorStatus(599));
  EXPECT_TRUE(c->IsErrorStatus(429));
  EXPECT_FALSE(c->IsErrorStatus(404));
  EXPECT_FALSE(c->IsErrorStatus(200));
  EXPECT_FALSE(c->IsErrorStatus(0));
  EXPECT_FALSE(Make()->IsErrorStatus(429));
}

TEST(ClassifierTest, LongLinesGrowTheScratchOnce) {
  auto c = Make();
  std::string line = R"({"status":502,"pad":")" + std::string(300000, 'p') + R"("})";
  EXPECT_EQ(c->Classify(line).status, 502);
  EXPECT_EQ(c->Classify(R"({"status":201})").status, 201);
  EXPECT_EQ(c->Classify(line).status, 502);
}

}  // namespace
}  // namespace obsgate::ingest
