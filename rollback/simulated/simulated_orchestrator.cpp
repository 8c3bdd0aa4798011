#include "rollback/simulated/simulated_orchestrator.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

namespace obsgate::rollback::simulated {
namespace {

constexpr int kReplicas = 3;  // what Status reports, so its message reads like kubectl's

std::string Name(const Target& t) { return t.ns + "/" + t.deployment; }

ActionResult Failed(std::string message) {
  ActionResult r;
  r.outcome = ActionResult::Outcome::kFailed;
  r.message = std::move(message);
  return r;
}

std::size_t CurrentOf(const std::vector<Revision>& revisions) {
  for (std::size_t i = 0; i < revisions.size(); ++i) {
    if (revisions[i].current) return i;
  }
  return 0;
}

}  // namespace

SimulatedOrchestrator::SimulatedOrchestrator(const core::Clock& clock, core::Duration rollout_time)
    : clock_(clock), rollout_time_(rollout_time) {}

void SimulatedOrchestrator::AddDeployment(const Target& target, const std::string& image) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  Deployment d;
  d.revisions.push_back(
      Revision{"1", ImageTag(image), image, "", now - rollout_time_, /*current=*/true});
  d.next_number = 2;
  d.switched_at = now - rollout_time_;
  deployments_[KeyOf(target)] = std::move(d);
}

core::Result<std::vector<Revision>> SimulatedOrchestrator::Revisions(const Target& target) {
  std::lock_guard lock(mu_);
  auto it = deployments_.find(KeyOf(target));
  if (it == deployments_.end()) {
    return core::Error{"the simulated cluster has no deployment " + Name(target)};
  }
  std::vector<Revision> out = it->second.revisions;
  // The current one first, then the others newest (highest number) first.
  std::sort(out.begin(), out.end(), [](const Revision& a, const Revision& b) {
    if (a.current != b.current) return a.current;
    return std::stoi(a.id) > std::stoi(b.id);
  });
  return out;
}

void SimulatedOrchestrator::SwitchTo(Deployment& d, std::size_t revision, core::TimePoint now) {
  std::size_t current = CurrentOf(d.revisions);
  d.serving_before = d.revisions[current].version;
  d.revisions[current].current = false;
  Revision& r = d.revisions[revision];
  r.current = true;
  r.id = std::to_string(d.next_number++);
  r.rolled_out_at = now;
  d.switched_at = now;
}

ActionResult SimulatedOrchestrator::Record(const char* action, const Target& target,
                                           ActionResult result, core::TimePoint now) {
  calls_.push_back(SimulatedCall{now, action, target, result});
  return result;
}

ActionResult SimulatedOrchestrator::RollBack(const Target& target, const RollbackRequest& request) {
  const std::string& to_revision = request.to_revision;
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = deployments_.find(KeyOf(target));
  if (it == deployments_.end()) {
    return Record("rollback", target,
                  Failed("the simulated cluster has no deployment " + Name(target)), now);
  }
  Deployment& d = it->second;
  std::size_t current = CurrentOf(d.revisions);
  std::optional<std::size_t> to;
  for (std::size_t i = 0; i < d.revisions.size(); ++i) {
    if (to_revision.empty()) {
      // The previous revision: the highest number below the current one's.
      if (i != current && (!to || std::stoi(d.revisions[i].id) > std::stoi(d.revisions[*to].id))) {
        to = i;
      }
    } else if (d.revisions[i].id == to_revision) {
      to = i;
    }
  }
  if (!to) {
    return Record(
        "rollback", target,
        Failed(to_revision.empty() ? Name(target) + " has no previous revision to roll back to"
                                   : Name(target) + " has no revision " + to_revision +
                                         "; obsgate revisions lists them"),
        now);
  }
  ActionResult r;
  r.from_version = d.revisions[current].version;
  r.to_version = d.revisions[*to].version;
  if (*to == current) {
    r.outcome = ActionResult::Outcome::kSkipped;
    r.message = Name(target) + " is at revision " + to_revision + " already";
    return Record("rollback", target, r, now);
  }
  std::string from_id = d.revisions[current].id;
  std::string old_id = d.revisions[*to].id;
  SwitchTo(d, *to, now);
  r.outcome = ActionResult::Outcome::kDone;
  r.message = "simulated: rolled " + Name(target) + " back from " + r.from_version + " (revision " +
              from_id + ") to " + r.to_version + " (revision " + old_id + ", now revision " +
              d.revisions[*to].id + ")";
  r.detail = "simulated rollout undo of deployment/" + target.deployment;
  return Record("rollback", target, r, now);
}

