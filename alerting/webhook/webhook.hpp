#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "alerting/notifier.hpp"
#include "core/config.hpp"
#include "core/config_reader.hpp"
#include "core/result.hpp"

namespace obsgate::net {
class HttpClient;
}

namespace obsgate::alerting {

// Alertmanager's webhook payload, version "4", field for field, so receivers written for
// Alertmanager read it unchanged. At most `max_alerts` alerts (0: all); the rest are counted in
// truncatedAlerts. Pure.
std::string WebhookPayload(const Notification& n, std::string_view receiver, int max_alerts);

// POSTs notifications to one URL as Alertmanager's webhook_config does. Owned by the dispatcher;
// one Deliver at a time.
class WebhookNotifier final : public Notifier {
 public:
  // Fails when the URL is not an http(s) URL; the message never shows the URL.
  static core::Result<std::unique_ptr<WebhookNotifier>> Create(std::string name,
                                                               core::WebhookReceiverConfig config,
                                                               core::Env env);
  ~WebhookNotifier() override;

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "webhook"; }
  // 2xx delivered; 429 retried after Retry-After; other 4xx given up; 5xx and time-outs retried.
  Delivery Deliver(const Notification& n, core::TimePoint now) override;
  bool send_resolved() const override { return config_.send_resolved; }

 private:
  WebhookNotifier(std::string name, core::WebhookReceiverConfig config,
                  std::unique_ptr<net::HttpClient> client);

  std::string name_;
  core::WebhookReceiverConfig config_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace obsgate::alerting
