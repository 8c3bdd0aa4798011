#include "core/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace obsgate::core {
namespace {

void PositiveDuration(ConfigMap& m, std::string_view key, Duration& out) {
  if (auto v = m.Duration(key)) {
    if (v->count() <= 0) {
      m.Report(key, "must be longer than 0s");
    } else {
      out = *v;
    }
  }
}

void ReadServer(ConfigMap& m, ServerConfig& s) {
  if (auto v = m.Int("threads", 1, 64)) s.threads = static_cast<int>(*v);
  if (auto v = m.Size("max_header_size")) {
    if (*v < 1024) {
      m.Report("max_header_size", "must be at least 1KiB");
    } else {
      s.max_header_bytes = *v;
    }
  }
  if (auto v = m.Size("max_body_size")) {
    if (*v == 0) {
      m.Report("max_body_size", "must be more than 0");
    } else {
      s.max_body_bytes = *v;
    }
  }
  PositiveDuration(m, "read_timeout", s.read_timeout);
  PositiveDuration(m, "idle_timeout", s.idle_timeout);
  PositiveDuration(m, "shutdown_timeout", s.shutdown_timeout);
  m.Finish();
}

void ReadWindows(ConfigMap& m, WindowsConfig& w) {
  PositiveDuration(m, "resolution", w.resolution);
  PositiveDuration(m, "horizon", w.horizon);
  PositiveDuration(m, "idle_series_ttl", w.idle_series_ttl);
  if (auto v = m.Int("max_series", 1, 100'000'000)) w.max_series = static_cast<std::uint64_t>(*v);
  if (w.horizon < w.resolution) m.Report("horizon", "must be at least the resolution");
  if (w.horizon.count() / w.resolution.count() > 7 * 86400) {
    m.Report("horizon", "holds more than 604800 resolutions; use a coarser resolution");
  }
  m.Finish();
}

void ReadClassify(ConfigMap& m, ClassifyConfig& c) {
  for (auto [key, out] :
       {std::pair{"status_fields", &c.status_fields}, std::pair{"level_fields", &c.level_fields},
        std::pair{"namespace_fields", &c.namespace_fields},
        std::pair{"deployment_fields", &c.deployment_fields},
        std::pair{"version_fields", &c.version_fields},
        std::pair{"error_patterns", &c.error_patterns}}) {
    if (auto v = m.StringList(key)) *out = std::move(*v);
  }
  if (auto v = m.StringList("extra_error_statuses")) {
    for (const std::string& s : *v) {
      int code = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), code);
      if (ec != std::errc() || p != s.data() + s.size() || code < 100 || code > 599) {
        m.Report("extra_error_statuses", "\"" + s + "\" is not an HTTP status from 100 to 599");
      } else {
        c.extra_error_statuses.push_back(code);
      }
    }
  }
  m.Finish();
}

void ReadLabels(ConfigMap& m, std::string_view key, StaticLabels& out) {
  if (auto l = m.Map(key)) {
    if (auto v = l->String("namespace")) out.ns = *v;
    if (auto v = l->String("deployment")) out.deployment = *v;
    if (auto v = l->String("version")) out.version = *v;
    l->Finish();
  }
}

void ReadFormat(ConfigMap& m, std::string& out) {
  if (auto v = m.String("format")) {
    if (*v != "docker" && *v != "cri" && *v != "raw" && *v != "auto") {
      m.Report("format", "\"" + *v + "\" is not a log format; use docker, cri, raw or auto");
    } else {
      out = *v;
    }
  }
}

// A secret given inline (from ${ENV}) or as a file mounted beside the process.
void ReadSecret(ConfigMap& m, std::string_view key, std::string& out) {
  std::string file_key = std::string(key) + "_file";
  if (m.Has(key) && m.Has(file_key)) {
    m.Report(file_key, "give " + std::string(key) + " or " + file_key + ", not both");
  }
  if (auto v = m.String(key)) out = *v;
  if (auto path = m.String(file_key)) {
    std::ifstream in(*path, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      m.Report(file_key, "cannot read the file; check the mount and its permissions");
    } else {
      out = text.str();
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    }
  }
}

