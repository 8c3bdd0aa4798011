#pragma once

#include <string>
#include <string_view>

#include "tests/fakes/peer_server.hpp"

namespace obsgate::fakes {

// A receiver of Alertmanager's webhook_config payload (version "4"): checks every field the
// Alertmanager documentation lists, answers 200 with an empty body, or 400 with one problem a
// line. Thread-safe.
class FakeWebhookReceiver final : public PeerServer {
 public:
  static constexpr std::string_view kDefaultPath = "/alertmanager/webhook";

  explicit FakeWebhookReceiver(std::string path = std::string(kDefaultPath));
  ~FakeWebhookReceiver() { Stop(); }
};

}  // namespace obsgate::fakes
