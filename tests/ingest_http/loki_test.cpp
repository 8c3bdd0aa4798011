#include "ingest/http/loki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <snappy.h>
#include <zlib.h>

#include "ingest/http/push.hpp"
#include "push.pb.h"

namespace obsgate::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Recorder final : public PushVisitor {
 public:
  void Stream(const std::vector<Label>& labels) override {
    std::string s;
    for (const Label& l : labels) s += l.name + "=" + l.value + ";";
    events.push_back("stream " + s);
  }
  void Entry(std::string_view line) override { events.push_back("entry " + std::string(line)); }
  void Rejected(std::uint64_t lines, std::string_view why) override {
    events.push_back("rejected " + std::to_string(lines) + " " + std::string(why));
  }
  std::vector<std::string> events;
};

TEST(LabelSelector, ParsesWhatPromtailSends) {
  auto l = ParseLabelSelector("{app=\"auth\", namespace=\"shop\",pod=\"a\\\"b\\\\c\\n\"}");
  ASSERT_TRUE(l) << l.error();
  EXPECT_THAT(
      *l, ElementsAre(Label{"app", "auth"}, Label{"namespace", "shop"}, Label{"pod", "a\"b\\c\n"}));
  EXPECT_TRUE(ParseLabelSelector("{}")->empty());
  EXPECT_EQ(ParseLabelSelector(" { a = \"\\u00e9\" , } ")->at(0).value, "\xC3\xA9");
}

TEST(LabelSelector, NamesWhatIsWrong) {
  EXPECT_EQ(ParseLabelSelector("app=\"x\"").error(),
            "bad label selector at byte 1: missing {; expected the form {name=\"value\", ...}");
  EXPECT_THAT(ParseLabelSelector("{1app=\"x\"}").error(), HasSubstr("expected a label name"));
  EXPECT_THAT(ParseLabelSelector("{app=x}").error(), HasSubstr("expected a quoted value for app"));
  EXPECT_THAT(ParseLabelSelector("{app=\"x}").error(), HasSubstr("unterminated value of app"));
  EXPECT_THAT(ParseLabelSelector("{app=\"x\" b=\"y\"}").error(), HasSubstr("expected , or }"));
  EXPECT_THAT(ParseLabelSelector("{app=\"\\q\"}").error(), HasSubstr("unknown escape \\q"));
  EXPECT_THAT(ParseLabelSelector("{a=\"b\"} trailing").error(),
              HasSubstr("unexpected text after }"));
}

TEST(LokiJson, KeepsGoodStreamsAndRejectsBadOnes) {
  Recorder r;
  auto s = DecodeLokiJson(R"({"streams":[
    {"stream":{"app":"auth"},"values":[["1700000000000000000","one"],["1700000000000000001","two",{"trace_id":"x"}]]},
    {"stream":{"app":7},"values":[["1","lost"],["2","lost"]]},
    {"stream":{"app":"cart"},"values":[["17e9","bad ts"],[1,"number ts"],["3"],["4","ok"]]},
    {"stream":{"app":"x"}}
  ]})",
                          r);
  ASSERT_TRUE(s) << s.error();
  EXPECT_THAT(r.events,
              ElementsAre("stream app=auth;", "entry one", "entry two",
                          "rejected 2 stream 2: \"stream\" must be an object of string labels",
                          "stream app=cart;",
                          "rejected 1 stream 3: the timestamp must be a string of nanoseconds",
                          "rejected 1 stream 3: an entry must be [\"<unix ns>\", \"<line>\"]",
                          "rejected 1 stream 3: an entry must be [\"<unix ns>\", \"<line>\"]",
                          "entry ok", "rejected 0 stream 4 has no \"values\" array"));
}

TEST(LokiJson, WholeBodyErrors) {
  Recorder r;
  EXPECT_THAT(DecodeLokiJson("{\"streams\":[", r).error(), HasSubstr("body is not valid JSON"));
  EXPECT_EQ(DecodeLokiJson("{\"stream\":[]}", r).error(),
            "body has no \"streams\" array; Loki's push is {\"streams\":[...]}");
  EXPECT_EQ(DecodeLokiJson("[]", r).error(),
            "body has no \"streams\" array; Loki's push is {\"streams\":[...]}");
}

