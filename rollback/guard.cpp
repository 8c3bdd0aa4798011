#include "rollback/guard.hpp"

#include <algorithm>
#include <tuple>

#include "core/units.hpp"
#include "rules/expr.hpp"

namespace obsgate::rollback {
namespace {

std::string Pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", fraction * 100);
  return buf;
}

// The first peer that fails with the release: enough requests, significantly worse than its own
// window before, and at least `similar` of the release's error rate. nullptr when none does.
const PeerTraffic* FailingWith(const Candidate& c, const core::RollbackConfig::SharedOutage& o) {
  if (!c.recent_error_rate) return nullptr;
  for (const PeerTraffic& p : c.peers) {
    if (p.requests < o.min_requests) continue;
    const double rate = p.errors / p.requests;
    if (rate <= 0 || rate < o.similar * *c.recent_error_rate) continue;
    std::optional<double> rose =
        rules::WorseProportionPValue(p.errors, p.requests, p.before_errors, p.before_requests);
    // A peer with no traffic before counts only by its rate: it has no past to rise from.
    if (rose ? *rose < 0.01 : rate > o.similar * *c.recent_error_rate) return &p;
  }
  return nullptr;
}

std::string Name(const Candidate& c) {
  return c.target.ns + "/" + c.target.deployment +
         (c.bad_version.empty() ? "" : " " + c.bad_version);
}

}  // namespace

const char* VerdictName(Decision::Verdict v) {
  switch (v) {
    case Decision::Verdict::kAct:
      return "act";
    case Decision::Verdict::kDryRun:
      return "dry_run";
    case Decision::Verdict::kPause:
      return "pause";
    case Decision::Verdict::kRefused:
      return "refused";
    case Decision::Verdict::kDuplicate:
      return "duplicate";
  }
  return "refused";
}

RollbackGuard::RollbackGuard(core::RollbackConfig config, const core::Clock& clock)
    : config_(config), clock_(clock) {}

