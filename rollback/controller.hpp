#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "rollback/audit.hpp"
#include "rollback/guard.hpp"
#include "rollback/orchestrator.hpp"
#include "rules/rule_engine.hpp"
#include "rules/window_store.hpp"

namespace prometheus {
class Registry;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace obsgate::rollback {

// Turns firing alerts of rules with the rollback action into decisions (through the guard) and
// the decisions into orchestrator calls, each audited and announced. Decisions are made on the
// evaluation thread; orchestrator calls run on the controller's own thread. Thread-safe.
class RollbackController : public rules::AlertListener {
 public:
  // Told of every decision once it is final (acted, refused, dry run, paused, failed).
  using Announce = std::function<void(const RollbackEvent&)>;

  // `orchestrator` may be null: decisions are then audited and announced, never acted on.
  RollbackController(std::unique_ptr<Orchestrator> orchestrator, core::RollbackConfig config,
                     const rules::WindowStore& store, AuditLog& audit, const core::Clock& clock,
                     Announce announce, prometheus::Registry& registry);
  ~RollbackController() override;

  void OnAlert(const rules::Alert& alert, rules::AlertState from) override;
  // A person's or a pipeline's rollback, decided and acted on the calling thread. `force` (a
  // person's only) skips the duplicate and cooldown guards.
  RollbackEvent RollBackNow(const Target& target, const std::string& bad_version,
                            const std::string& to_revision, Candidate::Origin origin,
                            std::string origin_text, bool dry_run, bool force = false);
  RollbackGuard& guard() { return guard_; }
  // With several replicas: whether this one may act now, and who does. An alert on a replica
  // standing by is audited as "standby" and not decided; a decision whose replica lost the lead
  // before acting is not acted on. Call before Start; unset, this replica always acts.
  void UseLeadership(std::function<bool()> leading, std::function<std::string()> holder);
  // The rollback alerts this replica stood by for and that still fire, decided now should it
  // lead now: a lead that changed hands after they fired does not leave them undecided. Called
  // on every evaluation tick; cheap while nothing waits.
  void DecideWhatWasStoodBy();
  // With replicas that split the counts (cluster:): a standby's rule sees what the leader may
  // not, so the standby hands what it would decide to `forward` (for the leader to decide), and
  // audits what that returns beside "standby". Call before Start.
  using Forward =
      std::function<std::string(const Candidate&, const RollbackEvent&, const std::string& rule)>;
  void ForwardWhenStandingBy(Forward forward);
  // A rollback another replica's rule decided while this one leads: judged by the guard as if
  // this replica's own rule had fired, with what the other measured (and this one's view of the
  // other deployments added). Returns the verdict, or "standby" when this replica does not lead.
  std::string DecideForwarded(Candidate c, const std::string& rule, const std::string& from,
                              std::vector<std::pair<std::string, double>> values);
  Orchestrator* orchestrator() { return orchestrator_.get(); }

  void Start();
  void Stop();
  // Waits until every decision queued so far has been acted on (tests and shutdown).
  void Drain();

 private:
  struct Job {
    RollbackEvent event;
    std::string to_revision;
  };
  void Finish(RollbackEvent& e);
  // An event for `c`, with its time and id, before anything is decided.
  RollbackEvent NewEvent(const Candidate& c, std::string origin);
  // The guard's decision on `c`, queued to act on or audited.
  void Decide(const Candidate& c, RollbackEvent& e);
  void Act(Job& job);
  std::string StandbyMessage() const;
  // The version running now when `bad` is an older revision of the target, as the orchestrator
  // lists them; nullopt when `bad` still runs or the orchestrator cannot tell.
  std::optional<std::string> NoLongerRunning(const Target& target, const std::string& bad) const;
  void Loop();

  std::unique_ptr<Orchestrator> orchestrator_;
  core::RollbackConfig config_;
  const rules::WindowStore& store_;
  AuditLog& audit_;
  const core::Clock& clock_;
  Announce announce_;
  std::function<bool()> leading_;
  std::function<std::string()> holder_;
  Forward forward_;
  RollbackGuard guard_;
  prometheus::Family<prometheus::Counter>& results_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  std::map<std::string, rules::Alert> stood_by_;  // by fingerprint, while firing
  int busy_ = 0;
  bool stop_ = false;
  std::thread worker_;
  std::uint64_t next_id_ = 0;
};

}  // namespace obsgate::rollback
