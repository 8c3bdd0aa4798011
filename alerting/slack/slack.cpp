#include "alerting/slack/slack.hpp"

#include <string_view>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/time.hpp"
#include "net/http_client.hpp"

namespace obsgate::alerting {
namespace {

// Slack's Block Kit and chat.postMessage limits, in characters; Truncate counts bytes, which is
// never fewer, so a cut text always fits.
constexpr std::size_t kMaxHeaderText = 150;
constexpr std::size_t kMaxSectionText = 3'000;
constexpr std::size_t kMaxFields = 10;
constexpr std::size_t kMaxFieldText = 2'000;
constexpr std::size_t kMaxContextText = 3'000;
constexpr std::size_t kMaxMessageText = 40'000;
// Parts of a section cut before escaping, so an entity (&amp;) is never cut in two.
constexpr std::size_t kMaxSummary = 1'000;
constexpr std::size_t kMaxDescription = 1'500;

// mrkdwn treats &, < and > as control characters: Slack asks for exactly these three escapes.
std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string TextObject(std::string_view type, std::string_view text) {
  return "{\"type\":\"" + std::string(type) + "\",\"text\":" + core::JsonQuote(text) + "}";
}

// The labels that say which alert this is, from the alert or, for a group, the common labels.
const LabelSet& Subject(const Notification& n) {
  if (n.alerts.size() == 1 && n.common_labels.empty()) return n.alerts.front().labels;
  return n.common_labels;
}

std::string_view Summary(const Notification& n, const AlertSnapshot& a) {
  std::string_view s = Label(a.annotations, "summary");
  if (s.empty() && n.alerts.size() == 1) s = Label(n.common_annotations, "summary");
  return s;
}

struct NamedValue {
  std::string_view name;   // the rule engine's name
  std::string_view title;  // as the message shows it
};
constexpr NamedValue kKnownValues[] = {{"error_rate", "Error rate"},
                                       {"requests", "Requests"},
                                       {"errors", "Errors"},
                                       {"baseline.error_rate", "Baseline error rate"},
                                       {"p_value", "p-value"}};

std::string Field(std::string_view title, std::string_view value) {
  return TextObject("mrkdwn",
                    Truncate("*" + Escape(title) + "*\n" + Escape(value), kMaxFieldText, "…"));
}

std::string AlertSection(const Notification& n, const AlertSnapshot& a) {
  const bool firing = a.status != "resolved";
  std::string text = firing ? ":red_circle: *Firing*" : ":large_green_circle: *Resolved*";
  text += firing ? " since " + core::FormatRfc3339(a.starts_at)
                 : " at " + core::FormatRfc3339(a.ends_at);
  if (std::string_view summary = Summary(n, a); !summary.empty()) {
    text += "\n*" + Escape(Truncate(summary, kMaxSummary)) + "*";
  }
  if (std::string_view d = Label(a.annotations, "description"); !d.empty()) {
    text += "\n" + Escape(Truncate(d, kMaxDescription));
  }
  text += "\n*Action:* " + Escape(ActionText(a));

  std::vector<std::string> fields;
  auto add = [&](std::string_view title, std::string_view value) {
    if (!value.empty() && fields.size() < kMaxFields) fields.push_back(Field(title, value));
  };
  add("Deployment", Label(a.labels, "deployment"));
  add("Namespace", Label(a.labels, "namespace"));
  add("Version", Label(a.labels, "version"));
  add("Baseline version", a.baseline_version);
  for (const NamedValue& known : kKnownValues) {
    if (const double* v = FindValue(a, known.name)) add(known.title, FormatValue(known.name, *v));
  }
  for (const auto& [name, v] : a.values) {
    bool known = false;
    for (const NamedValue& k : kKnownValues) known = known || k.name == name;
    if (!known) add(name, FormatValue(name, v));
  }

  std::string block = "{\"type\":\"section\",\"text\":" +
                      TextObject("mrkdwn", Truncate(text, kMaxSectionText, "…"));
  if (!fields.empty()) {
    block += ",\"fields\":[";
    for (std::size_t i = 0; i < fields.size(); ++i) block += (i ? "," : "") + fields[i];
    block += "]";
  }
  block += "}";
  return block;
}

std::string Context(std::string_view mrkdwn) {
  return "{\"type\":\"context\",\"elements\":[" +
         TextObject("mrkdwn", Truncate(mrkdwn, kMaxContextText, "…")) + "]}";
}

// The plain text Slack shows in notifications and where blocks cannot be drawn.
std::string FallbackText(const Notification& n, const std::string& title) {
  std::string text = Escape(title);
  for (const AlertSnapshot& a : n.alerts) {
    text += "\n• ";
    std::string_view summary = Summary(n, a);
    if (!summary.empty()) {
      text += Escape(summary);
    } else {
      text += Escape(Label(a.labels, "alertname"));
      text += " ";
      text += Escape(Label(a.labels, "namespace"));
      text += "/";
      text += Escape(Label(a.labels, "deployment"));
      text += " ";
      text += Escape(Label(a.labels, "version"));
    }
    if (const double* rate = FindValue(a, "error_rate")) {
      text += " (error rate " + FormatPercent(*rate) + ")";
    }
    if (a.status == "resolved") text += " [resolved]";
  }
  if (n.truncated_alerts > 0) {
    text += "\n… and " + std::to_string(n.truncated_alerts) + " more";
  }
  return Truncate(text, kMaxMessageText, "…");
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

}  // namespace

std::string SlackTitle(const Notification& n) {
  std::size_t firing = 0;
  for (const AlertSnapshot& a : n.alerts) firing += a.status != "resolved";
  std::string title;
  if (n.status == "resolved") {
    title = "[RESOLVED]";
  } else {
    title = firing > 1 ? "[FIRING:" + std::to_string(firing) + "]" : "[FIRING]";
  }
  const LabelSet& subject = Subject(n);
  std::string_view alertname = Label(subject, "alertname");
  if (alertname.empty()) alertname = Label(n.group_labels, "alertname");
  if (!alertname.empty()) title += " " + std::string(alertname);
  std::string_view deployment = Label(subject, "deployment");
  if (!deployment.empty()) {
    title += " — " + std::string(deployment);
    std::string_view version = Label(subject, "version");
    if (!version.empty()) title += " " + std::string(version);
  }
  return Truncate(title, kMaxHeaderText, "…");
}

std::string SlackMessage(const Notification& n, const core::SlackReceiverConfig& config) {
  const std::string title = SlackTitle(n);
  std::string out = "{";
  if (!config.channel.empty()) out += "\"channel\":" + core::JsonQuote(config.channel) + ",";
  if (!config.username.empty()) out += "\"username\":" + core::JsonQuote(config.username) + ",";
  if (!config.icon_emoji.empty()) {
    out += "\"icon_emoji\":" + core::JsonQuote(config.icon_emoji) + ",";
  }
  out += "\"text\":" + core::JsonQuote(FallbackText(n, title));
  out += ",\"blocks\":[{\"type\":\"header\",\"text\":" + TextObject("plain_text", title) + "}";
  std::size_t shown = 0;
  for (const AlertSnapshot& a : n.alerts) {
    if (shown == kSlackMaxAlertSections) break;
    out += "," + AlertSection(n, a);
    ++shown;
  }
  const std::size_t more = n.alerts.size() - shown + static_cast<std::size_t>(n.truncated_alerts);
  if (more > 0) out += "," + Context("… and " + std::to_string(more) + " more");
  if (!n.external_url.empty()) {
    // A link in a context needs no interactivity on the Slack app, unlike a button.
    out += "," + Context("<" + Escape(n.external_url) + "|Open in obsgate>");
  }
  out += "]}";
  return out;
}

SlackNotifier::SlackNotifier(std::string name, core::SlackReceiverConfig config,
                             std::unique_ptr<net::HttpClient> client)
    : name_(std::move(name)), config_(std::move(config)), client_(std::move(client)) {}

SlackNotifier::~SlackNotifier() = default;

core::Result<std::unique_ptr<SlackNotifier>> SlackNotifier::Create(std::string name,
                                                                   core::SlackReceiverConfig config,
                                                                   core::Env env) {
  net::HttpClientOptions options;
  options.timeout = config.http.timeout;
  options.ca_file = config.http.ca_file;
  options.insecure_skip_verify = config.http.insecure_skip_verify;
  options.env = std::move(env);
  auto client = net::HttpClient::Create(config.webhook_url, std::move(options));
  if (!client.ok()) {
    return core::Error{"receiver " + name + ": slack webhook_url: " +
                       Redact(client.error(), {config.webhook_url, UrlPath(config.webhook_url)}) +
                       "; give the incoming webhook's https://hooks.slack.com/services/... URL"};
  }
  return std::unique_ptr<SlackNotifier>(
      new SlackNotifier(std::move(name), std::move(config), std::move(client).value()));
}

Delivery SlackNotifier::Deliver(const Notification& n, core::TimePoint now) {
  const Notification& message = config_.send_resolved ? n : FiringOnly(n);
  if (message.alerts.empty() && !n.alerts.empty()) {
    return Delivery::Delivered(0);  // only resolved alerts, which this receiver does not send
  }
  net::HttpCall call;
  call.method = "POST";
  call.content_type = "application/json";
  call.body = SlackMessage(message, config_);
  net::HttpFetch fetch = client_->Send(call);
  const auto secrets = {std::string_view(config_.webhook_url), UrlPath(config_.webhook_url)};
  Delivery d = fetch.status == 0 ? DeliveryForFailure("Slack", fetch.reason, fetch.error)
                                 : DeliveryForStatus("Slack", fetch.status, fetch.retry_after,
                                                     Trim(Truncate(fetch.body, 200)), now);
  d.detail = Redact(std::move(d.detail), secrets);
  return d;
}

}  // namespace obsgate::alerting
