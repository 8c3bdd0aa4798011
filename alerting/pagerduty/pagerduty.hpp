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

// PagerDuty's severity (critical, error, warning, info) for an alert's `severity` label.
std::string_view PagerDutySeverity(std::string_view label);
// The alert's dedup_key: the same for its trigger and its resolve, at most 255 characters, made of
// the group key and the alert's fingerprint, which do not depend on the receiver.
std::string PagerDutyDedupKey(const Notification& n, const AlertSnapshot& a);
// One Events API v2 event for one alert: `trigger` while it fires, `resolve` once resolved. Pure.
std::string PagerDutyEvent(const Notification& n, const AlertSnapshot& a,
                           const core::PagerDutyReceiverConfig& config);

// Sends each alert of a notification to PagerDuty's Events API v2 as its own event, in order.
// Owned by the dispatcher; one Deliver at a time.
class PagerDutyNotifier final : public Notifier {
 public:
  // Fails when the URL is not an http(s) URL.
  static core::Result<std::unique_ptr<PagerDutyNotifier>> Create(
      std::string name, core::PagerDutyReceiverConfig config, core::Env env);
  ~PagerDutyNotifier() override;

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "pagerduty"; }
  // 202 for every event: delivered. An event PagerDuty refuses (400) is given up, and the rest
  // are still sent. A 429, 5xx or time-out stops at that event and retries the whole
  // notification: events already accepted are sent again, which PagerDuty folds into the same
  // alert by dedup_key.
  Delivery Deliver(const Notification& n, core::TimePoint now) override;
  bool send_resolved() const override { return config_.send_resolved; }

 private:
  PagerDutyNotifier(std::string name, core::PagerDutyReceiverConfig config,
                    std::unique_ptr<net::HttpClient> client);

  std::string name_;
  core::PagerDutyReceiverConfig config_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace obsgate::alerting
