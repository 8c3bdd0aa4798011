#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "alerting/notification.hpp"
#include "core/clock.hpp"
#include "core/units.hpp"

namespace obsgate::alerting {

// What became of one delivery attempt, and whether trying again can help.
struct Delivery {
  enum class Outcome {
    kDelivered,  // the peer accepted it
    kRetry,      // a time-out, 429 or 5xx: try again later
    kGiveUp,     // the peer refused it for good (400, 404, a bad key): never sent again
  };
  Outcome outcome = Outcome::kDelivered;
  std::optional<core::Duration> retry_after;  // from the peer (Retry-After), when it said
  int status = 0;                             // the HTTP status; 0 when none arrived
  std::string detail;  // for the log and /api/v1/notifications: the peer's error, never a secret

  static Delivery Delivered(int status) { return {Outcome::kDelivered, std::nullopt, status, ""}; }
  static Delivery Retry(std::string detail, int status = 0,
                        std::optional<core::Duration> after = std::nullopt) {
    return {Outcome::kRetry, after, status, std::move(detail)};
  }
  static Delivery GiveUp(std::string detail, int status = 0) {
    return {Outcome::kGiveUp, std::nullopt, status, std::move(detail)};
  }
};

const char* OutcomeName(Delivery::Outcome o);  // "delivered", "retry", "failed"

// Helpers the HTTP receivers share, so every peer's answer is read the same way.

// How long a Retry-After header asks to wait: delay-seconds ("120") or an HTTP-date, counted from
// `now` (a date in the past is zero). nullopt when absent or unreadable.
std::optional<core::Duration> ParseRetryAfter(std::string_view value, core::TimePoint now);

// What an HTTP answer from `peer` ("Slack", "PagerDuty") means: 2xx delivered; 408, 425, 429 and
// 5xx retry (with Retry-After when sent); any other status gives up. `words` is the peer's own
// error text, already free of secrets; the detail adds a hint a person can act on.
Delivery DeliveryForStatus(std::string_view peer, int status, std::string_view retry_after,
                           std::string_view words, core::TimePoint now);

// A request that got no answer (`reason` as net::HttpFetch gives it: "timeout", "connect", ...):
// retried, except a request the client refused to send ("request"), which no retry can mend.
Delivery DeliveryForFailure(std::string_view peer, std::string_view reason, std::string_view error);

// `text` with every occurrence of each non-empty secret replaced by "<secret>": the last guard
// before a detail reaches the log or the API.
std::string Redact(std::string text, std::initializer_list<std::string_view> secrets);

// One configured receiver: delivers one notification at a time to its peer. Owned by the
// dispatcher, which calls Deliver from one thread at a time (a receiver's own lane).
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual const std::string& name() const = 0;  // the receiver's name in the configuration
  virtual std::string_view kind() const = 0;    // "slack", "pagerduty", "alertmanager", ...
  // Blocks for at most the receiver's time-out. `now` is the dispatcher's clock.
  virtual Delivery Deliver(const Notification& n, core::TimePoint now) = 0;
  // The least time between two deliveries (Slack's 1 message/s per webhook); zero: none.
  virtual core::Duration min_interval() const { return core::Duration{0}; }
  // Firing alerts are sent again at least this often whatever the route's repeat_interval says
  // (an Alertmanager receiver, whose alerts expire at endsAt); zero: the route decides.
  virtual core::Duration resend_interval() const { return core::Duration{0}; }
  // Whether resolved alerts are sent to this receiver.
  virtual bool send_resolved() const { return true; }
};

}  // namespace obsgate::alerting
