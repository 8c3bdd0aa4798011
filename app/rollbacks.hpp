#pragma once

#include <functional>
#include <memory>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "rollback/orchestrator.hpp"

namespace prometheus {
class Registry;
}
namespace obsgate::rules {
class WindowStore;
class AlertListener;
}  // namespace obsgate::rules
namespace obsgate::server {
class HttpServer;
}
namespace obsgate::alerting {
class Router;
}
namespace obsgate::rollback {
class AuditLog;
class VersionDiscovery;
class RollbackController;
struct RollbackEvent;
}  // namespace obsgate::rollback

namespace obsgate::app {

// The orchestrator the configuration names, or null when it names none.
core::Result<std::unique_ptr<rollback::Orchestrator>> MakeOrchestrator(
    const core::OrchestratorConfig& config, const core::Env& env, const core::Clock& clock);

// Rollback as the gateway runs it: the controller listening to the rule engine, its audit log
// under data_dir, announcements through the alerting router, GET /api/v1/rollbacks.
class Rollbacks {
 public:
  // `orchestrator`, when given, is acted through instead of the one config.orchestrator names.
  static core::Result<std::unique_ptr<Rollbacks>> Create(
      const core::Config& config, const core::Env& env, const core::Clock& clock,
      rules::WindowStore& store, alerting::Router* router, prometheus::Registry& registry,
      std::unique_ptr<rollback::Orchestrator> orchestrator = nullptr);
  ~Rollbacks();
  rules::AlertListener& listener();
  rollback::RollbackController& controller() { return *controller_; }
  void InstallRoutes(server::HttpServer& server);
  void Start();
  void Stop();

 private:
  Rollbacks() = default;
  std::unique_ptr<rollback::AuditLog> audit_;
  std::unique_ptr<rollback::RollbackController> controller_;
  // Kubernetes only: pod-template-hash -> image tag, fed to the store.
  std::unique_ptr<rollback::VersionDiscovery> discovery_;
  std::function<void()> stop_discovery_;
};

}  // namespace obsgate::app
