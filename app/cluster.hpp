#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"
#include "ha/cluster_wire.hpp"

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
  // Keeps counts whose deployment another replica owns, to be sent to it within
  // forward_interval; false (nothing kept) when this replica owns them.
  bool Route(const core::SeriesKey& key, const core::Counts& counts);
  // The counts a peer sent (POST /api/v1/cluster/counts), added to `out`; counted, and an error
  // that says what is wrong when the body is not what a peer sends.
  core::Status Take(std::string_view body, core::LocalCounts& out);
  // A standby's rollback a peer offered (POST /api/v1/cluster/rollbacks), counted the same way.
  core::Result<ha::ForwardedRollback> TakeRollback(std::string_view body);
  // Offers a standby's rollback to every other replica; the leader takes it, the others refuse.
  // Sent from the cluster's thread, and offered again while no replica takes it (the lead
  // changing hands), for give_up_after; the outcome is logged and counted.
  void ForwardRollback(const ha::ForwardedRollback& rollback);

  // Starts the sending thread. Counts a peer has not taken for give_up_after go to `local`
  // instead (split between replicas, not lost).
  void Start(std::function<void(core::LocalCounts&)> local);
  // Sends what is queued once more, then stops; what a peer did not take goes to `local`.
  void Stop();

 private:
  struct Impl;
  std::size_t OwnerIndex(std::string_view ns, std::string_view deployment) const;
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obsgate::app