// A PromQL-style selector's shape only; ingest/scrape compiles it (with RE2) when it starts.
bool LooksLikeSelector(std::string_view s) {
  std::size_t brace = s.find('{');
  std::string_view name = s.substr(0, brace);
  if (name.empty() && brace == std::string_view::npos) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  }
  return brace == std::string_view::npos || s.back() == '}';
}

ScrapeSourceConfig ReadScrape(ConfigMap& m) {
  ScrapeSourceConfig c;
  PositiveDuration(m, "interval", c.interval);
  PositiveDuration(m, "timeout", c.timeout);
  if (!m.Has("timeout") && c.timeout > c.interval) c.timeout = c.interval;
  if (c.timeout > c.interval) m.Report("timeout", "must be at most the interval");
  for (auto& [node, path] : m.List("targets")) {
    if (!node.IsMap()) {
      m.reader().Report(node, path, "a target is a mapping: {url: http://host:port/metrics}");
      continue;
    }
    ConfigMap t(m.reader(), node, path);
    ScrapeTargetConfig target;
    if (auto v = t.String("url")) {
      if (!v->starts_with("http://") && !v->starts_with("https://")) {
        t.Report("url", "\"" + *v + "\" is not an http:// or https:// URL");
      }
      target.url = *v;
    } else {
      t.Report("url", "name the target's URL, like http://auth:8000/metrics");
    }
    if (auto l = t.Map("labels")) {
      for (const std::string& key : l->Keys()) {
        if (auto v = l->String(key)) target.labels[key] = *v;
      }
      l->Finish();
    }
    t.Finish();
    c.targets.push_back(std::move(target));
  }
  if (auto v = m.StringList("file_sd")) c.file_sd = std::move(*v);
  PositiveDuration(m, "file_sd_refresh", c.file_sd_refresh);
  if (c.targets.empty() && c.file_sd.empty()) {
    m.Report("targets", "name at least one target or a file_sd file");
  }
  if (auto v = m.String("scheme")) {
    if (*v != "http" && *v != "https") {
      m.Report("scheme", "\"" + *v + "\" is not a scheme; use http or https");
    } else {
      c.scheme = *v;
    }
  }
  if (auto v = m.String("metrics_path")) {
    if (!v->starts_with("/")) m.Report("metrics_path", "must start with '/'");
    c.metrics_path = *v;
  }
  for (auto [key, out] : {std::pair{"requests", &c.requests}, std::pair{"errors", &c.errors}}) {
    if (auto v = m.String(key)) {
      if (!LooksLikeSelector(*v)) {
        m.Report(key, "\"" + *v + "\" is not a series selector; write name{label=~\"re\"}");
      }
      *out = *v;
    }
  }
  ReadLabels(m, "label_names", c.label_names);
  if (m.Has("bearer_token") && m.Has("basic_auth")) {
    m.Report("basic_auth", "give bearer_token or basic_auth, not both");
  }
  ReadSecret(m, "bearer_token", c.bearer_token);
  if (auto b = m.Map("basic_auth")) {
    if (auto v = b->String("username")) c.username = *v;
    ReadSecret(*b, "password", c.password);
    b->Finish();
  }
  if (auto tls = m.Map("tls")) {
    if (auto v = tls->String("ca_file")) c.ca_file = *v;
    if (auto v = tls->Bool("insecure_skip_verify")) c.insecure_skip_verify = *v;
    tls->Finish();
  }
  if (auto v = m.Int("sample_limit", 0, 100'000'000))
    c.sample_limit = static_cast<std::uint64_t>(*v);
  if (auto v = m.Bool("honor_labels")) c.honor_labels = *v;
  m.Finish();
  return c;
}

