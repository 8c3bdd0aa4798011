#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/units.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback::simulated {

// One RollBack or SetImage call as the simulated cluster saw it.
struct SimulatedCall {
  core::TimePoint at;
  std::string action;  // "rollback" or "set_image"
  Target target;
  ActionResult result;
};

// A cluster that exists only in this process, for `obsgate demo`: deployments with numbered
// revisions (image tags), rolled out and back like `kubectl rollout undo` does (the revision
// rolled back to takes the next number), each rollout complete after `rollout_time`. It touches
// nothing outside memory. Thread-safe.
class SimulatedOrchestrator final : public Orchestrator {
 public:
  SimulatedOrchestrator(const core::Clock& clock, core::Duration rollout_time);

  // Adds a deployment running `image` as its revision 1, its rollout already complete.
  void AddDeployment(const Target& target, const std::string& image);

  std::string_view kind() const override { return "simulated"; }
  core::Result<std::vector<Revision>> Revisions(const Target& target) override;
  // Switches to the previous revision (or `to_revision`); traffic moves over `rollout_time`.
  ActionResult RollBack(const Target& target, const RollbackRequest& request = {}) override;
  // A new revision with `image` (or the existing one that has it, renumbered); `container` is
  // ignored: a simulated deployment has one.
  ActionResult SetImage(const Target& target, const std::string& container,
                        const std::string& image) override;
  // Complete once `rollout_time` has passed since the last switch.
  core::Result<RolloutStatus> Status(const Target& target) override;

  // How requests are split between versions now, the current one first; shares sum to 1. While
  // a rollout is in progress the new version's share grows from 0 to 1 over `rollout_time`.
  std::vector<std::pair<std::string, double>> Traffic(const Target& target) const;
  // Every RollBack and SetImage call so far, oldest first.
  std::vector<SimulatedCall> Calls() const;

 private:
  struct Deployment {
    std::vector<Revision> revisions;  // oldest number first; exactly one is current
    std::string serving_before;       // the version current before the last switch
    core::TimePoint switched_at;      // when the current revision became current
    int next_number = 1;
  };
  using Key = std::pair<std::string, std::string>;
  static Key KeyOf(const Target& t) { return {t.ns, t.deployment}; }
  // Makes `revision` current with the next number; the caller holds mu_.
  void SwitchTo(Deployment& d, std::size_t revision, core::TimePoint now);
  ActionResult Record(const char* action, const Target& target, ActionResult result,
                      core::TimePoint now);

  const core::Clock& clock_;
  const core::Duration rollout_time_;
  mutable std::mutex mu_;
  std::map<Key, Deployment> deployments_;
  std::vector<SimulatedCall> calls_;
};

}  // namespace obsgate::rollback::simulated