ActionResult SimulatedOrchestrator::SetImage(const Target& target, const std::string&,
                                             const std::string& image) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = deployments_.find(KeyOf(target));
  if (it == deployments_.end()) {
    return Record("set_image", target,
                  Failed("the simulated cluster has no deployment " + Name(target)), now);
  }
  Deployment& d = it->second;
  std::size_t current = CurrentOf(d.revisions);
  ActionResult r;
  r.from_version = d.revisions[current].version;
  r.to_version = ImageTag(image);
  if (d.revisions[current].image == image) {
    r.outcome = ActionResult::Outcome::kSkipped;
    r.message = Name(target) + " runs " + image + " already";
    return Record("set_image", target, r, now);
  }
  // Like a Deployment, an image seen before brings its old revision back under a new number.
  std::size_t to = d.revisions.size();
  for (std::size_t i = 0; i < d.revisions.size(); ++i) {
    if (d.revisions[i].image == image) to = i;
  }
  if (to == d.revisions.size()) {
    d.revisions.push_back(Revision{"", r.to_version, image, "", now, false});
  }
  SwitchTo(d, to, now);
  r.outcome = ActionResult::Outcome::kDone;
  r.message =
      "simulated: " + Name(target) + " set to " + image + " (revision " + d.revisions[to].id + ")";
  return Record("set_image", target, r, now);
}

core::Result<RolloutStatus> SimulatedOrchestrator::Status(const Target& target) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = deployments_.find(KeyOf(target));
  if (it == deployments_.end()) {
    return core::Error{"the simulated cluster has no deployment " + Name(target)};
  }
  const Deployment& d = it->second;
  RolloutStatus s;
  s.desired = kReplicas;
  double done = rollout_time_.count() <= 0 ? 1.0
                                           : std::chrono::duration<double>(now - d.switched_at) /
                                                 std::chrono::duration<double>(rollout_time_);
  s.updated = std::clamp(static_cast<int>(std::ceil(done * kReplicas)), 0, kReplicas);
  if (done >= 1) {
    s.state = RolloutStatus::State::kComplete;
    s.available = kReplicas;
    s.message = "deployment \"" + target.deployment + "\" successfully rolled out";
  } else {
    s.state = RolloutStatus::State::kProgressing;
    s.available = kReplicas;  // a rolling update keeps every replica serving
    s.message = "Waiting for deployment \"" + target.deployment +
                "\" rollout to finish: " + std::to_string(s.updated) + " of " +
                std::to_string(kReplicas) + " updated replicas are available...";
  }
  return s;
}

std::vector<std::pair<std::string, double>> SimulatedOrchestrator::Traffic(
    const Target& target) const {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = deployments_.find(KeyOf(target));
  if (it == deployments_.end()) return {};
  const Deployment& d = it->second;
  const std::string& current = d.revisions[CurrentOf(d.revisions)].version;
  double share = rollout_time_.count() <= 0 ? 1.0
                                            : std::chrono::duration<double>(now - d.switched_at) /
                                                  std::chrono::duration<double>(rollout_time_);
  share = std::clamp(share, 0.0, 1.0);
  if (share >= 1 || d.serving_before.empty() || d.serving_before == current) {
    return {{current, 1.0}};
  }
  return {{current, share}, {d.serving_before, 1 - share}};
}

std::vector<SimulatedCall> SimulatedOrchestrator::Calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

}  // namespace obsgate::rollback::simulated
