// The Grafana dashboards and Prometheus rules in dashboards/: they parse, pick their data source
// from a variable, and every query they hold is accepted by a real Prometheus scraping a running
// obsgate with traffic pushed into it; the core panels show data. promtool checks and unit-tests
// the rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kDashboards = std::string(OBSGATE_SOURCE_DIR) + "/dashboards";

// One PromQL expression a dashboard holds, and where.
struct Query {
  std::string dashboard;
  std::string panel;  // panel title, or "annotation NAME"
  std::string expr;
};

// label_values(SELECTOR, LABEL) of one template variable.
struct Variable {
  std::string dashboard;
  std::string name;
  std::string query;
};

struct Dashboard {
  std::string file;
  std::string uid;
  std::string title;
  std::vector<Query> queries;
  std::vector<Variable> variables;
  std::vector<std::string> problems;  // what a user would see go wrong in Grafana
};

std::vector<std::string> DashboardFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(kDashboards + "/grafana")) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

bool UsesDatasourceVariable(simdjson::dom::element e) {
  simdjson::dom::element ds;
  if (e["datasource"].get(ds) != simdjson::SUCCESS) return false;
  return Str(ds, "type") == "prometheus" && Str(ds, "uid") == "${datasource}";
}

void ReadPanels(simdjson::dom::array panels, Dashboard& d, std::set<std::int64_t>& ids) {
  for (simdjson::dom::element p : panels) {
    std::string title = Str(p, "title");
    std::int64_t id = 0;
    if (p["id"].get(id) != simdjson::SUCCESS || !ids.insert(id).second) {
      d.problems.push_back("panel \"" + title + "\" has no id or a repeated one");
    }
    std::int64_t x = 0, w = 0;
    if (p["gridPos"]["x"].get(x) != simdjson::SUCCESS ||
        p["gridPos"]["w"].get(w) != simdjson::SUCCESS || x < 0 || w <= 0 || x + w > 24) {
      d.problems.push_back("panel \"" + title + "\" does not fit Grafana's 24-column grid");
    }
    if (Str(p, "type") == "row") {
      simdjson::dom::array inner;
      if (p["panels"].get(inner) == simdjson::SUCCESS) ReadPanels(inner, d, ids);
      continue;
    }
    if (title.empty()) d.problems.push_back("a panel has no title");
    if (!UsesDatasourceVariable(p)) {
      d.problems.push_back("panel \"" + title + "\" does not use the ${datasource} variable");
    }
    simdjson::dom::array targets;
    if (p["targets"].get(targets) != simdjson::SUCCESS || targets.size() == 0) {
      d.problems.push_back("panel \"" + title + "\" has no query");
      continue;
    }
    for (simdjson::dom::element t : targets) {
      std::string expr = Str(t, "expr");
      if (expr.empty()) d.problems.push_back("panel \"" + title + "\" has a query with no expr");
      if (!UsesDatasourceVariable(t)) {
        d.problems.push_back("a query of \"" + title + "\" does not use ${datasource}");
      }
      d.queries.push_back({d.file, title, expr});
    }
  }
}

