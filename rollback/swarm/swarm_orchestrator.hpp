#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback::swarm {

class EngineClient;
struct Service;

// Rolls Swarm services back through the Docker Engine API of a manager, as `docker service
// rollback` does: the service is read, then updated with `rollback=previous` at the version just
// read. A Target names the service: `deployment`, or `{ns}_{deployment}` when `ns` (the stack)
// is set, as `docker stack deploy` names services. Swarm keeps one previous spec, so the
// revisions are "current" and "previous". One call at a time per instance.
class SwarmOrchestrator final : public Orchestrator {
 public:
  // Waits between looks at a rollback in progress. Tests pass one that advances their FakeClock.
  using Sleep = std::function<void(std::chrono::milliseconds)>;

  // Fails on a host that is neither unix:// nor tcp://, or TLS files that cannot be read.
  static core::Result<std::unique_ptr<SwarmOrchestrator>> Create(
      const core::SwarmOrchestratorConfig& config, const core::Clock& clock, Sleep sleep = {});
  ~SwarmOrchestrator() override;

  std::string_view kind() const override { return "swarm"; }
  // "current" (Spec) then "previous" (PreviousSpec, when the service was ever updated).
  core::Result<std::vector<Revision>> Revisions(const Target& target) override;
  // POST /services/{id}/update?version=N&rollback=previous, then follows UpdateStatus to
  // rollback_completed within rollout_timeout. `to_revision` may be "" or "previous".
  ActionResult RollBack(const Target& target, const RollbackRequest& request = {}) override;
  // Updates the service with Spec.TaskTemplate.ContainerSpec.Image set to `image` (a service has
  // one container; `container` is ignored). Does not wait: Status follows the update.
  ActionResult SetImage(const Target& target, const std::string& container,
                        const std::string& image) override;
  // From UpdateStatus: updating, rollback_started -> progressing; completed, rollback_completed
  // (or never updated) -> complete; paused, rollback_paused -> failed.
  core::Result<RolloutStatus> Status(const Target& target) override;

  // The Swarm service a target names.
  static std::string ServiceName(const Target& target);

 private:
  SwarmOrchestrator(const core::SwarmOrchestratorConfig& config, const core::Clock& clock,
                    Sleep sleep, std::unique_ptr<EngineClient> engine);

  struct Read;
  Read Inspect(const std::string& name);
  std::optional<std::string> ApiPrefix(std::string* error);
  ActionResult Update(const Target& target, bool rollback, const std::string& image);

  core::SwarmOrchestratorConfig config_;
  const core::Clock& clock_;
  Sleep sleep_;
  std::unique_ptr<EngineClient> engine_;
  std::string api_prefix_;  // "/v1.47", negotiated on first use
};

}  // namespace obsgate::rollback::swarm
