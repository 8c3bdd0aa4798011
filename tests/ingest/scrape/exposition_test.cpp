#include "ingest/scrape/exposition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace obsgate::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr ExpositionFormat kText = ExpositionFormat::kText;
constexpr ExpositionFormat kOm = ExpositionFormat::kOpenMetrics;

std::string ReadCapture(const std::string& name) {
  std::ifstream in(std::string(OBSGATE_TEST_DATA_DIR) + "/exposition/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One hand-written exposition and what a user must see: the family and sample counts it holds,
// or the parser's message, word for word.
struct Case {
  const char* what;
  ExpositionFormat format;
  const char* body;
  std::size_t families = 0;
  std::size_t samples = 0;
  const char* error = nullptr;
};

const Case kCases[] = {
    // Text 0.0.4: what Prometheus accepts.
    {"text: empty body", kText, "", 0, 0},
    {"text: blank lines and free comments", kText, "\n  \n# just a comment\n#\nup 1\n", 1, 1},
    {"text: HELP and TYPE, no newline at the end", kText,
     "# HELP up Whether up.\n# TYPE up gauge\nup 1", 1, 1},
    {"text: TYPE before HELP", kText, "# TYPE a counter\n# HELP a x\na 1\n", 1, 1},
    {"text: label escapes", kText, "a{path=\"C:\\\\x\",msg=\"say \\\"hi\\\"\\n\"} 1\n", 1, 1},
    {"text: trailing comma in labels", kText, "a{x=\"1\",} 1\n", 1, 1},
    {"text: blanks and tabs between every token", kText,
     "  a \t{ x = \"1\" , y=\"2\" , }\t 1 \t 1700000000000 \t\n", 1, 1},
    {"text: empty label set", kText, "a{} 1\n", 1, 1},
    {"text: NaN, +Inf, -Inf and Go's spellings", kText,
     "a NaN\nb +Inf\nc -Inf\nd nan\ne inf\nf -infinity\n", 6, 6},
    {"text: exponent and sign forms", kText, "a 1e3\nb -1.5E-7\nc +3\nd .5\ne 5.\n", 5, 5},
    {"text: negative and signed timestamps", kText, "a 1 -1000\nb 2 +1000\n", 2, 2},
    {"text: colons in metric names", kText, "job:rate5m:sum{job=\"x\"} 1\n", 1, 1},
    {"text: histogram with non-canonical le", kText,
     "# TYPE h histogram\nh_bucket{le=\"1.1e-4\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
     "h_count 2\n",
     1, 4},
    {"text: summary", kText, "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n", 1, 3},
    {"text: samples without TYPE are untyped families", kText, "a 1\nb 1\nb_sum 1\n", 3, 3},
    {"text: HELP-only family without samples", kText, "# HELP a x\n# TYPE a gauge\n", 1, 0},
    {"text: unknown escape in HELP kept as Go keeps it", kText, "# HELP a x\\y\na 1\n", 1, 1},
    {"text: # EOF is only a comment", kText, "a 1\n# EOF\nb 1\n", 2, 2},

    // Text 0.0.4: what it refuses.
    {"text: missing value", kText, "a\n", 0, 0,
     "line 1: expected a space after the metric name and labels, got end of line"},
    {"text: bad value", kText, "up 1x\n", 0, 0,
     "line 1: expected a number (or NaN, +Inf, -Inf) as the value, got \"1x\""},
    {"text: float timestamp", kText, "a 1 1.5\n", 0, 0,
     "line 1: expected a timestamp in integer milliseconds after the value, got \"1.5\""},
    {"text: junk after timestamp", kText, "a 1 2 3\n", 0, 0,
     "line 1: expected end of line after the sample, got '3'"},
    {"text: unclosed label value", kText, "a{x=\"1} 1\n", 0, 0,
     "line 1: expected '\"' to close the value of label \"x\", got end of line"},
    {"text: unquoted label value", kText, "a{x=1} 1\n", 0, 0,
     "line 1: expected '\"' to open the value of label \"x\", got '1'"},
    {"text: missing =", kText, "a{x\"1\"} 1\n", 0, 0,
     "line 1: expected '=' after label name \"x\", got '\"'"},
    {"text: bad escape", kText, "a{x=\"\\t\"} 1\n", 0, 0,
     "line 1: invalid escape in the value of label \"x\"; only \\\\, \\\" and \\n are allowed"},
    {"text: duplicate label", kText, "a{x=\"1\",x=\"2\"} 1\n", 0, 0,
     "line 1: label \"x\" appears twice"},
    {"text: label name starting with a digit", kText, "a{1x=\"1\"} 1\n", 0, 0,
     "line 1: expected a label name or '}' in the labels, got '1'"},
    {"text: missing comma", kText, "a{x=\"1\" y=\"2\"} 1\n", 0, 0,
     "line 1: expected ',' or '}' after the value of label \"x\", got 'y'"},
    {"text: double comma", kText, "a{x=\"1\",,} 1\n", 0, 0,
     "line 1: expected a label name or '}' in the labels, got ','"},
    {"text: metric name starting with a digit", kText, "# ok\n1a 1\n", 0, 0,
     "line 2: expected a metric name or '#', got '1'"},
    {"text: unknown TYPE", kText, "# TYPE a gaugehistogram\n", 0, 0,
     "line 1: expected a type (counter, gauge, histogram, summary or untyped), got "
     "\"gaugehistogram\""},
    {"text: second TYPE", kText, "# TYPE a gauge\n# TYPE a gauge\n", 0, 0,
     "line 2: second TYPE line for \"a\""},
    {"text: TYPE after samples", kText, "a 1\n# TYPE a gauge\n", 0, 0,
     "line 2: TYPE line for \"a\" after its samples"},
    {"text: bucket without le", kText, "# TYPE h histogram\nh_bucket 1\n", 0, 0,
     "line 2: a histogram bucket needs the label le"},
    {"text: le not a number", kText, "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 0, 0,
     "line 2: expected a number as le, got \"x\""},
    {"text: summary without quantile", kText, "# TYPE s summary\ns 1\n", 0, 0,
     "line 2: a summary quantile needs the label quantile"},
    {"text: exemplars are OpenMetrics only", kText, "a_total 1 # {t=\"1\"} 1\n", 0, 0,
     "line 1: expected a timestamp in integer milliseconds after the value, got \"#\""},
    {"text: value out of range", kText, "a 1e999\n", 0, 0,
     "line 1: expected a number (or NaN, +Inf, -Inf) as the value, got \"1e999\""},
    {"text: nan with a payload", kText, "a nan(1)\n", 0, 0,
     "line 1: expected a number (or NaN, +Inf, -Inf) as the value, got \"nan(1)\""},
    {"text: NUL byte in a name", kText, std::string_view("a\0 1\n", 5).data(), 0, 0,
     "line 1: expected a space after the metric name and labels, got byte 0x00"},

    // OpenMetrics 1.0: what it accepts.
    {"om: the spec's example", kOm,
     "# TYPE acme_http_router_request_seconds summary\n"
     "# UNIT acme_http_router_request_seconds seconds\n"
     "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n"
     "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n"
     "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n"
     "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n"
     "# EOF\n",
     1, 3},
    {"om: # EOF without a final newline", kOm, "a 1\n# EOF", 1, 1},
    {"om: empty exposition", kOm, "# EOF\n", 0, 0},
    {"om: counter with _total, _created and an exemplar", kOm,
     "# TYPE foo counter\nfoo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n"
     "foo_created 1520872607.123\n# EOF\n",
     1, 2},
    {"om: histogram exemplars with and without timestamps", kOm,
     "# TYPE h histogram\n"
     "h_bucket{le=\"0.01\"} 0\n"
     "h_bucket{le=\"0.1\"} 8 # {} 0.054\n"
     "h_bucket{le=\"1.1e-4\"} 8 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879607.789\n"
     "h_bucket{le=\"+Inf\"} 17\nh_count 17\nh_sum 324789.3\nh_created 1520430000.123\n# EOF\n",
     1, 7},
    {"om: gaugehistogram", kOm,
     "# TYPE g gaugehistogram\ng_bucket{le=\"1\"} 1\ng_bucket{le=\"+Inf\"} 2\ng_gcount 2\n"
     "g_gsum 3\n# EOF\n",
     1, 4},
    {"om: info", kOm, "# TYPE build info\nbuild_info{version=\"1.2\"} 1\n# EOF\n", 1, 1},
    {"om: stateset", kOm, "# TYPE st stateset\nst{st=\"a\"} 1\nst{st=\"b\"} 0\n# EOF\n", 1, 2},
    {"om: unknown and no metadata", kOm, "# TYPE u unknown\nu 1\nother{x=\"y\"} 2\n# EOF\n", 2, 2},
    {"om: NaN and Inf in any case, float timestamps", kOm,
     "a nan\nb +INF\nc -inf 1.5e9\nd NaN 1520879607\n# EOF\n", 4, 4},
    {"om: HELP with escaped quote and empty UNIT", kOm,
     "# HELP a say \\\"hi\\\"\n# UNIT a \na 1\n# EOF\n", 1, 1},

    // OpenMetrics 1.0: what it refuses.
    {"om: missing # EOF", kOm, "a 1\n", 0, 0,
     "line 2: expected \"# EOF\" as the last line of an OpenMetrics exposition, got end of input"},
    {"om: content after # EOF", kOm, "# EOF\na 1\n", 0, 0,
     "line 2: expected nothing after \"# EOF\", got 'a'"},
    {"om: blank line", kOm, "a 1\n\n# EOF\n", 0, 0,
     "line 2: expected a sample or a '#' line (OpenMetrics has no blank lines), got an empty "
     "line"},
    {"om: free comment", kOm, "# hello\n# EOF\n", 0, 0,
     "line 1: expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\", got \"# hello\""},
    {"om: two spaces", kOm, "a  1\n# EOF\n", 0, 0,
     "line 1: expected one space after the metric name and labels, got a second space"},
    {"om: tab separator", kOm, "a\t1\n# EOF\n", 0, 0,
     "line 1: expected a space after the metric name and labels, got byte 0x09"},
    {"om: trailing comma", kOm, "a{x=\"1\",} 1\n# EOF\n", 0, 0,
     "line 1: expected a label name, got '}'"},
    {"om: trailing space", kOm, "a 1 \n# EOF\n", 0, 0,
     "line 1: expected a timestamp in seconds or '#' after the value, got end of line"},
    {"om: counter sample without _total", kOm, "# TYPE c counter\nc 1\n# EOF\n", 0, 0,
     "line 2: expected a sample of the counter family \"c\" (c_total, c_created), got \"c\""},
    {"om: counter family named with _total", kOm, "# TYPE c_total counter\n# EOF\n", 0, 0,
     "line 1: the counter family \"c_total\" is named without its sample suffix; write \"c\""},
    {"om: interleaved families", kOm, "a 1\nb 1\na 2\n# EOF\n", 0, 0,
     "line 3: the family \"a\" appears a second time; an OpenMetrics family's lines must be "
     "together"},
    {"om: metadata after samples", kOm, "a 1\n# HELP a late\n# EOF\n", 0, 0,
     "line 2: HELP line for \"a\" after its samples"},
    {"om: unit not a suffix", kOm, "# UNIT a_bytes seconds\n# EOF\n", 0, 0,
     "line 1: the unit \"seconds\" is not a suffix of the family name \"a_bytes\""},
    {"om: untyped is a text-format type", kOm, "# TYPE a untyped\n# EOF\n", 0, 0,
     "line 1: expected a type (counter, gauge, histogram, gaugehistogram, summary, info, "
     "stateset or unknown), got \"untyped\""},
    {"om: exemplar on a gauge", kOm, "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n", 0, 0,
     "line 2: an exemplar may follow only a counter's _total or a histogram's _bucket"},
    {"om: exemplar labels over 128 characters", kOm,
     "# TYPE c counter\nc_total 1 # {trace_id=\""
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890\"} 1\n# EOF\n",
     0, 0, "line 2: the exemplar's labels hold 139 characters; OpenMetrics allows at most 128"},
    {"om: exemplar without value", kOm, "# TYPE c counter\nc_total 1 # {a=\"b\"}\n# EOF\n", 0, 0,
     "line 2: expected a space after the exemplar's labels, got end of line"},
    {"om: stateset sample without its label", kOm, "# TYPE st stateset\nst 1\n# EOF\n", 0, 0,
     "line 2: a stateset sample needs a label named after its family, \"st\""},
    {"om: gaugehistogram bucket without le", kOm, "# TYPE g gaugehistogram\ng_bucket 1\n# EOF\n", 0,
     0, "line 2: a histogram bucket needs the label le"},
    {"om: bad escape in HELP", kOm, "# HELP a x\\y\n# EOF\n", 0, 0,
     "line 1: invalid escape in HELP text; only \\\\, \\\" and \\n are allowed"},
    {"om: NaN timestamp", kOm, "a 1 NaN\n# EOF\n", 0, 0,
     "line 1: expected a timestamp in seconds or '#' after the value, got \"NaN\""},
};

class CountingVisitor final : public ExpositionVisitor {
 public:
  void OnFamily(const ExpositionFamily&) override { ++families; }
  bool OnSample(const ExpositionFamily&, const ExpositionSample&) override {
    ++samples;
    return true;
  }
  std::size_t families = 0;
  std::size_t samples = 0;
};

TEST(ExpositionTest, EdgeCasesFromBothSpecs) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    std::string_view body = c.body;
    if (std::string_view(c.what) == "text: NUL byte in a name") body = {c.body, 5};
    CountingVisitor v;
    core::Status s = ParseExposition(body, c.format, v);
    if (c.error != nullptr) {
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error(), c.error);
    } else {
      ASSERT_TRUE(s.ok()) << s.error();
      EXPECT_EQ(v.families, c.families);
      EXPECT_EQ(v.samples, c.samples);
    }
  }
}

