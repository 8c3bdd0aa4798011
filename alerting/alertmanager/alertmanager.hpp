#pragma once

#include <memory>
#include <string>
#include <vector>

#include "alerting/notifier.hpp"
#include "core/config.hpp"
#include "core/config_reader.hpp"
#include "core/result.hpp"

namespace obsgate::net {
class HttpClient;
}

namespace obsgate::alerting {

// The body of POST /api/v2/alerts: Alertmanager's postableAlerts (labels, annotations, startsAt,
// endsAt, generatorURL). As Prometheus does, a firing alert ends at now + 4 × resend_interval, so
// Alertmanager resolves it by itself if obsgate stops resending; a resolved alert ends when it
// was resolved. Labels with an empty value are left out (Prometheus treats them as absent). Pure.
std::string AlertmanagerAlerts(const Notification& n, core::TimePoint now,
                               core::Duration resend_interval);

// Sends alerts to one or more Alertmanagers (an HA cluster: each gets every alert, as Prometheus
// sends them). Owned by the dispatcher; one Deliver at a time.
class AlertmanagerNotifier final : public Notifier {
 public:
  // Fails without a URL, or with one that is not an http(s) URL.
  static core::Result<std::unique_ptr<AlertmanagerNotifier>> Create(
      std::string name, core::AlertmanagerReceiverConfig config, core::Env env);
  ~AlertmanagerNotifier() override;

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "alertmanager"; }
  // Delivered when at least one Alertmanager answered 200 (the cluster shares alerts); otherwise
  // retried when any failure can pass (5xx, 429, time-out), else given up (4xx).
  Delivery Deliver(const Notification& n, core::TimePoint now) override;
  // Firing alerts must be resent before their endsAt passes.
  core::Duration resend_interval() const override { return config_.resend_interval; }

 private:
  struct Target {
    std::string where;  // host:port, for messages
    std::unique_ptr<net::HttpClient> client;
  };
  AlertmanagerNotifier(std::string name, core::AlertmanagerReceiverConfig config,
                       std::vector<Target> targets);

  std::string name_;
  core::AlertmanagerReceiverConfig config_;
  std::vector<Target> targets_;
};

}  // namespace obsgate::alerting