Dashboard ReadDashboard(const std::string& path) {
  Dashboard d;
  d.file = fs::path(path).filename().string();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.load(path).get(doc)) {
    d.problems.push_back(std::string("does not parse: ") + simdjson::error_message(error));
    return d;
  }
  d.uid = Str(doc, "uid");
  d.title = Str(doc, "title");
  if (d.uid.empty() || d.title.empty()) d.problems.push_back("needs a uid and a title");
  bool has_datasource_variable = false;
  simdjson::dom::array vars;
  if (doc["templating"]["list"].get(vars) == simdjson::SUCCESS) {
    for (simdjson::dom::element v : vars) {
      std::string type = Str(v, "type");
      if (type == "datasource" && Str(v, "name") == "datasource" &&
          Str(v, "query") == "prometheus") {
        has_datasource_variable = true;
      } else if (type == "query") {
        if (!UsesDatasourceVariable(v)) {
          d.problems.push_back("variable " + Str(v, "name") + " does not use ${datasource}");
        }
        d.variables.push_back({d.file, Str(v, "name"), Str(v["query"], "query")});
      }
    }
  }
  if (!has_datasource_variable) {
    d.problems.push_back("has no Prometheus data source variable named datasource");
  }
  simdjson::dom::array annotations;
  if (doc["annotations"]["list"].get(annotations) == simdjson::SUCCESS) {
    for (simdjson::dom::element a : annotations) {
      std::string expr = Str(a, "expr");
      if (expr.empty()) continue;  // Grafana's built-in annotations
      if (!UsesDatasourceVariable(a)) {
        d.problems.push_back("annotation " + Str(a, "name") + " does not use ${datasource}");
      }
      d.queries.push_back({d.file, "annotation " + Str(a, "name"), expr});
    }
  }
  std::set<std::int64_t> ids;
  simdjson::dom::array panels;
  if (doc["panels"].get(panels) != simdjson::SUCCESS || panels.size() == 0) {
    d.problems.push_back("has no panels");
  } else {
    ReadPanels(panels, d, ids);
  }
  return d;
}

std::vector<Dashboard> ReadDashboards() {
  std::vector<Dashboard> all;
  for (const std::string& f : DashboardFiles()) all.push_back(ReadDashboard(f));
  return all;
}

TEST(Dashboards, ParseAndTakeTheirDataSourceFromAVariable) {
  std::vector<Dashboard> all = ReadDashboards();
  std::set<std::string> titles, uids;
  for (const Dashboard& d : all) {
    EXPECT_THAT(d.problems, ::testing::IsEmpty()) << d.file;
    EXPECT_FALSE(d.queries.empty()) << d.file;
    EXPECT_TRUE(uids.insert(d.uid).second) << d.file << " repeats uid " << d.uid;
    titles.insert(d.title);
  }
  EXPECT_EQ(titles, (std::set<std::string>{"Deployments", "obsgate itself"}));
}

TEST(Dashboards, ProvisioningLoadsThemFromOneFolderWithAPrometheusDataSource) {
  YAML::Node providers = YAML::LoadFile(kDashboards + "/provisioning/dashboards/obsgate.yaml");
  ASSERT_EQ(providers["apiVersion"].as<int>(), 1);
  ASSERT_EQ(providers["providers"].size(), 1u);
  EXPECT_EQ(providers["providers"][0]["type"].as<std::string>(), "file");
  EXPECT_EQ(providers["providers"][0]["options"]["path"].as<std::string>(),
            "/var/lib/grafana/dashboards/obsgate");
  YAML::Node sources = YAML::LoadFile(kDashboards + "/provisioning/datasources/prometheus.yaml");
  ASSERT_EQ(sources["datasources"].size(), 1u);
  EXPECT_EQ(sources["datasources"][0]["type"].as<std::string>(), "prometheus");
}

TEST(PrometheusRules, PromtoolChecksThem) {
  if (!HaveProgram("promtool")) GTEST_SKIP() << "promtool missing: install the prometheus package";
  RunResult r =
      RunCommand({"promtool", "check", "rules", kDashboards + "/prometheus/obsgate.rules.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SUCCESS"));
}