TEST(ExpositionTest, NodeExporterCaptureHasItsFamiliesAndSamples) {
  std::string body = ReadCapture("node_exporter.prom");
  ASSERT_FALSE(body.empty()) << "missing " OBSGATE_TEST_DATA_DIR "/exposition";
  EXPECT_EQ(SniffFormat(body), kText);
  // Counted independently: 283 "# TYPE" lines, every sample under one of them, 507 sample lines.
  auto parsed = ParseExpositionToValues(body, kText);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->families.size(), 283u);
  EXPECT_EQ(parsed->sample_count, 507u);
  const ParsedFamily& gc = parsed->families.front();
  EXPECT_EQ(gc.name, "go_gc_duration_seconds");
  EXPECT_EQ(gc.type, MetricType::kSummary);
  EXPECT_EQ(gc.samples.size(), 7u);
}

// The capture named prometheus.openmetrics is what Prometheus 2.42 served without an Accept
// header: text 0.0.4 (counters named with _total in TYPE, no "# EOF").
TEST(ExpositionTest, PrometheusCaptureHasItsFamiliesAndSamples) {
  std::string body = ReadCapture("prometheus.openmetrics");
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(SniffFormat(body), kText);
  // 168 "# TYPE" lines (82 counters, 70 gauges, 7 histograms, 9 summaries), 344 sample lines.
  auto parsed = ParseExpositionToValues(body, kText);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->families.size(), 168u);
  EXPECT_EQ(parsed->sample_count, 344u);
  std::size_t histograms = 0;
  for (const ParsedFamily& f : parsed->families) histograms += f.type == MetricType::kHistogram;
  EXPECT_EQ(histograms, 7u);
  // Read as OpenMetrics it is refused, at its first counter, with a message saying why.
  auto as_om = ParseExpositionToValues(body, kOm);
  ASSERT_FALSE(as_om.ok());
  EXPECT_THAT(as_om.error(), ::testing::HasSubstr("is named without its sample suffix"));
}

