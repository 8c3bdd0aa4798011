#include <type_traits>

#include "app/rollbacks.hpp"
#include "rollback/exec/exec_orchestrator.hpp"
#include "rollback/kubernetes/kubernetes_orchestrator.hpp"
#include "rollback/swarm/swarm_orchestrator.hpp"

namespace obsgate::app {
core::Result<std::unique_ptr<rollback::Orchestrator>> MakeOrchestrator(
    const core::OrchestratorConfig& config, const core::Env& env, const core::Clock& clock) {
  return std::visit(
      [&](const auto& c) -> core::Result<std::unique_ptr<rollback::Orchestrator>> {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, std::monostate>) {
          return std::unique_ptr<rollback::Orchestrator>();
        } else if constexpr (std::is_same_v<C, core::SwarmOrchestratorConfig>) {
          return core::Upcast<rollback::Orchestrator>(
              rollback::swarm::SwarmOrchestrator::Create(c, clock));
        } else if constexpr (std::is_same_v<C, core::ExecOrchestratorConfig>) {
          return core::Upcast<rollback::Orchestrator>(
              rollback::exec::ExecOrchestrator::Create(c, clock));
        } else {
          return core::Upcast<rollback::Orchestrator>(
              rollback::kubernetes::KubernetesOrchestrator::Create(c, env, clock));
        }
      },
      config.spec);
}

}  // namespace obsgate::app
