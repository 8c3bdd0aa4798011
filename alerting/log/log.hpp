#pragma once

#include <string>

#include "alerting/notifier.hpp"
#include "core/config.hpp"

namespace obsgate::alerting {

// The measured values as one log field: "error_rate=5.23% requests=1234 p_value=1.2e-05".
std::string LogValues(const AlertSnapshot& a);

// Writes each alert of a notification to the structured log (core/log.hpp) as one line, with the
// receiver, status, labels, summary and measured values. Needs no peer, so it always delivers.
// Owned by the dispatcher; Deliver is safe from any thread (the log is).
class LogNotifier final : public Notifier {
 public:
  LogNotifier(std::string name, const core::LogReceiverConfig& config);

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "log"; }
  Delivery Deliver(const Notification& n, core::TimePoint now) override;

 private:
  std::string name_;
};

}  // namespace obsgate::alerting
