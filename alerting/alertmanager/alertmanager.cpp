#include "alerting/alertmanager/alertmanager.hpp"

#include <algorithm>
#include <utility>

#include "core/json.hpp"
#include "core/time.hpp"
#include "net/http_client.hpp"

namespace obsgate::alerting {
namespace {

std::string NonEmpty(const LabelSet& labels) {
  LabelSet kept;
  for (const auto& [k, v] : labels) {
    if (!v.empty()) kept.emplace(k, v);
  }
  return LabelSetJson(kept);
}

// host:port of a base URL, without credentials a URL may carry before '@'.
std::string Where(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (const auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return std::string(url);
}

}  // namespace

std::string AlertmanagerAlerts(const Notification& n, core::TimePoint now,
                               core::Duration resend_interval) {
  const std::string generator_url = GeneratorUrl(n);
  std::string out = "[";
  for (const AlertSnapshot& a : n.alerts) {
    const bool resolved = a.status == "resolved";
    core::TimePoint ends = now + 4 * resend_interval;
    if (resolved) ends = a.ends_at == core::TimePoint{} ? now : a.ends_at;
    if (out.size() > 1) out += ',';
    out += "{\"labels\":" + NonEmpty(a.labels);
    out += ",\"annotations\":" + NonEmpty(a.annotations);
    out += ",\"startsAt\":" + core::JsonQuote(core::FormatRfc3339(a.starts_at));
    out += ",\"endsAt\":" + core::JsonQuote(core::FormatRfc3339(ends));
    if (!generator_url.empty()) out += ",\"generatorURL\":" + core::JsonQuote(generator_url);
    out += '}';
  }
  out += ']';
  return out;
}

AlertmanagerNotifier::AlertmanagerNotifier(std::string name,
                                           core::AlertmanagerReceiverConfig config,
                                           std::vector<Target> targets)
    : name_(std::move(name)), config_(std::move(config)), targets_(std::move(targets)) {}

AlertmanagerNotifier::~AlertmanagerNotifier() = default;

core::Result<std::unique_ptr<AlertmanagerNotifier>> AlertmanagerNotifier::Create(
    std::string name, core::AlertmanagerReceiverConfig config, core::Env env) {
  if (config.urls.empty()) {
    return core::Error{"receiver " + name +
                       ": alertmanager needs at least one URL, like http://alertmanager:9093"};
  }
  std::vector<Target> targets;
  for (const std::string& base : config.urls) {
    net::HttpClientOptions options;
    options.timeout = config.http.timeout;
    options.ca_file = config.http.ca_file;
    options.insecure_skip_verify = config.http.insecure_skip_verify;
    options.bearer_token = config.bearer_token;
    options.env = env;
    std::string_view trimmed = base;
    while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
    // As Prometheus does: the API path under the base URL, which may have a prefix of its own.
    auto client = net::HttpClient::Create(std::string(trimmed) + "/api/v2/alerts", options);
    if (!client.ok()) {
      return core::Error{"receiver " + name + ": alertmanager url " + Where(base) + ": " +
                         Redact(client.error(), {config.bearer_token}) +
                         "; give a base URL like http://alertmanager:9093"};
    }
    targets.push_back({Where(base), std::move(client).value()});
  }
  return std::unique_ptr<AlertmanagerNotifier>(
      new AlertmanagerNotifier(std::move(name), std::move(config), std::move(targets)));
}

Delivery AlertmanagerNotifier::Deliver(const Notification& n, core::TimePoint now) {
  net::HttpCall call;
  call.method = "POST";
  call.content_type = "application/json";
  call.body = AlertmanagerAlerts(n, now, config_.resend_interval);
  std::size_t accepted = 0;
  int accepted_status = 0;
  std::vector<Delivery> failures;
  for (Target& t : targets_) {
    net::HttpFetch fetch = t.client->Send(call);
    const std::string peer = "Alertmanager at " + t.where;
    Delivery d = fetch.status == 0 ? DeliveryForFailure(peer, fetch.reason, fetch.error)
                                   : DeliveryForStatus(peer, fetch.status, fetch.retry_after,
                                                       Truncate(fetch.body, 512), now);
    if (d.outcome == Delivery::Outcome::kDelivered) {
      ++accepted;
      accepted_status = d.status;
    } else {
      d.detail = Redact(std::move(d.detail), {config_.bearer_token});
      failures.push_back(std::move(d));
    }
  }
  std::string detail;
  for (const Delivery& f : failures) detail += (detail.empty() ? "" : " | ") + f.detail;
  if (accepted > 0) {
    Delivery d = Delivery::Delivered(accepted_status);
    if (!failures.empty()) {
      d.detail = "accepted by " + std::to_string(accepted) + " of " +
                 std::to_string(targets_.size()) + " Alertmanagers; " + detail;
    }
    return d;
  }
  // None accepted: retry if any failure can pass, waiting as long as the longest Retry-After.
  bool retry = false;
  std::optional<core::Duration> after;
  int status = 0;
  for (const Delivery& f : failures) {
    if (f.outcome != Delivery::Outcome::kRetry) continue;
    if (!retry) status = f.status;
    retry = true;
    if (f.retry_after) after = std::max(after.value_or(core::Duration{0}), *f.retry_after);
  }
  if (retry) return Delivery::Retry(std::move(detail), status, after);
  return Delivery::GiveUp(std::move(detail), failures.empty() ? 0 : failures.front().status);
}

}  // namespace obsgate::alerting
