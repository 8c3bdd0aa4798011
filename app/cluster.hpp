#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"

namespace prometheus {
class Registry;
}

namespace obsgate::app {

// This replica's place among its peers (cluster:): which replica owns a deployment's counts, and
// what it sends the others: counts of deployments it does not own, and the rollbacks its rules
// decide while another replica leads. Thread-safe.
class Cluster {
 public:
  // `token` (server.api_token) goes with every request: peers check it like any API call that
  // changes something. Peer URLs must parse.
  static core::Result<std::unique_ptr<Cluster>> Create(const core::ClusterConfig& config,
                                                       std::string token,
                                                       prometheus::Registry& registry);
  ~Cluster();

  const std::string& self() const;
  // The owner of a deployment's counts: the peer with the highest hash of (peer, namespace,
  // deployment). Rendezvous hashing: a peer added or removed moves only its own share.
  const std::string& OwnerOf(std::string_view ns, std::string_view deployment) const;
  bool Owns(std::string_view ns, std::string_view deployment) const {
    return &OwnerOf(ns, deployment) == &self();
  }
  // Queues counts for their owner (not this replica); they are sent within forward_interval.
  void Forward(const std::string& owner, const core::SeriesKey& key, const core::Counts& counts);
  // The counts a peer sent (POST /api/v1/cluster/counts), added to `out`; counted, and an error
  // that says what is wrong when the body is not what a peer sends.
  core::Status Take(std::string_view body, core::LocalCounts& out);
  // Offers a standby's rollback (ha::EncodeRollback) to every other replica; the leader takes it,
  // the others refuse. Sent from the cluster's thread, and offered again while no replica takes
  // it (the lead changing hands), for give_up_after; the outcome is logged and counted.
  void ForwardRollback(std::string body);

  // Starts the sending thread. Counts a peer has not taken for give_up_after go to `local`
  // instead (split between replicas, not lost).
  void Start(std::function<void(core::LocalCounts&)> local);
  // Sends what is queued once more, then stops; what a peer did not take goes to `local`.
  void Stop();

 private:
  struct Impl;
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obsgate::app
