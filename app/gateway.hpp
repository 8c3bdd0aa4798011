#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace obsgate::core {
class ProcessMetrics;
}
namespace obsgate::rules {
class WindowStore;
class WindowMetrics;
class RuleEngine;
class AlertListener;
}  // namespace obsgate::rules
namespace obsgate::ha {
class Leadership;
class LeaderElector;
}  // namespace obsgate::ha

namespace obsgate::server {
class Admission;
class HttpServer;
}  // namespace obsgate::server
namespace obsgate::rollback {
class Orchestrator;
}

namespace obsgate::app {

class Cluster;
class Ingest;
class Alerting;
class Rollbacks;
class Pipelines;

// The running gateway: configuration, the HTTP surface and the components wired to it.
// Start/Stop from the main thread; Reload is thread-safe (SIGHUP and POST /-/reload).
class Gateway {
 public:
  // `config_path` is where Reload reads from; nullopt when running on the embedded default.
  // `clock` drives the windows; the system clock when null (tests pass a fake one).
  Gateway(core::Config config, std::optional<std::string> config_path, core::Env env,
          std::unique_ptr<core::Clock> clock = nullptr);
  ~Gateway();

  // Before Start: roll back through `orchestrator` instead of the one the configuration names
  // (obsgate demo's simulated cluster).
  void UseOrchestrator(std::unique_ptr<rollback::Orchestrator> orchestrator);
  core::Status Start();
  // Graceful: stop accepting, let requests in flight finish within server.shutdown_timeout.
  void Stop();
  // Reads the file again; a bad file is refused, logged, and the running config stays.
  core::Status Reload();

  std::uint16_t port() const;
  bool ready() const { return ready_; }
  prometheus::Registry& registry() { return *registry_; }
  rules::WindowStore& store() { return *store_; }
  // Set once Start() has succeeded; replaced when a reload changes the rules.
  std::shared_ptr<rules::RuleEngine> engine() const;
  // The /metrics body: the registry and the process metrics in text format 0.0.4.
  std::string MetricsText() const;

 private:
  void InstallRoutes();
  void TickLoop();
  core::Result<std::shared_ptr<rules::RuleEngine>> MakeEngine(const core::Config& config);
  // cluster: counts of other replicas' deployments go to them, a standby's rollbacks to the
  // leader, and this replica takes theirs.
  core::Status JoinCluster();

  std::mutex config_mu_;
  core::Config config_;
  std::optional<std::string> config_path_;
  core::Env env_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<core::ProcessMetrics> process_metrics_;
  std::unique_ptr<core::Clock> clock_;
  std::unique_ptr<rules::WindowStore> store_;
  std::unique_ptr<rules::WindowMetrics> window_metrics_;
  mutable std::mutex engine_mu_;
  std::shared_ptr<rules::RuleEngine> engine_;  // guarded by engine_mu_
  std::unique_ptr<rules::AlertListener> log_alerts_;
  std::shared_ptr<ha::LeaderElector> elector_;  // with leader_election: only
  std::shared_ptr<ha::Leadership> leadership_;  // set by Start()
  std::unique_ptr<Alerting> alerting_;          // set by Start()
  std::unique_ptr<Rollbacks> rollbacks_;        // set by Start()
  std::unique_ptr<Pipelines> pipelines_;        // set by Start()
  std::unique_ptr<server::HttpServer> server_;
  // Admits the API calls that change something: server.api_token's check; nullptr without one.
  std::shared_ptr<server::Admission> writes_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<Cluster> cluster_;                      // with cluster: only; set by Start()
  std::unique_ptr<rollback::Orchestrator> orchestrator_;  // UseOrchestrator's, until Start()
  std::thread ticker_;
  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stop_ticking_ = false;
  prometheus::Gauge* reload_ok_ = nullptr;
  prometheus::Gauge* reload_time_ = nullptr;
  std::atomic<bool> ready_{false};
};

}  // namespace obsgate::app
