#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/peer_server.hpp"

namespace obsgate::fakes {

enum class IncidentState { kTriggered, kAcknowledged, kResolved };

// One alert PagerDuty opened from a trigger event, and where follow-up events left it.
struct Incident {
  std::string routing_key;
  std::string dedup_key;
  IncidentState state = IncidentState::kTriggered;
  std::string summary;   // of the latest trigger
  std::string severity;  // of the latest trigger
  std::string source;    // of the latest trigger
  int events = 0;        // events applied to it: triggers, acknowledges, resolves
};

// PagerDuty's Events API v2 (POST /v2/enqueue): checks each event against the published schema,
// answers 202 with the dedup_key or 400 "invalid event", and keeps alerts by routing and dedup
// key the way PagerDuty de-duplicates them. Thread-safe.
class FakePagerDuty final : public PeerServer {
 public:
  static constexpr std::string_view kPath = "/v2/enqueue";

  FakePagerDuty();
  ~FakePagerDuty() { Stop(); }

  // The latest alert with that dedup_key, under routing_key or under any when it is empty.
  std::optional<Incident> Find(std::string_view dedup_key, std::string_view routing_key = "") const;
  // Triggered or acknowledged.
  bool IsOpen(std::string_view dedup_key, std::string_view routing_key = "") const;
  bool IsResolved(std::string_view dedup_key, std::string_view routing_key = "") const;
  // Every alert, oldest first; a trigger after a resolve opens a new one.
  std::vector<Incident> Incidents() const;
  // The alerts still open under one routing key.
  std::vector<Incident> OpenIncidents(std::string_view routing_key) const;

 private:
  Verdict Evaluate(const server::Request& request, bool process);
  // Applies a valid event; returns the dedup_key PagerDuty answers with.
  std::string Apply(std::string_view routing_key, std::string_view action,
                    std::string_view dedup_key, const Incident& trigger);
  Incident* Latest(std::string_view dedup_key, std::string_view routing_key);
  const Incident* Latest(std::string_view dedup_key, std::string_view routing_key) const;

  mutable std::mutex mu_;
  std::vector<Incident> incidents_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace obsgate::fakes
