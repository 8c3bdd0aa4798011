#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/config_reader.hpp"  // core::Env
#include "core/result.hpp"

namespace prometheus {
class Registry;
}

// Several replicas, one decider. A replica acts (rolls back, runs pipelines) only while it holds
// the lock: a Kubernetes Lease renewed as client-go's leader election renews it, or an flock on a
// file for replicas on one host.
namespace obsgate::ha {

// Whether this replica may act now, and who does. Thread-safe.
class Leadership {
 public:
  virtual ~Leadership() = default;
  // True only while the lock is held and was renewed within the renew deadline: a holder that
  // cannot reach the API stops acting before anyone else may take the lock.
  virtual bool leading() const = 0;
  virtual std::string identity() const = 0;  // this replica's
  virtual std::string holder() const = 0;    // who holds the lock, as last seen; "" unknown
};

// A Leadership that always leads: one replica alone.
std::shared_ptr<Leadership> AlwaysLeading(std::string identity);

// The lock's record as both kinds keep it.
struct LeaderRecord {
  std::string holder;  // holderIdentity; "" when released
  std::int64_t lease_seconds = 0;
  std::string acquire_time;  // RFC 3339 with microseconds, as a MicroTime
  std::string renew_time;
  std::int64_t transitions = 0;

  bool operator==(const LeaderRecord&) const = default;
};

// One attempt to get or keep the lock; never blocks for long. Thread-compatible (the elector's
// thread only).
class LeaderLock {
 public:
  virtual ~LeaderLock() = default;
  virtual std::string Describe() const = 0;  // "lease obsgate/obsgate", "file /var/lib/..."
  // The record as stored now; nullopt when there is none. An error says why it cannot be read.
  virtual core::Result<std::optional<LeaderRecord>> Get() = 0;
  // Creates the record (none existed), or replaces the one Get last returned: fails when it
  // changed since (another replica wrote first).
  virtual core::Status Create(const LeaderRecord& record) = 0;
  virtual core::Status Update(const LeaderRecord& record) = 0;
};

// Runs the election on its own thread, as client-go does: try every retry_period; take a lock
// nobody renewed for lease_duration (as this replica observed it, so clocks need not agree);
// renew it every retry_period while held; give it up when renewing failed for renew_deadline;
// release it on Stop so another can take over at once. Thread-safe.
class LeaderElector final : public Leadership {
 public:
  // For the configured backend; the Lease one needs the orchestrator's Kubernetes access.
  static core::Result<std::unique_ptr<LeaderElector>> Create(const core::Config& config,
                                                             const core::Env& env,
                                                             const core::Clock& clock,
                                                             prometheus::Registry& registry);
  LeaderElector(std::unique_ptr<LeaderLock> lock, std::string identity,
                const core::LeaderElectionConfig& config, const core::Clock& clock,
                prometheus::Registry& registry);
  ~LeaderElector() override;

  void Start();
  void Stop();  // releases the lock when held

  bool leading() const override;
  std::string identity() const override { return identity_; }
  std::string holder() const override;
  std::string Describe() const { return lock_->Describe(); }

  // One round of the election (what the thread does every retry_period), for tests.
  void TryAcquireOrRenew();

 private:
  struct State;
  void Loop();
  void SetLeading(bool leading, const std::string& why);

  std::unique_ptr<LeaderLock> lock_;
  const std::string identity_;
  const core::LeaderElectionConfig config_;
  const core::Clock& clock_;
  std::unique_ptr<State> state_;
};

// The identity a replica gets when none is configured: <hostname>_<pid>.
std::string DefaultIdentity();

// A Lease in the Kubernetes API (coordination.k8s.io/v1).
core::Result<std::unique_ptr<LeaderLock>> KubernetesLeaseLock(const core::Config& config,
                                                              const core::Env& env);
// An exclusive flock on a file; the record is kept in the file for whoever looks.
std::unique_ptr<LeaderLock> FileLock(std::string path);

}  // namespace obsgate::ha