void ReadSource(ConfigReader& reader, const YAML::Node& node, const std::string& path,
                std::size_t index, std::vector<SourceConfig>& out) {
  if (!node.IsMap()) {
    reader.Report(node, path, "a source is a mapping with one of http:, tail:, kafka: or scrape:");
    return;
  }
  ConfigMap m(reader, node, path);
  SourceConfig source;
  int kinds = 0;
  if (auto h = m.Map("http")) {
    ++kinds;
    HttpSourceConfig c;
    if (auto formats = h->StringList("formats")) {
      c.loki = c.ndjson = false;
      for (const std::string& f : *formats) {
        if (f == "loki") {
          c.loki = true;
        } else if (f == "ndjson") {
          c.ndjson = true;
        } else {
          h->Report("formats", "\"" + f + "\" is not a push format; use loki or ndjson");
        }
      }
    }
    ReadSecret(*h, "token", c.token);
    if (auto v = h->Size("max_inflight_size")) c.max_inflight_bytes = *v;
    h->Finish();
    source.name = "http";
    source.spec = std::move(c);
  }
  if (auto t = m.Map("tail")) {
    ++kinds;
    TailSourceConfig c;
    if (auto v = t->StringList("paths")) {
      if (v->empty()) t->Report("paths", "name at least one glob, like /var/log/containers/*.log");
      c.paths = std::move(*v);
    }
    if (auto v = t->StringList("exclude")) c.exclude = std::move(*v);
    ReadFormat(*t, c.format);
    if (auto v = t->String("checkpoint_file")) c.checkpoint_file = *v;
    PositiveDuration(*t, "checkpoint_interval", c.checkpoint_interval);
    PositiveDuration(*t, "rescan_interval", c.rescan_interval);
    if (auto v = t->Size("max_line_size")) c.max_line_size = std::max<std::uint64_t>(*v, 1024);
    if (auto v = t->Bool("read_from_head")) c.read_from_head = *v;
    ReadLabels(*t, "labels", c.labels);
    t->Finish();
    source.name = "tail-" + std::to_string(index + 1);
    source.spec = std::move(c);
  }
  if (auto k = m.Map("kafka")) {
    ++kinds;
    KafkaSourceConfig c;
    if (auto v = k->String("brokers")) c.brokers = *v;
    if (c.brokers.empty()) k->Report("brokers", "name the bootstrap brokers, like kafka:9092");
    if (auto v = k->StringList("topics")) c.topics = std::move(*v);
    if (c.topics.empty()) k->Report("topics", "name at least one topic");
    if (auto v = k->String("group")) c.group = *v;
    ReadFormat(*k, c.format);
    if (auto p = k->Map("properties")) {
      for (const std::string& key : p->Keys()) {
        if (auto v = p->String(key)) c.properties[key] = *v;
      }
      p->Finish();
    }
    PositiveDuration(*k, "commit_interval", c.commit_interval);
    if (auto v = k->Int("batch_size", 1, 1'000'000)) c.batch_size = static_cast<int>(*v);
    ReadLabels(*k, "header_names", c.header_names);
    ReadLabels(*k, "labels", c.labels);
    k->Finish();
    source.name = "kafka-" + std::to_string(index + 1);
    source.spec = std::move(c);
  }
  if (auto sc = m.Map("scrape")) {
    ++kinds;
    source.name = "scrape-" + std::to_string(index + 1);
    source.spec = ReadScrape(*sc);
  }
  if (auto v = m.String("name")) source.name = *v;
  m.Finish();
  if (kinds != 1) {
    reader.Report(node, path, "a source has exactly one of http:, tail:, kafka: or scrape:");
    return;
  }
  out.push_back(std::move(source));
}

// A single string or a list of them.
std::vector<std::string> OneOrMany(ConfigMap& m, std::string_view key) {
  if (!m.Has(key)) return {};
  if (auto list = m.StringList(key)) return *list;
  return {};
}