TEST(PrometheusRules, UnitTestsPassAndMakeEveryAlertFire) {
  if (!HaveProgram("promtool")) GTEST_SKIP() << "promtool missing: install the prometheus package";
  // promtool resolves rule_files against its working directory.
  RunResult r = RunCommand({"sh", "-c",
                            "cd '" + kDashboards +
                                "/prometheus' && promtool test rules "
                                "obsgate.rules.test.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SUCCESS"));

  std::set<std::string> alerts, fired;
  YAML::Node rules = YAML::LoadFile(kDashboards + "/prometheus/obsgate.rules.yml");
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      if (rule["alert"]) alerts.insert(rule["alert"].as<std::string>());
    }
  }
  YAML::Node tests = YAML::LoadFile(kDashboards + "/prometheus/obsgate.rules.test.yml");
  for (const auto& test : tests["tests"]) {
    for (const auto& check : test["alert_rule_test"]) {
      if (check["exp_alerts"].size() > 0) fired.insert(check["alertname"].as<std::string>());
    }
  }
  EXPECT_GE(alerts.size(), 5u);
  EXPECT_EQ(fired, alerts) << "every alert needs a test case in which it fires";
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// What Grafana would send with every variable at "All": intervals sized for a 1s scrape.
std::string Substitute(std::string expr) {
  for (auto [from, to] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"$__rate_interval", "10s"},
           {"$__interval", "5s"},
           {"$__range", "2m"},
           {"$job", "obsgate"},
           {"$instance", ".*"},
           {"$namespace", ".*"},
           {"$deployment", ".*"}}) {
    ReplaceAll(expr, from, to);
  }
  return expr;
}

// Panels whose metrics do not exist until automatic rollback and pipelines are in use: their
// queries must be accepted, but no data is expected here.
const std::set<std::string> kDataOnlyOnceRollbackAndPipelinesLand = {
    "Rollbacks", "annotation Rollbacks", "Pipeline runs", "Pipeline step duration (p90)"};

// What a user opening the dashboards after pushing logs must see.
const std::set<std::string> kCorePanels = {"Error rate by deployment and version",
                                           "Requests by deployment and version",
                                           "Errors by deployment and version",
                                           "Error rate per version",
                                           "Traffic share per version",
                                           "Versions now",
                                           "Lines per second by source",
                                           "Bytes per second by source",
                                           "Up",
                                           "Version",
                                           "CPU",
                                           "Memory",
                                           "HTTP requests by handler and code",
                                           "Rule evaluation time",
                                           "Scrape health"};

class DashboardQueries : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveProgram("prometheus")) GTEST_SKIP() << "install the Debian prometheus package";
    // obsgate scrapes its own /metrics too, so the scrape panels have a target to show.
    std::uint16_t port = FreePort();
    std::string self = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    g_ = GatewayProcess::Start(dir_.Write(
        "obsgate.yaml",
        "listen: 127.0.0.1:" + std::to_string(port) +
            "\n"
            "sources:\n"
            "  - http: {formats: [loki, ndjson]}\n"
            "  - scrape:\n"
            "      interval: 1s\n"
            "      timeout: 1s\n"
            "      requests: obsgate_http_requests_total\n"
            "      errors: 'obsgate_http_requests_total{code=~\"5..\"}'\n"
            "      targets: [{url: \"" +
            self + "\", labels: {namespace: obsgate, deployment: self, version: test}}]\n"));
    prom_port_ = FreePort();
    std::string config = dir_.Write("prometheus.yml",
                                    "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                    "rule_files: ['" +
                                        kDashboards +
                                        "/prometheus/obsgate.rules.yml']\n"
                                        "scrape_configs:\n"
                                        "  - job_name: obsgate\n"
                                        "    static_configs: [{targets: ['127.0.0.1:" +
                                        std::to_string(g_.port) + "']}]\n");
    prom_ = Process::Start({"prometheus", "--config.file=" + config,
                            "--storage.tsdb.path=" + dir_.path() + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_)});
  }

  // Pushes a second of traffic: auth v1 at 0.5% errors, auth v2 at 4%, cart v7 at none.
  void PushTraffic() {
    auto push = [&](const std::string& labels, int ok, int failed) {
      std::string body;
      for (int i = 0; i < ok; ++i) body += "{\"status\":200,\"msg\":\"GET /\"}\n";
      for (int i = 0; i < failed; ++i) body += "{\"status\":503,\"msg\":\"GET /\"}\n";
      HttpReply r = Post(g_.port, "/api/v1/logs?" + labels, body);
      EXPECT_EQ(r.status, 200) << r.body;
    };
    push("namespace=shop&deployment=auth&version=v1", 199, 1);
    push("namespace=shop&deployment=auth&version=v2", 48, 2);
    push("namespace=shop&deployment=cart&version=v7", 100, 0);
  }

  // The body of an instant query, or of the label values a variable lists.
  std::string Ask(const std::string& path) { return Get(prom_port_, path).body; }

  TempDir dir_;
  GatewayProcess g_;
  std::uint16_t prom_port_ = 0;
  std::unique_ptr<Process> prom_;
};

