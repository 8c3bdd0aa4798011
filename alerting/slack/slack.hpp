#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "alerting/notifier.hpp"
#include "core/config.hpp"
#include "core/config_reader.hpp"
#include "core/result.hpp"

namespace obsgate::net {
class HttpClient;
}

namespace obsgate::alerting {

// Alerts shown as their own section; the rest are counted in an "and N more" line.
inline constexpr std::size_t kSlackMaxAlertSections = 10;

// The incoming-webhook message for a notification: Block Kit blocks (a header, a section per
// alert with its measured values, the action, a link to obsgate) and a plain-text fallback, cut
// to Slack's limits with "…". Pure.
std::string SlackMessage(const Notification& n, const core::SlackReceiverConfig& config);
// The header: "[FIRING] ErrorRateAbove1Percent — auth v2", "[RESOLVED] …", "[FIRING:3] …".
std::string SlackTitle(const Notification& n);

// Posts notifications to one Slack incoming webhook. Owned by the dispatcher; one Deliver at a
// time (the HTTP client is not shared).
class SlackNotifier final : public Notifier {
 public:
  // Fails when the webhook URL is not an http(s) URL; the message never shows the URL.
  static core::Result<std::unique_ptr<SlackNotifier>> Create(std::string name,
                                                             core::SlackReceiverConfig config,
                                                             core::Env env);
  ~SlackNotifier() override;

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "slack"; }
  // 200 delivered; 429 retried after Retry-After; other 4xx given up with Slack's error word
  // ("invalid_blocks", "no_service"); 5xx and time-outs retried.
  Delivery Deliver(const Notification& n, core::TimePoint now) override;
  // Slack takes one message a second per webhook.
  core::Duration min_interval() const override { return std::chrono::seconds(1); }
  bool send_resolved() const override { return config_.send_resolved; }

 private:
  SlackNotifier(std::string name, core::SlackReceiverConfig config,
                std::unique_ptr<net::HttpClient> client);

  std::string name_;
  core::SlackReceiverConfig config_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace obsgate::alerting
