#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "server/http.hpp"

namespace prometheus {
class Registry;
}
namespace obsgate::rules {
class WindowStore;
}
namespace obsgate::server {
class Admission;
class HttpServer;
}  // namespace obsgate::server
namespace obsgate::alerting {
class Router;
}
namespace obsgate::deploy {
class PipelineRunner;
struct Run;
}  // namespace obsgate::deploy

namespace obsgate::ha {
class Leadership;
}

namespace obsgate::app {

class Rollbacks;

// Deploy pipelines as the gateway runs them: the runner with its runs under data_dir/runs, each
// transition announced through the alerting router (alertname ObsgatePipeline), and the API:
//   POST /api/v1/pipelines/{name}/runs   {"tag": "v1.2.0"}  start a run (409 while one is active)
//   GET  /api/v1/pipelines               the configured pipelines
//   GET  /api/v1/runs, /api/v1/runs/{id} runs with each step's state, times, values and output
//   POST /api/v1/runs/{id}/approve, /api/v1/runs/{id}/abort
// With several replicas only the leader runs pipelines; the others answer changing calls with 503
// and the leader's identity.
class Pipelines {
 public:
  // Reads the runs of earlier processes: interrupted ones are announced, waiting ones wait on.
  static core::Result<std::unique_ptr<Pipelines>> Create(
      const core::Config& config, const core::Clock& clock, rules::WindowStore& store,
      Rollbacks& rollbacks, alerting::Router* router, prometheus::Registry& registry,
      std::shared_ptr<ha::Leadership> leadership);
  ~Pipelines();
  // `writes` admits the calls that change something (nullptr: all of them).
  void InstallRoutes(server::HttpServer& server, std::shared_ptr<server::Admission> writes);
  void Start();
  void Stop();
  deploy::PipelineRunner& runner() { return *runner_; }

 private:
  Pipelines() = default;
  // 503 naming the leader while this replica stands by.
  std::optional<server::Response> Standby() const;
  std::vector<core::PipelineConfig> pipelines_;
  std::unique_ptr<deploy::PipelineRunner> runner_;
  std::shared_ptr<ha::Leadership> leadership_;
};

}  // namespace obsgate::app