TEST(ExpositionTest, ValuesLabelsAndTimestampsReachTheVisitor) {
  auto parsed = ParseExpositionToValues(
      "# HELP req Requests \\\\ served\\n.\n# TYPE req counter\n"
      "req{code=\"500\",path=\"/a\\\"b\\\\c\\nd\"} 1.5e3 1700000000123\n",
      kText);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  ASSERT_EQ(parsed->families.size(), 1u);
  const ParsedFamily& f = parsed->families[0];
  EXPECT_EQ(f.help, "Requests \\ served\n.");
  EXPECT_EQ(f.type, MetricType::kCounter);
  ASSERT_EQ(f.samples.size(), 1u);
  EXPECT_THAT(f.samples[0].labels, ElementsAre(Pair("code", "500"), Pair("path", "/a\"b\\c\nd")));
  EXPECT_EQ(f.samples[0].value, 1500);
  EXPECT_EQ(f.samples[0].timestamp_ms, 1700000000123);

  auto om = ParseExpositionToValues(
      "# TYPE c counter\nc_total 3 1520879607.789 # {trace_id=\"x\"} 0.67\n# EOF\n", kOm);
  ASSERT_TRUE(om.ok()) << om.error();
  const ParsedSample& s = om->families[0].samples[0];
  EXPECT_EQ(s.timestamp_ms, 1520879607789);
  EXPECT_EQ(s.exemplar_value, 0.67);
  EXPECT_THAT(s.exemplar_labels, ElementsAre(Pair("trace_id", "x")));
}

