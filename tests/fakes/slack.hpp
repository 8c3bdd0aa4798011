#pragma once

#include <string_view>

#include "tests/fakes/peer_server.hpp"

namespace obsgate::fakes {

// Slack's incoming webhooks: checks each message against the Block Kit limits and answers 200
// "ok", or 400 with Slack's error word (invalid_payload, invalid_blocks, no_text, ...).
// Thread-safe.
class FakeSlack final : public PeerServer {
 public:
  // The path of the example webhook URL in Slack's documentation; url() gives the whole URL.
  static constexpr std::string_view kPath =
      "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

  FakeSlack();
  ~FakeSlack() { Stop(); }
};

}  // namespace obsgate::fakes