bool HasData(const std::string& body) {
  return body.find("\"status\":\"success\"") != std::string::npos &&
         body.find("\"result\":[]") == std::string::npos &&
         body.find("\"data\":[]") == std::string::npos;
}

TEST_F(DashboardQueries, EveryQueryIsAcceptedByPrometheusAndTheCorePanelsShowData) {
  std::vector<Dashboard> all = ReadDashboards();
  ASSERT_FALSE(all.empty());
  // Traffic until the 5m recording rules have two samples of every series behind them.
  std::string ratio;
  for (int i = 0; i < 60 && !HasData(ratio); ++i) {
    PushTraffic();
    std::this_thread::sleep_for(500ms);
    ratio = Ask("/api/v1/query?query=" +
                UrlEncode("namespace_deployment_version:obsgate_error_ratio:rate5m"));
  }
  ASSERT_TRUE(HasData(ratio)) << ratio << "\n" << prom_->Output();
  for (int i = 0; i < 6; ++i) {  // a few more seconds, so every rate window holds several
    PushTraffic();
    std::this_thread::sleep_for(500ms);
  }

  std::set<std::string> core_seen;
  for (const Dashboard& d : all) {
    for (const Query& q : d.queries) {
      std::string expr = Substitute(q.expr);
      ASSERT_EQ(expr.find('$'), std::string::npos)
          << d.file << " \"" << q.panel << "\": a variable this test does not know: " << expr;
      std::string body = Ask("/api/v1/query?query=" + UrlEncode(expr));
      EXPECT_THAT(body, HasSubstr("\"status\":\"success\""))
          << d.file << " \"" << q.panel << "\": " << expr;
      if (kCorePanels.count(q.panel) && HasData(body)) core_seen.insert(q.panel);
    }
    for (const Variable& v : d.variables) {
      // label_values(SELECTOR, LABEL) is Grafana's; Prometheus answers it as label values.
      std::string query = Substitute(v.query);
      ASSERT_TRUE(query.starts_with("label_values(") && query.ends_with(")")) << query;
      std::string args = query.substr(13, query.size() - 14);
      std::size_t comma = args.rfind(',');
      ASSERT_NE(comma, std::string::npos) << query;
      std::string selector = args.substr(0, comma);
      std::string label = args.substr(comma + 1);
      label.erase(0, label.find_first_not_of(' '));
      std::string body = Ask("/api/v1/label/" + label + "/values?match[]=" + UrlEncode(selector));
      EXPECT_TRUE(HasData(body)) << d.file << " variable " << v.name << ": " << body;
    }
  }
  for (const std::string& panel : kCorePanels) {
    EXPECT_TRUE(core_seen.count(panel)) << "core panel \"" << panel << "\" shows no data";
  }
  for (const std::string& panel : kDataOnlyOnceRollbackAndPipelinesLand) {
    bool found = false;
    for (const Dashboard& d : all) {
      for (const Query& q : d.queries) found = found || q.panel == panel;
    }
    EXPECT_TRUE(found) << "no panel \"" << panel << "\"";
  }

  // The error rate panel shows the figures pushed: v2 at 4%, well above v1 at 0.5%.
  std::string v2 = Ask("/api/v1/query?query=" +
                       UrlEncode("namespace_deployment_version:obsgate_error_ratio:rate5m{"
                                 "deployment=\"auth\",version=\"v2\"} > 0.03 < 0.05"));
  EXPECT_TRUE(HasData(v2)) << v2;
}

}  // namespace
}  // namespace obsgate::testing