TEST(ExpositionTest, SpecialValuesKeepTheirMeaning) {
  auto parsed = ParseExpositionToValues("a NaN\nb +Inf\nc -Inf\n", kText);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(std::isnan(parsed->families[0].samples[0].value));
  EXPECT_EQ(parsed->families[1].samples[0].value, INFINITY);
  EXPECT_EQ(parsed->families[2].samples[0].value, -INFINITY);
  EXPECT_EQ(FormatValue(parsed->families[1].samples[0].value), "+Inf");
  EXPECT_EQ(FormatValue(2.5e-7), "2.5e-07");
  EXPECT_EQ(FormatValue(1234), "1234");
}

// Label values are scanned 16 bytes at a time: quotes and escapes at every offset of a block, a
// value that ends the body without a newline, and a quote missing before the line ends.
TEST(ExpositionTest, LabelValuesOfEveryLengthAndEscapeOffsetDecode) {
  for (std::size_t len = 0; len < 40; ++len) {
    for (std::size_t at = 0; at <= len; ++at) {
      std::string raw(len, 'v');
      std::string want = raw;
      raw.insert(at, "\\\"");
      want.insert(at, "\"");
      std::string body = "m{a=\"" + raw + "\",b=\"" + std::string(len, 'w') + "\"} 1";
      auto parsed = ParseExpositionToValues(body, kText);
      ASSERT_TRUE(parsed.ok()) << parsed.error() << " in " << body;
      EXPECT_THAT(parsed->families[0].samples[0].labels,
                  ElementsAre(Pair("a", want), Pair("b", std::string(len, 'w'))))
          << body;
    }
    std::string open = "m{a=\"" + std::string(len, 'v') + "\nn{b=\"x\"} 2\n";
    auto bad = ParseExpositionToValues(open + std::string(40, 'x') + " 3\n", kText);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error(),
              "line 1: expected '\"' to close the value of label \"a\", got end of line");
  }
}

