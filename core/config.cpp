#include "core/config.hpp"

#include <re2/re2.h>

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
  ReadSecret(m, "api_token", s.api_token);
  m.Finish();
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
      c.loki = c.ndjson = c.otlp = false;
      for (const std::string& f : *formats) {
        if (f == "loki") {
          c.loki = true;
        } else if (f == "ndjson") {
          c.ndjson = true;
        } else if (f == "otlp") {
          c.otlp = true;
        } else {
          h->Report("formats", "\"" + f + "\" is not a push format; use loki, ndjson or otlp");
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
    if (auto v = k->Bool("rewind_on_assign")) c.rewind_on_assign = *v;
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

void ReadMatchers(ConfigMap& m, std::string_view key, std::vector<LabelMatcherConfig>& out) {
  if (auto list = m.StringList(key)) {
    for (const std::string& text : *list) {
      auto matcher = ParseLabelMatcher(text);
      if (matcher) {
        out.push_back(std::move(matcher).value());
      } else {
        m.Report(key, matcher.error());
      }
    }
  }
}

// Alertmanager's older forms: match: {name: value} and match_re: {name: regex}.
void ReadMatchMaps(ConfigMap& m, const char* match_key, const char* regex_key,
                   std::vector<LabelMatcherConfig>& out) {
  for (auto [key, op] : {std::pair{match_key, LabelMatcherConfig::Op::kEqual},
                         std::pair{regex_key, LabelMatcherConfig::Op::kRegex}}) {
    if (auto map = m.Map(key)) {
      for (const std::string& name : map->Keys()) {
        auto value = map->String(name);
        if (!value) continue;
        LabelMatcherConfig matcher{name, op, *value};
        if (op == LabelMatcherConfig::Op::kRegex && !RE2("^(?:" + *value + ")$", RE2::Quiet).ok()) {
          map->Report(name, "is not a valid regular expression (RE2 syntax)");
          continue;
        }
        out.push_back(std::move(matcher));
      }
      map->Finish();
    }
  }
}

// A duration that stays unset when absent, so a child route inherits its parent's.
std::optional<Duration> OptionalDuration(ConfigMap& m, std::string_view key, bool allow_zero) {
  if (!m.Has(key)) return std::nullopt;
  auto v = m.Duration(key);
  if (v && (v->count() < 0 || (!allow_zero && v->count() == 0))) {
    m.Report(key, allow_zero ? "must not be negative" : "must be longer than 0s");
    return std::nullopt;
  }
  return v;
}

void ReadRoute(ConfigMap& m, RouteConfig& r, int depth) {
  ConfigReader& reader = m.reader();
  r.line = m.node().Mark().line + 1;
  r.column = m.node().Mark().column + 1;
  if (auto v = m.String("receiver")) r.receiver = *v;
  ReadMatchers(m, "matchers", r.matchers);
  ReadMatchMaps(m, "match", "match_re", r.matchers);
  if (auto v = m.StringList("group_by")) {
    bool all = std::find(v->begin(), v->end(), "...") != v->end();
    if (all && v->size() > 1) m.Report("group_by", "\"...\" groups by every label; list it alone");
    r.group_by = std::move(*v);
  }
  r.group_wait = OptionalDuration(m, "group_wait", true);
  r.group_interval = OptionalDuration(m, "group_interval", false);
  r.repeat_interval = OptionalDuration(m, "repeat_interval", false);
  if (auto v = m.Bool("send_resolved_at_once")) r.send_resolved_at_once = *v;
  if (auto v = m.Bool("continue")) r.continue_matching = *v;
  if (depth > 32) {
    m.Report("routes", "routes nest more than 32 deep");
  } else {
    for (auto& [child, child_path] : m.List("routes")) {
      if (!child.IsMap()) {
        reader.Report(child, child_path,
                      "a route is a mapping, like {matchers: [...], receiver: x}");
        continue;
      }
      ConfigMap child_map(reader, child, child_path);
      ReadRoute(child_map, r.routes.emplace_back(), depth + 1);
    }
  }
  m.Finish();
}

void ReadReceiverHttp(ConfigMap& m, ReceiverHttpConfig& h) {
  if (auto http = m.Map("http")) {
    PositiveDuration(*http, "timeout", h.timeout);
    if (auto v = http->String("ca_file")) h.ca_file = *v;
    if (auto v = http->Bool("insecure_skip_verify")) h.insecure_skip_verify = *v;
    http->Finish();
  }
}

bool IsHttpUrl(std::string_view s) { return s.starts_with("http://") || s.starts_with("https://"); }

// A URL that may carry a secret: checked for its scheme without ever quoting it.
void RequireUrl(ConfigMap& m, std::string_view key, const std::string& url, const char* example) {
  if (url.empty()) {
    m.Report(key, std::string("name it (from ${ENV} or ") + std::string(key) + "_file), like " +
                      example);
  } else if (!IsHttpUrl(url)) {
    m.Report(key, "is not an http:// or https:// URL");
  }
}

void ReadReceiver(ConfigReader& reader, const YAML::Node& node, const std::string& path,
                  std::vector<ReceiverConfig>& out) {
  if (!node.IsMap()) {
    reader.Report(node, path,
                  "a receiver is a mapping with name: and one of slack:, pagerduty:, "
                  "alertmanager:, webhook: or log:");
    return;
  }
  ConfigMap m(reader, node, path);
  ReceiverConfig r;
  if (auto v = m.String("name")) r.name = *v;
  if (r.name.empty()) m.Report("name", "every receiver needs a name, like slack-oncall");
  int kinds = 0;
  if (auto c = m.Map("log")) {
    ++kinds;
    c->Finish();
    r.spec = LogReceiverConfig{};
  }
  if (auto c = m.Map("slack")) {
    ++kinds;
    SlackReceiverConfig s;
    ReadSecret(*c, "webhook_url", s.webhook_url);
    RequireUrl(*c, "webhook_url", s.webhook_url, "${SLACK_WEBHOOK_URL}");
    if (auto v = c->String("channel")) s.channel = *v;
    if (auto v = c->String("username")) s.username = *v;
    if (auto v = c->String("icon_emoji")) s.icon_emoji = *v;
    if (auto v = c->Bool("send_resolved")) s.send_resolved = *v;
    ReadReceiverHttp(*c, s.http);
    c->Finish();
    r.spec = std::move(s);
  }
  if (auto c = m.Map("pagerduty")) {
    ++kinds;
    PagerDutyReceiverConfig p;
    ReadSecret(*c, "routing_key", p.routing_key);
    if (p.routing_key.empty()) {
      c->Report("routing_key",
                "name the integration key (from ${ENV} or routing_key_file), like "
                "${PAGERDUTY_ROUTING_KEY}");
    } else if (p.routing_key.size() != 32) {
      c->Report("routing_key", "a PagerDuty routing key has 32 characters");
    }
    if (auto v = c->String("url")) {
      if (!IsHttpUrl(*v)) c->Report("url", "\"" + *v + "\" is not an http:// or https:// URL");
      p.url = *v;
    }
    if (auto v = c->String("source")) p.source = *v;
    if (auto v = c->String("client")) p.client = *v;
    if (auto v = c->String("client_url")) p.client_url = *v;
    if (auto v = c->Bool("send_resolved")) p.send_resolved = *v;
    ReadReceiverHttp(*c, p.http);
    c->Finish();
    r.spec = std::move(p);
  }
  if (auto c = m.Map("alertmanager")) {
    ++kinds;
    AlertmanagerReceiverConfig a;
    if (c->Has("urls")) {
      if (auto v = c->StringList("urls")) a.urls = std::move(*v);
    }
    if (a.urls.empty()) c->Report("urls", "name at least one, like http://alertmanager:9093");
    for (const std::string& u : a.urls) {
      if (!IsHttpUrl(u)) c->Report("urls", "\"" + u + "\" is not an http:// or https:// URL");
    }
    PositiveDuration(*c, "resend_interval", a.resend_interval);
    ReadSecret(*c, "bearer_token", a.bearer_token);
    ReadReceiverHttp(*c, a.http);
    c->Finish();
    r.spec = std::move(a);
  }
  if (auto c = m.Map("webhook")) {
    ++kinds;
    WebhookReceiverConfig w;
    ReadSecret(*c, "url", w.url);
    RequireUrl(*c, "url", w.url, "${WEBHOOK_URL}");
    if (auto v = c->Int("max_alerts", 0, 1'000'000)) w.max_alerts = static_cast<int>(*v);
    if (auto v = c->Bool("send_resolved")) w.send_resolved = *v;
    ReadSecret(*c, "bearer_token", w.bearer_token);
    ReadReceiverHttp(*c, w.http);
    c->Finish();
    r.spec = std::move(w);
  }
  m.Finish();
  if (kinds != 1) {
    reader.Report(node, path,
                  "a receiver has exactly one of slack:, pagerduty:, alertmanager:, webhook: or "
                  "log:");
    return;
  }
  for (const ReceiverConfig& other : out) {
    if (other.name == r.name) {
      reader.Report(node, path, "two receivers are named \"" + r.name + "\"");
    }
  }
  out.push_back(std::move(r));
}

void ReadInhibitRule(ConfigReader& reader, const YAML::Node& node, const std::string& path,
                     std::vector<InhibitRuleConfig>& out) {
  if (!node.IsMap()) {
    reader.Report(node, path,
                  "an inhibit rule is a mapping with source_matchers, "
                  "target_matchers and equal");
    return;
  }
  ConfigMap m(reader, node, path);
  InhibitRuleConfig r;
  ReadMatchers(m, "source_matchers", r.source_matchers);
  ReadMatchMaps(m, "source_match", "source_match_re", r.source_matchers);
  ReadMatchers(m, "target_matchers", r.target_matchers);
  ReadMatchMaps(m, "target_match", "target_match_re", r.target_matchers);
  if (auto v = m.StringList("equal")) r.equal = std::move(*v);
  if (r.source_matchers.empty() || r.target_matchers.empty()) {
    m.Report(r.source_matchers.empty() ? "source_matchers" : "target_matchers",
             "an inhibit rule needs source and target matchers, or it would mute every alert");
  }
  m.Finish();
  out.push_back(std::move(r));
}

// Every route names a receiver that exists; the root names one.
void CheckRoute(ConfigReader& reader, const RouteConfig& r, const std::string& path,
                const std::vector<ReceiverConfig>& receivers) {
  if (!r.receiver.empty() &&
      std::none_of(receivers.begin(), receivers.end(),
                   [&](const ReceiverConfig& rc) { return rc.name == r.receiver; })) {
    reader.ReportAt(r.line, r.column, path + ".receiver",
                    "no receiver is named \"" + r.receiver + "\"; add it under receivers:");
  }
  for (std::size_t i = 0; i < r.routes.size(); ++i) {
    CheckRoute(reader, r.routes[i], path + ".routes[" + std::to_string(i) + "]", receivers);
  }
}

void ReadAlerting(ConfigReader& reader, ConfigMap& top, AlertingConfig& a) {
  a.given = top.Has("route") || top.Has("receivers") || top.Has("inhibit_rules");
  for (auto& [node, path] : top.List("receivers")) ReadReceiver(reader, node, path, a.receivers);
  if (auto route = top.Map("route")) ReadRoute(*route, a.route, 0);
  for (auto& [node, path] : top.List("inhibit_rules")) {
    ReadInhibitRule(reader, node, path, a.inhibit_rules);
  }
  if (auto n = top.Map("notifications")) {
    PositiveDuration(*n, "give_up_after", a.give_up_after);
    PositiveDuration(*n, "retry_initial", a.retry_initial);
    PositiveDuration(*n, "retry_max", a.retry_max);
    if (auto v = n->Int("history", 0, 100'000)) a.history = static_cast<int>(*v);
    n->Finish();
  }
  if (a.given) {
    if (!top.Has("route")) {
      reader.ReportAt(0, 0, "route", "receivers are given but no route: says which gets what");
    } else if (a.route.receiver.empty()) {
      reader.ReportAt(a.route.line, a.route.column, "route.receiver",
                      "the root route must name a receiver");
    }
    CheckRoute(reader, a.route, "route", a.receivers);
  }
}

void ReadOrchestrator(ConfigReader& reader, ConfigMap& m, OrchestratorConfig& out) {
  int kinds = 0;
  if (auto k = m.Map("kubernetes")) {
    ++kinds;
    KubernetesOrchestratorConfig c;
    if (auto v = k->Bool("in_cluster")) c.in_cluster = *v;
    if (auto v = k->String("kubeconfig")) c.kubeconfig = *v;
    if (auto v = k->String("context")) c.context = *v;
    if (c.in_cluster && (!c.kubeconfig.empty() || !c.context.empty())) {
      k->Report("in_cluster", "in_cluster uses the service account; drop kubeconfig and context");
    }
    PositiveDuration(*k, "timeout", c.timeout);
    PositiveDuration(*k, "resync", c.resync);
    if (auto v = k->StringList("namespaces")) c.namespaces = std::move(*v);
    k->Finish();
    out.spec = std::move(c);
  }
  if (auto sw = m.Map("swarm")) {
    ++kinds;
    SwarmOrchestratorConfig c;
    if (auto v = sw->String("host")) {
      if (!v->starts_with("unix://") && !v->starts_with("tcp://")) {
        sw->Report("host", "\"" + *v + "\" is not unix:///path or tcp://host:port");
      }
      c.host = *v;
    }
    if (auto tls = sw->Map("tls")) {
      if (auto v = tls->String("ca_file")) c.ca_file = *v;
      if (auto v = tls->String("cert_file")) c.cert_file = *v;
      if (auto v = tls->String("key_file")) c.key_file = *v;
      tls->Finish();
    }
    PositiveDuration(*sw, "timeout", c.timeout);
    PositiveDuration(*sw, "rollout_timeout", c.rollout_timeout);
    sw->Finish();
    out.spec = std::move(c);
  }
  if (auto e = m.Map("exec")) {
    ++kinds;
    ExecOrchestratorConfig c;
    if (auto v = e->StringList("rollback")) c.rollback = std::move(*v);
    if (c.rollback.empty()) {
      e->Report("rollback", "name the command as a list, like [helm, rollback, \"{deployment}\"]");
    }
    if (auto v = e->StringList("set_image")) c.set_image = std::move(*v);
    if (auto v = e->StringList("status")) c.status = std::move(*v);
    PositiveDuration(*e, "timeout", c.timeout);
    e->Finish();
    out.spec = std::move(c);
  }
  m.Finish();
  if (kinds > 1) {
    reader.Report(m.node(), m.path(), "one orchestrator: kubernetes:, swarm: or exec:");
  }
}

void ReadCluster(ConfigMap& m, ClusterConfig& c) {
  if (auto v = m.StringList("peers")) c.peers = std::move(*v);
  if (c.peers.empty())
    m.Report("peers", "list every replica's URL, like http://obsgate-0.obsgate:9090");
  for (std::string& peer : c.peers) {
    while (peer.size() > 1 && peer.back() == '/') peer.pop_back();
    if (!IsHttpUrl(peer)) m.Report("peers", "\"" + peer + "\" is not an http(s):// URL");
  }
  std::sort(c.peers.begin(), c.peers.end());
  if (std::adjacent_find(c.peers.begin(), c.peers.end()) != c.peers.end()) {
    m.Report("peers", "a replica is listed twice");
  }
  if (auto v = m.String("self")) {
    c.self = *v;
    while (c.self.size() > 1 && c.self.back() == '/') c.self.pop_back();
  }
  if (c.self.empty()) {
    m.Report("self", "name this replica's entry in peers, like http://${POD_NAME}.obsgate:9090");
  } else if (!c.peers.empty() && !std::binary_search(c.peers.begin(), c.peers.end(), c.self)) {
    m.Report("self", "\"" + c.self + "\" is not one of peers");
  }
  PositiveDuration(m, "forward_interval", c.forward_interval);
  PositiveDuration(m, "give_up_after", c.give_up_after);
  m.Finish();
}

void ReadLeaderElection(ConfigMap& m, const OrchestratorConfig& orchestrator,
                        LeaderElectionConfig& l) {
  l.enabled = true;
  const bool kubernetes = std::holds_alternative<KubernetesOrchestratorConfig>(orchestrator.spec);
  l.backend =
      kubernetes ? LeaderElectionConfig::Backend::kLease : LeaderElectionConfig::Backend::kFile;
  if (m.Has("lease") && m.Has("file")) m.Report("file", "give lease or file, not both");
  if (auto lease = m.Map("lease")) {
    l.backend = LeaderElectionConfig::Backend::kLease;
    if (auto v = lease->String("namespace")) l.lease_namespace = *v;
    if (auto v = lease->String("name")) {
      if (v->empty()) lease->Report("name", "name the Lease, like obsgate");
      l.lease_name = *v;
    }
    lease->Finish();
    if (!kubernetes) {
      m.Report("lease",
               "a Lease is reached with orchestrator.kubernetes's access; configure it, or use "
               "file: for replicas on one host");
    }
  }
  if (auto v = m.String("file")) {
    l.backend = LeaderElectionConfig::Backend::kFile;
    if (v->empty()) m.Report("file", "name the lock file, like /var/lib/obsgate/leader.lock");
    l.lock_file = *v;
  }
  if (auto v = m.String("identity")) l.identity = *v;
  PositiveDuration(m, "lease_duration", l.lease_duration);
  PositiveDuration(m, "renew_deadline", l.renew_deadline);
  PositiveDuration(m, "retry_period", l.retry_period);
  // client-go's rule: leaseDuration > renewDeadline > retryPeriod * 1.2, so a holder that cannot
  // renew stops acting before anyone else may take the lease.
  if (l.renew_deadline >= l.lease_duration) {
    m.Report("renew_deadline", "must be shorter than lease_duration");
  }
  if (l.retry_period * 6 >= l.renew_deadline * 5) {
    m.Report("retry_period", "must be shorter than renew_deadline / 1.2");
  }
  m.Finish();
}

void ReadRollback(ConfigMap& m, RollbackConfig& r) {
  PositiveDuration(m, "only_within", r.only_within);
  if (auto v = m.Duration("cooldown")) r.cooldown = *v;
  if (auto v = m.Int("max_per_hour", 0, 1000)) r.max_per_hour = static_cast<int>(*v);
  if (auto v = m.Bool("dry_run")) r.dry_run = *v;
  if (auto v = m.String("mode")) {
    if (*v == "pause") {
      r.pause = true;
    } else if (*v != "auto") {
      m.Report("mode", "\"" + *v + "\" is not a mode; use auto (act) or pause (wait for a person)");
    }
  }
  if (auto v = m.Bool("require_healthy_baseline")) r.require_healthy_baseline = *v;
  if (auto v = m.Percent("baseline_max_error_rate")) r.baseline_max_error_rate = *v;
  PositiveDuration(m, "timeout", r.timeout);
  if (auto so = m.Map("shared_outage")) {
    using Peers = RollbackConfig::SharedOutage::Peers;
    RollbackConfig::SharedOutage& o = r.shared_outage;
    if (auto v = so->String("peers")) {
      if (*v == "namespace") {
        o.peers = Peers::kNamespace;
      } else if (*v == "all") {
        o.peers = Peers::kAll;
      } else if (*v == "none") {
        o.peers = Peers::kNone;
      } else {
        so->Report("peers", "\"" + *v +
                                "\" is not a choice; use namespace (deployments in the release's "
                                "namespace), all (every deployment) or none (off)");
      }
    }
    PositiveDuration(*so, "window", o.window);
    PositiveDuration(*so, "before", o.before);
    if (auto v = so->Percent("similar")) o.similar = *v;
    if (auto v = so->Int("min_requests", 1, 1'000'000'000)) o.min_requests = static_cast<int>(*v);
    so->Finish();
  }
  m.Finish();
}

// A pipeline name becomes part of run ids and file names: keep it to safe characters.
bool IsPipelineName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

void ReadPipelineStep(ConfigReader& reader, const YAML::Node& node, const std::string& path,
                      std::vector<PipelineStepConfig>& out) {
  using Kind = PipelineStepConfig::Kind;
  static const std::pair<const char*, Kind> kKinds[] = {
      {"migrate", Kind::kMigrate}, {"approve", Kind::kApprove}, {"rollout", Kind::kRollout},
      {"wait", Kind::kWait},       {"analyze", Kind::kAnalyze}, {"promote", Kind::kPromote}};
  const char* hint = "a step is one of migrate:, approve, rollout, wait:, analyze: or promote";
  std::string name;
  YAML::Node body;
  if (node.IsScalar()) {
    name = node.Scalar();
  } else if (node.IsMap() && node.size() == 1) {
    name = node.begin()->first.Scalar();
    body = node.begin()->second;
  } else {
    reader.Report(node, path, hint);
    return;
  }
  PipelineStepConfig step;
  step.line = node.Mark().line + 1;
  step.column = node.Mark().column + 1;
  bool known = false;
  for (const auto& [text, kind] : kKinds) {
    if (name == text) {
      step.kind = kind;
      known = true;
    }
  }
  if (!known) {
    reader.Report(node, path, "\"" + name + "\" is not a step; " + hint);
    return;
  }
  std::string at = path + "." + name;
  if (body && !body.IsNull() && !body.IsMap()) {
    reader.Report(body, at, "expected a mapping of the step's settings, or nothing");
    return;
  }
  if (body && body.IsMap()) {
    ConfigMap m(reader, body, at);
    switch (step.kind) {
      case Kind::kMigrate:
        if (auto v = m.StringList("command")) step.command = std::move(*v);
        if (auto e = m.Map("env")) {
          for (const std::string& key : e->Keys()) {
            if (auto v = e->String(key)) step.env.emplace_back(key, *v);
          }
          e->Finish();
        }
        if (auto v = m.String("dir")) step.dir = *v;
        if (auto v = m.StringList("paths")) step.paths = std::move(*v);
        if (auto v = m.StringList("allow")) step.allow = std::move(*v);
        PositiveDuration(m, "timeout", step.timeout);
        if (m.Has("job")) {
          m.Report("job", "Kubernetes Jobs are not run yet; give the migration as command: [...]");
        }
        break;
      case Kind::kApprove:
      case Kind::kPromote:
        break;
      case Kind::kRollout:
        PositiveDuration(m, "timeout", step.timeout);
        break;
      case Kind::kWait:
        if (auto v = m.String("health_url")) {
          if (!IsHttpUrl(*v)) m.Report("health_url", "\"" + *v + "\" is not an http(s):// URL");
          step.health_url = *v;
        }
        PositiveDuration(m, "timeout", step.timeout);
        break;
      case Kind::kAnalyze:
        if (auto v = m.String("expr")) {
          step.expr = *v;
          step.expr_line = body["expr"].Mark().line + 1;
          step.expr_column = body["expr"].Mark().column + 1;
        }
        if (auto v = m.String("fail")) {
          step.fail = *v;
          step.fail_line = body["fail"].Mark().line + 1;
          step.fail_column = body["fail"].Mark().column + 1;
        }
        PositiveDuration(m, "for", step.for_);
        PositiveDuration(m, "timeout", step.timeout);
        break;
    }
    m.Finish();
  }
  if (step.kind == Kind::kMigrate && step.command.empty()) {
    reader.Report(node, at,
                  "a migrate step runs a command, like command: [alembic, upgrade, head]");
  }
  if (step.kind == Kind::kAnalyze) {
    if (step.expr.empty()) {
      reader.Report(node, at, "an analyze step needs expr:, like error_rate(1m) < 1%");
    }
    if (step.for_.count() == 0) {
      reader.Report(node, at, "an analyze step needs for:, how long expr must hold, like 5m");
    }
    if (step.timeout.count() != 0 && step.timeout < step.for_) {
      reader.Report(node, at, "timeout must be at least for:");
    }
  }
  out.push_back(std::move(step));
}

void ReadPipeline(ConfigReader& reader, const YAML::Node& node, const std::string& path,
                  std::vector<PipelineConfig>& out) {
  using Kind = PipelineStepConfig::Kind;
  if (!node.IsMap()) {
    reader.Report(node, path, "a pipeline is a mapping with name:, deployment:, image: and steps:");
    return;
  }
  ConfigMap m(reader, node, path);
  PipelineConfig p;
  p.line = node.Mark().line + 1;
  if (auto v = m.String("name")) {
    if (!IsPipelineName(*v)) {
      m.Report("name", "\"" + *v + "\" is not a pipeline name: up to 63 letters, digits, - _ .");
    }
    p.name = *v;
  } else {
    m.Report("name", "every pipeline needs a name, like auth-production");
  }
  if (auto v = m.String("namespace")) p.ns = *v;
  if (auto v = m.String("deployment")) p.deployment = *v;
  if (p.deployment.empty()) m.Report("deployment", "name the deployment the pipeline rolls out");
  if (auto v = m.String("container")) p.container = *v;
  if (auto v = m.String("image")) {
    // A colon after the last slash starts a tag; one before it is a registry's port.
    std::size_t colon = v->rfind(':'), slash = v->rfind('/');
    bool tagged = v->find('@') != std::string::npos ||
                  (colon != std::string::npos && (slash == std::string::npos || colon > slash));
    if (tagged) {
      m.Report("image",
               "give the repository without a tag, like registry.example.com/shop/auth; the tag "
               "comes with each run (obsgate deploy --tag)");
    }
    p.image = *v;
  }
  if (p.image.empty())
    m.Report("image", "name the image repository, like registry.example.com/shop/auth");
  if (auto v = m.String("environment")) {
    if (*v == "development") {
      p.environment = PipelineConfig::Environment::kDevelopment;
    } else if (*v == "staging") {
      p.environment = PipelineConfig::Environment::kStaging;
    } else if (*v == "production") {
      p.environment = PipelineConfig::Environment::kProduction;
    } else {
      m.Report("environment", "\"" + *v + "\" is not development, staging or production");
    }
  } else {
    m.Report("environment", "say the tier: development, staging or production");
  }
  if (auto v = m.String("on_failure")) {
    if (*v == "rollback") {
      p.rollback_on_failure = true;
    } else if (*v == "none") {
      p.rollback_on_failure = false;
    } else {
      m.Report("on_failure", "\"" + *v + "\" is not rollback or none");
    }
  }
  std::vector<std::pair<YAML::Node, std::string>> steps = m.List("steps");
  for (auto& [step, step_path] : steps) ReadPipelineStep(reader, step, step_path, p.steps);
  if (steps.empty()) m.Report("steps", "a pipeline needs steps, like [approve, rollout, promote]");
  m.Finish();
  bool approved = false, rolled_out = false;
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const PipelineStepConfig& s = p.steps[i];
    auto report = [&](const std::string& message) {
      reader.ReportAt(s.line, s.column, path + ".steps[" + std::to_string(i) + "]", message);
    };
    if (s.kind == Kind::kApprove) approved = true;
    if (s.kind == Kind::kRollout) {
      if (rolled_out) report("a second rollout; a pipeline rolls one tag out once");
      if (!approved && p.environment == PipelineConfig::Environment::kProduction) {
        report("a production pipeline needs an approve step before its rollout");
      }
      rolled_out = true;
    }
    if ((s.kind == Kind::kWait || s.kind == Kind::kAnalyze) && !rolled_out) {
      report(std::string(PipelineStepKindName(s.kind)) +
             " watches the new version: put it after the rollout");
    }
    if (s.kind == Kind::kPromote && i + 1 != p.steps.size()) {
      report("promote ends the run: make it the last step");
    }
  }
  if (!p.steps.empty() && !rolled_out) m.Report("steps", "a pipeline needs a rollout step");
  for (const PipelineConfig& other : out) {
    if (other.name == p.name && !p.name.empty()) {
      reader.Report(node, path, "two pipelines are named \"" + p.name + "\"; give each its own");
    }
  }
  out.push_back(std::move(p));
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
    ReadAlerting(reader, top, config.alerting);
    if (auto o = top.Map("orchestrator")) ReadOrchestrator(reader, *o, config.orchestrator);
    if (auto r = top.Map("rollback")) ReadRollback(*r, config.rollback);
    if (auto l = top.Map("leader_election")) {
      ReadLeaderElection(*l, config.orchestrator, config.leader_election);
    }
    if (auto c = top.Map("cluster")) ReadCluster(*c, config.cluster);
    if (auto v = top.String("external_url")) {
      if (!IsHttpUrl(*v)) top.Report("external_url", "\"" + *v + "\" is not an http(s):// URL");
      config.alerting.external_url = *v;
    }
    if (auto v = top.String("data_dir")) {
      if (v->empty()) top.Report("data_dir", "name a directory, like /var/lib/obsgate");
      config.data_dir = *v;
    }
    for (auto& [node, path] : top.List("rules")) ReadRule(reader, node, path, config.rules);
    for (auto& [node, path] : top.List("pipelines")) {
      ReadPipeline(reader, node, path, config.pipelines);
    }
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

Result<LabelMatcherConfig> ParseLabelMatcher(std::string_view text) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  };
  std::string_view t = trim(text);
  std::size_t n = 0;
  while (n < t.size() && (std::isalnum(static_cast<unsigned char>(t[n])) || t[n] == '_')) ++n;
  LabelMatcherConfig m;
  m.name = std::string(t.substr(0, n));
  if (m.name.empty() || std::isdigit(static_cast<unsigned char>(m.name[0]))) {
    return Error{"\"" + std::string(text) +
                 "\" does not start with a label name; write name=\"value\", name!=\"value\", "
                 "name=~\"regex\" or name!~\"regex\""};
  }
  std::string_view rest = trim(t.substr(n));
  if (rest.starts_with("=~")) {
    m.op = LabelMatcherConfig::Op::kRegex;
    rest.remove_prefix(2);
  } else if (rest.starts_with("!~")) {
    m.op = LabelMatcherConfig::Op::kNotRegex;
    rest.remove_prefix(2);
  } else if (rest.starts_with("!=")) {
    m.op = LabelMatcherConfig::Op::kNotEqual;
    rest.remove_prefix(2);
  } else if (rest.starts_with("=")) {
    rest.remove_prefix(1);
  } else {
    return Error{"\"" + std::string(text) + "\" has no operator; use =, !=, =~ or !~"};
  }
  rest = trim(rest);
  if (!rest.empty() && rest.front() == '"') {
    std::string value;
    std::size_t i = 1;
    for (; i < rest.size() && rest[i] != '"'; ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
      value += rest[i];
    }
    if (i >= rest.size() || i + 1 != rest.size()) {
      return Error{"\"" + std::string(text) + "\" has an unterminated or trailing quoted value"};
    }
    m.value = std::move(value);
  } else {
    m.value = std::string(rest);
  }
  if ((m.op == LabelMatcherConfig::Op::kRegex || m.op == LabelMatcherConfig::Op::kNotRegex) &&
      !RE2("^(?:" + m.value + ")$", RE2::Quiet).ok()) {
    return Error{"\"" + m.value + "\" in \"" + std::string(text) +
                 "\" is not a valid regular expression (RE2 syntax)"};
  }
  return m;
}

const char* PipelineStepKindName(PipelineStepConfig::Kind kind) {
  switch (kind) {
    case PipelineStepConfig::Kind::kMigrate:
      return "migrate";
    case PipelineStepConfig::Kind::kApprove:
      return "approve";
    case PipelineStepConfig::Kind::kRollout:
      return "rollout";
    case PipelineStepConfig::Kind::kWait:
      return "wait";
    case PipelineStepConfig::Kind::kAnalyze:
      return "analyze";
    case PipelineStepConfig::Kind::kPromote:
      return "promote";
  }
  return "unknown";
}

const char* EnvironmentName(PipelineConfig::Environment e) {
  switch (e) {
    case PipelineConfig::Environment::kDevelopment:
      return "development";
    case PipelineConfig::Environment::kStaging:
      return "staging";
    case PipelineConfig::Environment::kProduction:
      return "production";
  }
  return "unknown";
}

std::string LabelMatcherText(const LabelMatcherConfig& m) {
  static constexpr const char* kOps[] = {"=", "!=", "=~", "!~"};
  std::string out = m.name + kOps[static_cast<int>(m.op)] + "\"";
  for (char c : m.value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace obsgate::core