Decision RollbackGuard::Decide(const Candidate& c) {
  using V = Decision::Verdict;
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto decided = std::make_tuple(c.target.ns, c.target.deployment, c.bad_version);
  const bool person = c.origin == Candidate::Origin::kPerson;
  // What a person can do about a refusal that only says "not again so soon".
  const std::string force_hint = person ? "; obsgate rollback --force " + c.target.ns + "/" +
                                              c.target.deployment +
                                              " skips this check and is audited as forced"
                                        : "";
  if (decided_.contains(decided) && !c.forced) {
    return {V::kDuplicate, "duplicate",
            Name(c) + " was decided already; one decision per deployment and version" + force_hint};
  }
  Key key = KeyOf(c.target);
  if (auto m = contract_.find(key); m != contract_.end() && !person) {
    return {V::kRefused, "migration",
            "the schema of " + c.target.ns + "/" + c.target.deployment +
                " went past a contract-phase migration (" + m->second +
                "); older code may not run on it. Roll forward, or roll back by hand after "
                "checking the schema"};
  }
  if (c.origin == Candidate::Origin::kRule) {
    if (!c.age) {
      return {V::kRefused, "only_within",
              "the age of " + Name(c) + " is unknown; only versions known to be younger than " +
                  core::FormatDuration(config_.only_within) + " are rolled back automatically"};
    }
    if (*c.age > config_.only_within) {
      return {V::kRefused, "only_within",
              Name(c) + " has served for " + core::FormatDuration(*c.age) + ", longer than " +
                  core::FormatDuration(config_.only_within) +
                  ": an old version failing points at something else (a dependency, the data), "
                  "which a rollback would not fix"};
    }
  }
  if (!person && config_.require_healthy_baseline) {
    if (c.baseline_version.empty()) {
      return {V::kRefused, "baseline",
              "no earlier version of " + c.target.ns + "/" + c.target.deployment +
                  " has been seen, so there is nothing known to be good to go back to"};
    }
    if (!c.baseline_error_rate) {
      return {V::kRefused, "baseline",
              "the baseline " + c.baseline_version + " has no traffic to judge it by"};
    }
    if (*c.baseline_error_rate > config_.baseline_max_error_rate) {
      return {V::kRefused, "baseline",
              "the baseline " + c.baseline_version + " fails too (" + Pct(*c.baseline_error_rate) +
                  " errors, above " + Pct(config_.baseline_max_error_rate) +
                  "): rolling back would not help; look for a shared cause"};
    }
  }
  if (!person && config_.shared_outage.peers != core::RollbackConfig::SharedOutage::Peers::kNone) {
    if (const PeerTraffic* p = FailingWith(c, config_.shared_outage)) {
      const std::string window = core::FormatDuration(config_.shared_outage.window);
      std::string before =
          p->before_requests > 0 ? ", up from " + Pct(p->before_errors / p->before_requests) : "";
      return {V::kRefused, "shared_outage",
              p->name + ", with no release in " + core::FormatDuration(config_.only_within) +
                  ", fails at the same time: " + Pct(p->errors / p->requests) + " of " +
                  std::to_string(static_cast<long long>(p->requests)) + " requests over " + window +
                  before + ", against " + Pct(*c.recent_error_rate) + " on " + Name(c) +
                  ". A shared cause (a dependency both use) is likelier than the release, and "
                  "rolling back would not fix it; obsgate rollback " +
                  c.target.ns + "/" + c.target.deployment + " does it by hand"};
    }
  }
  if (auto last = last_rollback_.find(key);
      !c.forced && last != last_rollback_.end() && now - last->second < config_.cooldown) {
    return {
        V::kRefused, "cooldown",
        c.target.ns + "/" + c.target.deployment + " was rolled back " +
            core::FormatDuration(std::chrono::duration_cast<core::Duration>(now - last->second)) +
            " ago, within the cooldown of " + core::FormatDuration(config_.cooldown) + force_hint};
  }
  while (!recent_.empty() && now - recent_.front() >= std::chrono::hours(1)) recent_.pop_front();
  if (static_cast<int>(recent_.size()) >= config_.max_per_hour) {
    return {V::kRefused, "max_per_hour",
            std::to_string(recent_.size()) + " rollbacks in the last hour reach max_per_hour (" +
                std::to_string(config_.max_per_hour) +
                "); so many bad releases at once points at something shared"};
  }
  decided_.insert(decided);
  if (config_.pause && c.origin == Candidate::Origin::kRule) {
    return {V::kPause, "pause",
            "mode is pause: " + Name(c) + " would be rolled back to " + c.baseline_version +
                "; run obsgate rollback " + c.target.ns + "/" + c.target.deployment + " to do it"};
  }
  if (config_.dry_run) {
    return {V::kDryRun, "dry_run",
            "dry run: " + Name(c) + " would be rolled back" +
                (c.baseline_version.empty() ? "" : " to " + c.baseline_version)};
  }
  return {V::kAct, "", Name(c) + " passed every guard"};
}

void RollbackGuard::Acted(const Target& target, const std::string& bad_version, bool done) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  if (!done) {
    decided_.erase(std::make_tuple(target.ns, target.deployment, bad_version));
    return;
  }
  last_rollback_[KeyOf(target)] = now;
  recent_.push_back(now);
}

void RollbackGuard::Remember(const Target& target, const std::string& bad_version,
                             core::TimePoint at) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  if (!bad_version.empty()) decided_.insert({target.ns, target.deployment, bad_version});
  core::TimePoint& last = last_rollback_[KeyOf(target)];
  last = std::max(last, at);
  if (now - at < std::chrono::hours(1)) {
    recent_.insert(std::upper_bound(recent_.begin(), recent_.end(), at), at);
  }
}

void RollbackGuard::MarkContractMigration(const Target& target, std::string migration) {
  std::lock_guard lock(mu_);
  contract_[KeyOf(target)] = std::move(migration);
}

void RollbackGuard::ClearContractMigration(const Target& target) {
  std::lock_guard lock(mu_);
  contract_.erase(KeyOf(target));
}

}  // namespace obsgate::rollback
