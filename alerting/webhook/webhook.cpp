#include "alerting/webhook/webhook.hpp"

#include <utility>

#include "core/json.hpp"
#include "core/time.hpp"
#include "net/http_client.hpp"

namespace obsgate::alerting {
namespace {

// What Alertmanager writes for the endsAt of a firing alert: Go's zero time.
constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

std::string Quoted(std::string_view s) { return core::JsonQuote(s); }

}  // namespace

std::string WebhookPayload(const Notification& n, std::string_view receiver, int max_alerts) {
  std::size_t shown = n.alerts.size();
  if (max_alerts > 0 && shown > static_cast<std::size_t>(max_alerts)) {
    shown = static_cast<std::size_t>(max_alerts);
  }
  const int truncated = n.truncated_alerts + static_cast<int>(n.alerts.size() - shown);
  bool firing = false;
  for (const AlertSnapshot& a : n.alerts) firing = firing || a.status != "resolved";
  const std::string generator_url = GeneratorUrl(n);

  // Alertmanager's own member order (notify/webhook.Message).
  std::string out = "{\"receiver\":" + Quoted(receiver);
  out += ",\"status\":";
  // Resolved only when every alert is, including those cut by max_alerts, as Alertmanager says.
  if (n.alerts.empty()) {
    out += Quoted(n.status.empty() ? "firing" : n.status);
  } else {
    out += Quoted(firing ? "firing" : "resolved");
  }
  out += ",\"alerts\":[";
  for (std::size_t i = 0; i < shown; ++i) {
    const AlertSnapshot& a = n.alerts[i];
    const bool resolved = a.status == "resolved";
    if (i > 0) out += ',';
    out += "{\"status\":" + Quoted(resolved ? "resolved" : "firing");
    out += ",\"labels\":" + LabelSetJson(a.labels);
    out += ",\"annotations\":" + LabelSetJson(a.annotations);
    out += ",\"startsAt\":" + Quoted(core::FormatRfc3339(a.starts_at));
    out += ",\"endsAt\":" + Quoted(resolved ? core::FormatRfc3339(a.ends_at) : kZeroTime);
    out += ",\"generatorURL\":" + Quoted(generator_url);
    out += ",\"fingerprint\":" + Quoted(a.fingerprint) + "}";
  }
  out += "],\"groupLabels\":" + LabelSetJson(n.group_labels);
  out += ",\"commonLabels\":" + LabelSetJson(n.common_labels);
  out += ",\"commonAnnotations\":" + LabelSetJson(n.common_annotations);
  out += ",\"externalURL\":" + Quoted(n.external_url);
  out += ",\"version\":\"4\"";
  out += ",\"groupKey\":" + Quoted(n.group_key);
  out += ",\"truncatedAlerts\":" + std::to_string(truncated) + "}";
  return out;
}

WebhookNotifier::WebhookNotifier(std::string name, core::WebhookReceiverConfig config,
                                 std::unique_ptr<net::HttpClient> client)
    : name_(std::move(name)), config_(std::move(config)), client_(std::move(client)) {}

WebhookNotifier::~WebhookNotifier() = default;

core::Result<std::unique_ptr<WebhookNotifier>> WebhookNotifier::Create(
    std::string name, core::WebhookReceiverConfig config, core::Env env) {
  net::HttpClientOptions options;
  options.timeout = config.http.timeout;
  options.ca_file = config.http.ca_file;
  options.insecure_skip_verify = config.http.insecure_skip_verify;
  options.bearer_token = config.bearer_token;
  options.env = std::move(env);
  auto client = net::HttpClient::Create(config.url, std::move(options));
  if (!client.ok()) {
    return core::Error{
        "receiver " + name + ": webhook url: " +
        Redact(client.error(), {config.url, UrlPath(config.url), config.bearer_token}) +
        "; give an http:// or https:// URL"};
  }
  return std::unique_ptr<WebhookNotifier>(
      new WebhookNotifier(std::move(name), std::move(config), std::move(client).value()));
}

Delivery WebhookNotifier::Deliver(const Notification& n, core::TimePoint now) {
  const Notification message = config_.send_resolved ? n : FiringOnly(n);
  if (message.alerts.empty() && !n.alerts.empty()) return Delivery::Delivered(0);
  net::HttpCall call;
  call.method = "POST";
  call.content_type = "application/json";
  call.body = WebhookPayload(message, name_, config_.max_alerts);
  net::HttpFetch fetch = client_->Send(call);
  Delivery d = fetch.status == 0 ? DeliveryForFailure("the webhook", fetch.reason, fetch.error)
                                 : DeliveryForStatus("the webhook", fetch.status, fetch.retry_after,
                                                     Truncate(fetch.body, 512), now);
  d.detail = Redact(std::move(d.detail), {config_.url, UrlPath(config_.url), config_.bearer_token});
  return d;
}

}  // namespace obsgate::alerting
