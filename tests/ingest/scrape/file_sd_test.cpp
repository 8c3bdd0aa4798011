#include "ingest/scrape/file_sd.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace obsgate::ingest {
namespace {

using ::testing::HasSubstr;

TEST(FileSd, ReadsPrometheusJsonWithTabsAndLabels) {
  auto r = ParseFileSd(
      "[\n\t{\n\t\t\"targets\": [\"10.0.0.1:9100\", \"auth:8000\"],\n"
      "\t\t\"labels\": {\"namespace\": \"prod\", \"deployment\": \"auth\"}\n\t},\n"
      "\t{\"targets\": [\"[::1]:9090\"]}\n]\n",
      "http", "/metrics");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].url, "http://10.0.0.1:9100/metrics");
  EXPECT_EQ((*r)[1].url, "http://auth:8000/metrics");
  EXPECT_EQ((*r)[1].labels,
            (std::map<std::string, std::string>{{"deployment", "auth"}, {"namespace", "prod"}}));
  EXPECT_EQ((*r)[2].url, "http://[::1]:9090/metrics");
  EXPECT_TRUE((*r)[2].labels.empty());
}

TEST(FileSd, ReadsYamlAndTheSchemeAndPathLabels) {
  auto r = ParseFileSd(
      "- targets: ['pay:8443']\n"
      "  labels:\n"
      "    __scheme__: https\n"
      "    __metrics_path__: /admin/metrics\n"
      "    __meta_kubernetes_pod_name: pay-1\n"
      "    version: v3\n",
      "http", "/metrics");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].url, "https://pay:8443/admin/metrics");
  EXPECT_EQ((*r)[0].labels, (std::map<std::string, std::string>{{"version", "v3"}}));
}

TEST(FileSd, AnEmptyFileOrListHasNoTargets) {
  for (const char* text : {"", "[]", "# nothing yet\n"}) {
    auto r = ParseFileSd(text, "http", "/metrics");
    ASSERT_TRUE(r.ok()) << text << ": " << r.error();
    EXPECT_TRUE(r->empty());
  }
}

TEST(FileSd, SaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"{\"targets\": [\"a:1\"]}", "expected a list of {targets"},
      {"[{\"labels\": {}}]", "group 1: expected targets:"},
      {"[{\"targets\": [\"a:1\"]}, {\"targets\": [\"http://b:1/metrics\"]}]",
       "group 2: the target \"http://b:1/metrics\" is not host:port"},
      {"[{\"targets\": [\"a:1\"], \"label\": {}}]", "unknown key \"label\""},
      {"[{\"targets\": [\"a:1\"], \"labels\": {\"x\": [1]}}]", "the label x must be a string"},
      {"[{\"targets\": [\"a:1\"], \"labels\": {\"__scheme__\": \"ftp\"}}]", "is not http or https"},
      {"[{\"targets\": ", "line "},
  };
  for (const Case& c : cases) {
    auto r = ParseFileSd(c.text, "http", "/metrics");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(r.error(), HasSubstr(c.error)) << c.text;
  }
}

}  // namespace
}  // namespace obsgate::ingest