void ReadRule(ConfigReader& reader, const YAML::Node& node, const std::string& path,
              std::vector<RuleConfig>& out) {
  if (!node.IsMap()) {
    reader.Report(node, path, "a rule is a mapping with name: and expr:");
    return;
  }
  ConfigMap m(reader, node, path);
  RuleConfig r;
  if (auto v = m.String("name")) r.name = *v;
  if (r.name.empty()) m.Report("name", "every rule needs a name, like ErrorRateAbove1Percent");
  if (auto v = m.String("expr")) {
    r.expr = *v;
    YAML::Mark mark = node["expr"].Mark();
    r.expr_line = mark.line + 1;
    r.expr_column = mark.column + 1;
  } else {
    m.Report("expr", "every rule needs an expr, like error_rate(5m) > 1%");
  }
  if (auto v = m.Duration("for")) r.for_ = *v;
  if (auto v = m.Duration("keep_firing_for")) r.keep_firing_for = *v;
  if (auto l = m.Map("labels")) {
    for (const std::string& key : l->Keys()) {
      if (auto v = l->String(key)) r.labels.emplace_back(key, *v);
    }
    l->Finish();
  }
  if (auto v = m.String("summary")) r.summary = *v;
  if (auto v = m.String("description")) r.description = *v;
  if (auto actions = m.StringList("actions")) {
    r.notify = r.rollback = false;
    for (const std::string& a : *actions) {
      if (a == "notify") {
        r.notify = true;
      } else if (a == "rollback") {
        r.rollback = true;
      } else {
        m.Report("actions", "\"" + a + "\" is not an action; use notify or rollback");
      }
    }
  }
  if (auto match = m.Map("match")) {
    if (match->Has("namespace")) {
      if (auto v = match->Scalar("namespace")) {
        r.match_namespaces = {v->text};
      }
    }
    if (match->Has("namespaces")) r.match_namespaces = OneOrMany(*match, "namespaces");
    if (match->Has("deployment")) {
      if (auto v = match->Scalar("deployment")) r.match_deployments = {v->text};
    }
    if (match->Has("deployments")) r.match_deployments = OneOrMany(*match, "deployments");
    match->Finish();
  }
  m.Finish();
  for (const RuleConfig& other : out) {
    if (other.name == r.name && !r.name.empty()) {
      reader.Report(node, path, "two rules are named \"" + r.name + "\"; give each its own name");
    }
  }
  out.push_back(std::move(r));
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> ParseListenAddress(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{"\"" + std::string(text) + "\" is not an address; write [::1]:9464"};
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{"\"" + std::string(text) +
                   "\" has no port; write host:port, like 127.0.0.1:9464"};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Error{"IPv6 addresses go in brackets, like [::1]:9464"};
    }
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535) {
    return Error{"port \"" + std::string(port) + "\" is not a number from 0 to 65535"};
  }
  return std::pair{host.empty() ? std::string("0.0.0.0") : std::string(host),
                   static_cast<std::uint16_t>(value)};
}

ConfigLoad ParseConfig(std::string_view yaml, std::string file, const Env& env) {
  ConfigReader reader(file, env);
  ConfigLoad load;
  Config config;
  config.file = file;
  if (auto root = reader.Parse(yaml)) {
    ConfigMap top(reader, *root, "");
    if (auto listen = top.Scalar("listen")) {
      auto addr = ParseListenAddress(listen->text);
      if (addr) {
        config.server.host = addr->first;
        config.server.port = addr->second;
      } else {
        top.Report("listen", listen->from_env ? "the value from the environment is not host:port"
                                              : addr.error());
      }
    }
    if (auto server = top.Map("server")) ReadServer(*server, config.server);
    if (auto windows = top.Map("windows")) ReadWindows(*windows, config.windows);
    if (auto classify = top.Map("classify")) ReadClassify(*classify, config.classify);
    if (top.Has("rules")) config.rules_given = true;
    for (auto& [node, path] : top.List("rules")) ReadRule(reader, node, path, config.rules);
    std::size_t i = 0;
    for (auto& [node, path] : top.List("sources")) {
      ReadSource(reader, node, path, i++, config.sources);
    }
    for (std::size_t a = 0; a < config.sources.size(); ++a) {
      for (std::size_t b = 0; b < a; ++b) {
        if (config.sources[a].name == config.sources[b].name) {
          reader.ReportAt(0, 0, "sources",
                          "two sources are named \"" + config.sources[a].name +
                              "\"; give each a distinct name:");
        }
      }
      if (std::holds_alternative<HttpSourceConfig>(config.sources[a].spec)) {
        for (std::size_t b = 0; b < a; ++b) {
          if (std::holds_alternative<HttpSourceConfig>(config.sources[b].spec)) {
            reader.ReportAt(0, 0, "sources", "at most one http source; it serves both formats");
          }
        }
      }
    }
    top.Finish();
  }
  load.problems = reader.problems();
  // In file order, as a person reads them, whatever order the schema walked the keys in.
  std::stable_sort(load.problems.begin(), load.problems.end(),
                   [](const ConfigProblem& a, const ConfigProblem& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  load.parsed = config;
  if (load.problems.empty()) load.config = std::move(config);
  return load;
}

ConfigLoad LoadConfigFile(const std::string& path, const Env& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad load;
    load.problems.push_back(
        ConfigProblem{path, 0, 0, "", "cannot read the file; check the path and its permissions"});
    return load;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path, env);
}

}  // namespace obsgate::core
