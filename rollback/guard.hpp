#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback {

// Another deployment's traffic over the shared-outage window and the window before it.
struct PeerTraffic {
  std::string name;  // "shop/search"
  double requests = 0;
  double errors = 0;
  double before_requests = 0;
  double before_errors = 0;
};

// Why a rollback is being considered, with what was measured.
struct Candidate {
  Target target;
  std::string bad_version;
  std::string baseline_version;               // empty: there is none
  std::optional<core::Duration> age;          // of the bad version; nullopt when unknown
  std::optional<double> baseline_error_rate;  // now, or over its last window of traffic
  enum class Origin {
    kRule,      // a rule with the rollback action fired
    kPerson,    // obsgate rollback NS/DEPLOYMENT: skips only_within and the baseline guard
    kPipeline,  // a deploy pipeline's failed step: skips only_within
  };
  Origin origin = Origin::kRule;
  bool forced = false;  // a person's --force: the duplicate and cooldown guards do not apply
  // The release's error rate over the shared-outage window, and the deployments in its scope
  // with no release within only_within, over the same seconds.
  std::optional<double> recent_error_rate;
  std::vector<PeerTraffic> peers;
};

// The guard's answer, with the guard that decided and its reason in words.
struct Decision {
  enum class Verdict {
    kAct,        // roll back now
    kDryRun,     // decided, announced, not done
    kPause,      // announced; waits for a person
    kRefused,    // a guard said no
    kDuplicate,  // this (deployment, bad version) was decided already: nothing new
  };
  Verdict verdict = Verdict::kRefused;
  std::string guard;   // "only_within", "baseline", "shared_outage", "cooldown", "max_per_hour",
                       // "migration", "dry_run", "pause", "duplicate", or "" when it may act
  std::string reason;  // "auth v2 is 2h old, older than only_within 30m: ..."
};

const char* VerdictName(Decision::Verdict v);  // "act", "dry_run", "pause", "refused", "duplicate"

// Decides whether a rollback may run. Decisions are idempotent per (deployment, bad version):
// the second alert for a version already acted on is a duplicate. Thread-safe.
class RollbackGuard {
 public:
  RollbackGuard(core::RollbackConfig config, const core::Clock& clock);

  Decision Decide(const Candidate& c);
  // After the orchestrator acted: starts the cooldown and counts toward max_per_hour. A
  // rollback that failed or was skipped lets the version be decided again.
  void Acted(const Target& target, const std::string& bad_version, bool done);
  // A rollback done at `at` by an earlier run (read back from the audit log at start), so
  // cooldown, max_per_hour and one-decision-per-version hold across restarts and CLI runs.
  void Remember(const Target& target, const std::string& bad_version, core::TimePoint at);
  // The deploy pipeline ran a contract-phase (destructive) migration for this deployment:
  // rolling the code back could break on the new schema, so automatic rollback is refused.
  void MarkContractMigration(const Target& target, std::string migration);
  void ClearContractMigration(const Target& target);

 private:
  using Key = std::pair<std::string, std::string>;  // namespace, deployment
  static Key KeyOf(const Target& t) { return {t.ns, t.deployment}; }

  core::RollbackConfig config_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::set<std::tuple<std::string, std::string, std::string>> decided_;  // ns, deployment, version
  std::map<Key, core::TimePoint> last_rollback_;
  std::deque<core::TimePoint> recent_;   // rollbacks in the last hour, across all
  std::map<Key, std::string> contract_;  // deployment -> the migration that marked it
};

}  // namespace obsgate::rollback
