#include "app/rollbacks.hpp"

#include "alerting/router.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "rollback/audit.hpp"
#include "rollback/controller.hpp"
#include "rollback/kubernetes/kubernetes_orchestrator.hpp"
#include "rules/window_store.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {
namespace {

// A decision as the alerting router carries it: an event under alertname ObsgateRollback.
alerting::AlertSnapshot Announcement(const rollback::RollbackEvent& e) {
  alerting::AlertSnapshot a;
  a.fingerprint = "rollback-" + e.id;
  a.status = "firing";
  bool acted = e.result == "rolled_back" || e.result == "failed";
  a.labels = {{"alertname", "ObsgateRollback"},
              {"namespace", e.target.ns},
              {"deployment", e.target.deployment},
              {"version", e.bad_version},
              {"result", e.result},
              {"severity", acted ? "critical" : "warning"}};
  std::string name =
      e.target.ns + "/" + e.target.deployment + (e.bad_version.empty() ? "" : " " + e.bad_version);
  std::string to = e.to_version.empty() ? e.baseline_version : e.to_version;
  if (to.empty() && !e.to_revision.empty()) to = "revision " + e.to_revision;
  std::string to_text = to.empty() ? "its previous revision" : to;
  if (e.result == "rolled_back") {
    a.action =
        "Rolled back to " + to + (e.to_revision.empty() ? "" : " (revision " + e.to_revision + ")");
    a.annotations["summary"] = name + " rolled back to " + to;
  } else if (e.result == "dry_run") {
    a.action = "Would roll back to " + to_text + " (dry run)";
    a.annotations["summary"] = name + " would be rolled back (dry run)";
  } else if (e.result == "paused") {
    a.action = "Waiting for a person: obsgate rollback " + e.target.ns + "/" + e.target.deployment;
    a.annotations["summary"] = name + " should be rolled back; waiting for a person";
  } else if (e.result == "refused") {
    a.action = "Not rolled back: " + e.guard;
    a.annotations["summary"] = name + " not rolled back (" + e.guard + ")";
  } else {
    a.action = "Rollback " + e.result;
    a.annotations["summary"] = name + ": rollback " + e.result;
  }
  a.annotations["description"] = e.message.empty() ? e.reason : e.message;
  a.starts_at = e.at;
  for (const auto& [k, v] : e.values) a.values.emplace_back(k.substr(0, k.find('(')), v);
  a.baseline_version = e.baseline_version;
  return a;
}

}  // namespace

core::Result<std::unique_ptr<Rollbacks>> Rollbacks::Create(
    const core::Config& config, const core::Env& env, const core::Clock& clock,
    rules::WindowStore& store, alerting::Router* router, prometheus::Registry& registry,
    std::unique_ptr<rollback::Orchestrator> orchestrator) {
  std::unique_ptr<Rollbacks> r(new Rollbacks());
  if (core::Status s = core::MakeDirectories(config.data_dir); !s) return core::Error{s.error()};
  auto audit = rollback::AuditLog::Open(config.data_dir + "/rollbacks.jsonl");
  if (!audit) return core::Error{audit.error()};
  r->audit_ = std::move(audit).value();
  if (const auto* k8s =
          std::get_if<core::KubernetesOrchestratorConfig>(&config.orchestrator.spec)) {
    auto discovery = rollback::kubernetes::KubernetesVersionDiscovery::Create(*k8s, env, clock);
    if (!discovery) return core::Error{"orchestrator.kubernetes: " + discovery.error()};
    // The first look before ingest starts, so series are counted under image tags at once.
    if (core::Status s = (*discovery)->Refresh(); !s) {
      log::Warn("cannot list deployments for version discovery yet; retrying every resync",
                {{"error", s.error()}});
    }
    (*discovery)->Start();
    rollback::kubernetes::KubernetesVersionDiscovery* d = discovery->get();
    r->stop_discovery_ = [d] { d->Stop(); };
    store.SetVersionResolver(
        [d](const core::SeriesKey& key) -> std::optional<rules::ResolvedVersion> {
          auto info = d->Lookup({key.ns, key.deployment}, key.version);
          if (!info) return std::nullopt;
          return rules::ResolvedVersion{info->version, info->rolled_out_at};
        });
    r->discovery_ = std::move(discovery).value();
  }
  if (!orchestrator) {
    auto configured = MakeOrchestrator(config.orchestrator, env, clock);
    if (!configured) return core::Error{"orchestrator: " + configured.error()};
    orchestrator = std::move(configured).value();
  }
  r->controller_ = std::make_unique<rollback::RollbackController>(
      std::move(orchestrator), config.rollback, store, *r->audit_, clock,
      [router](const rollback::RollbackEvent& e) {
        if (router) router->Announce(Announcement(e));
      },
      registry);
  // Rollbacks done before this start still count for cooldown, max_per_hour and duplicates.
  for (const rollback::RollbackEvent& e : r->audit_->Past()) {
    if (e.result == "rolled_back") r->controller_->guard().Remember(e.target, e.bad_version, e.at);
  }
  return r;
}

Rollbacks::~Rollbacks() { Stop(); }

rules::AlertListener& Rollbacks::listener() { return *controller_; }

void Rollbacks::Start() { controller_->Start(); }

void Rollbacks::Stop() {
  if (controller_) controller_->Stop();
  if (stop_discovery_) stop_discovery_();
}

void Rollbacks::InstallRoutes(server::HttpServer& server) {
  server.Route("GET", "/api/v1/rollbacks", "api_rollbacks", [this](const server::Request&) {
    return server::Response::Json(200, audit_->RecentJson());
  });
}

}  // namespace obsgate::app