std::string Encode(const logproto::PushRequest& req) {
  std::string out;
  req.SerializeToString(&out);
  return out;
}

TEST(LokiProtobuf, DecodesWhatTheSchemaEncodes) {
  logproto::PushRequest req;
  auto* s = req.add_streams();
  s->set_labels("{app=\"auth\", version=\"v2\"}");
  for (const char* line : {"first", "second"}) {
    auto* e = s->add_entries();
    e->mutable_timestamp()->set_seconds(1700000000);
    e->set_line(line);
    auto* meta = e->add_structuredmetadata();
    meta->set_name("trace_id");
    meta->set_value("abc");
  }
  s->set_hash(12345);
  auto* bad = req.add_streams();
  bad->set_labels("{app=auth}");
  bad->add_entries()->set_line("lost");
  bad->add_entries()->set_line("lost too");
  Recorder r;
  ASSERT_TRUE(DecodeLokiProtobuf(Encode(req), r));
  EXPECT_THAT(r.events, ElementsAre("stream app=auth;version=v2;", "entry first", "entry second",
                                    "rejected 2 stream 2: bad label selector at byte 6: expected a "
                                    "quoted value for app; expected the form {name=\"value\", "
                                    "...}"));
}

TEST(LokiProtobuf, TruncatedBodiesNeverCrash) {
  logproto::PushRequest req;
  auto* s = req.add_streams();
  s->set_labels("{app=\"auth\"}");
  s->add_entries()->set_line(std::string(300, 'x'));
  std::string wire = Encode(req);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    Recorder r;
    core::Status st = DecodeLokiProtobuf(std::string_view(wire).substr(0, n), r);
    for (const std::string& e : r.events) EXPECT_NE(e, "entry " + std::string(300, 'x'));
    (void)st;
  }
  Recorder r;
  EXPECT_FALSE(DecodeLokiProtobuf("\x0a\xff\xff\xff\xff\x0f", r));
}

TEST(Decompression, BoundedAndChecked) {
  std::string text(100'000, 'a');
  std::string snappy;
  snappy::Compress(text.data(), text.size(), &snappy);
  EXPECT_EQ(*SnappyUncompress(snappy, 1 << 20), text);
  EXPECT_THAT(SnappyUncompress(snappy, 1000).error(), HasSubstr("inflates to 100000 bytes"));
  EXPECT_THAT(SnappyUncompress("not snappy at all", 1 << 20).error(),
              HasSubstr("not valid snappy"));

  uLongf len = compressBound(text.size());
  std::string z(len, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(text.data()),
           text.size());
  z.resize(len);
  EXPECT_EQ(*core::Gunzip(z, 1 << 20), text);
  EXPECT_THAT(core::Gunzip(z, 1000).error(), HasSubstr("inflates past 1000 bytes"));
  EXPECT_THAT(core::Gunzip(z.substr(0, z.size() / 2), 1 << 20).error(), HasSubstr("truncated"));
  EXPECT_THAT(core::Gunzip("plain text", 1 << 20).error(), HasSubstr("not valid gzip"));
}

TEST(LabelsFromPush, UsesTheUsualLabelNames) {
  auto a = LabelsFromPush({{"namespace", "shop"}, {"app", "auth"}, {"version", "v1"}});
  EXPECT_EQ(a.labels.ns, "shop");
  EXPECT_EQ(a.labels.deployment, "auth");
  EXPECT_EQ(a.labels.version, "v1");
  auto b = LabelsFromPush({{"pod", "cart-7d9c8b6f5-x2k4q"},
                           {"namespace", "shop"},
                           {"filename", "/var/log/pods/shop_cart-7d9c8b6f5-x2k4q_u/c/0.log"}});
  EXPECT_EQ(b.labels.deployment, "cart");
  EXPECT_EQ(b.labels.version, "7d9c8b6f5");
  EXPECT_EQ(b.path, "/var/log/pods/shop_cart-7d9c8b6f5-x2k4q_u/c/0.log");
  auto c = LabelsFromPush({{"service_name", "api"}, {"service_version", "2.0"}});
  EXPECT_EQ(c.labels.deployment, "api");
  EXPECT_EQ(c.labels.version, "2.0");
}

}  // namespace
}  // namespace obsgate::ingest
