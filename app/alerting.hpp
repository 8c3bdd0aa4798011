#pragma once

#include <memory>
#include <string>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace prometheus {
class Registry;
}
namespace obsgate::rules {
class AlertListener;
}
namespace obsgate::server {
class Admission;
class HttpServer;
}  // namespace obsgate::server
namespace obsgate::alerting {
class Outbox;
class Silences;
class Dispatcher;
class Router;
}  // namespace obsgate::alerting

namespace obsgate::app {

// The embedded route and receiver when the configuration names none: every notification to the
// structured log.
extern const char* const kDefaultAlertingYaml;

// Alerting as the gateway runs it: the router fed by the rule engine, silences, the outbox and
// the dispatcher with one notifier per receiver, and their API routes. Thread-safe.
class Alerting {
 public:
  // Opens the outbox and silences under config.data_dir and builds every receiver; an error
  // names what could not be made.
  static core::Result<std::unique_ptr<Alerting>> Create(const core::Config& config,
                                                        const core::Env& env,
                                                        const core::Clock& clock,
                                                        prometheus::Registry& registry);
  ~Alerting();

  rules::AlertListener& listener();
  alerting::Router& router() { return *router_; }
  // /api/v1/silences (GET, POST), /api/v1/silences/{id} (DELETE), /api/v1/notifications,
  // /api/v1/alerts/groups.
  // `writes` admits the calls that change something (nullptr: all of them).
  void InstallRoutes(server::HttpServer& server, std::shared_ptr<server::Admission> writes);
  // Resumes what the outbox held and starts delivering.
  void Start();
  void Stop();
  // On each tick: groups whose time has come are sent.
  void Tick();
  // Notifications in the outbox not yet delivered or given up.
  std::size_t pending() const;

 private:
  Alerting() = default;
  std::unique_ptr<alerting::Outbox> outbox_;
  std::unique_ptr<alerting::Silences> silences_;
  std::unique_ptr<alerting::Dispatcher> dispatcher_;
  std::unique_ptr<alerting::Router> router_;
};

// The alerting section that applies: the configuration's, or the embedded default.
core::AlertingConfig EffectiveAlerting(const core::Config& config);

}  // namespace obsgate::app