TEST(ExpositionTest, DecimalValuesAreTheNearestDouble) {
  const char* values[] = {"0.1",
                          "0.005",
                          "2.5",
                          "-0.25",
                          "123456789.012345",
                          "1e-3",
                          ".5",
                          "5.",
                          "0.30000000000000004",
                          "-0",
                          "999999999999999",
                          "9007199254740993",
                          "+Inf"};
  for (const char* v : values) {
    auto parsed = ParseExpositionToValues(std::string("m ") + v + "\n", kText);
    ASSERT_TRUE(parsed.ok()) << v;
    double value = parsed->families[0].samples[0].value;
    EXPECT_EQ(value, std::strtod(v, nullptr)) << v;
    EXPECT_EQ(std::signbit(value), std::signbit(std::strtod(v, nullptr))) << v;
  }
  EXPECT_FALSE(ParseExpositionToValues("m .\n", kText).ok());
  EXPECT_FALSE(ParseExpositionToValues("m 1.2.3\n", kText).ok());
}

TEST(ExpositionTest, ContentTypeChoosesTheFormat) {
  EXPECT_EQ(FormatFromContentType("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            kOm);
  EXPECT_EQ(FormatFromContentType("text/plain; version=0.0.4; charset=utf-8"), kText);
  EXPECT_EQ(FormatFromContentType(""), kText);
  EXPECT_EQ(SniffFormat("a 1\n# EOF\n"), kOm);
  EXPECT_EQ(SniffFormat("a 1\n#  EOF\n"), kText);
}

TEST(ExpositionTest, AVisitorCanStopTheParse) {
  class StopAtFirst final : public ExpositionVisitor {
   public:
    void OnFamily(const ExpositionFamily&) override {}
    bool OnSample(const ExpositionFamily&, const ExpositionSample&) override { return false; }
  } v;
  core::Status s = ParseExposition("a 1\nb 2\n", kText, v);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), "line 1: stopped");
}

}  // namespace
}  // namespace obsgate::ingest
