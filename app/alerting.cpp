#include "app/alerting.hpp"

#include <prometheus/registry.h>

#include "alerting/dispatcher.hpp"
#include "alerting/outbox.hpp"
#include "alerting/router.hpp"
#include "alerting/silences.hpp"
#include "app/notifiers.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {

const char* const kDefaultAlertingYaml = R"(receivers:
  - name: log
    log: {}
route:
  receiver: log
  group_by: [alertname, namespace, deployment]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
)";

core::AlertingConfig EffectiveAlerting(const core::Config& config) {
  if (config.alerting.given) return config.alerting;
  core::ConfigLoad load =
      core::ParseConfig(kDefaultAlertingYaml, "<default alerting>", core::ProcessEnv());
  core::AlertingConfig out = load.parsed.alerting;
  out.external_url = config.alerting.external_url;
  out.give_up_after = config.alerting.give_up_after;
  out.retry_initial = config.alerting.retry_initial;
  out.retry_max = config.alerting.retry_max;
  out.history = config.alerting.history;
  return out;
}

core::Result<std::unique_ptr<Alerting>> Alerting::Create(const core::Config& config,
                                                         const core::Env& env,
                                                         const core::Clock& clock,
                                                         prometheus::Registry& registry) {
  core::AlertingConfig alerting = EffectiveAlerting(config);
  std::unique_ptr<Alerting> a(new Alerting());
  if (core::Status s = core::MakeDirectories(config.data_dir); !s) return core::Error{s.error()};
  auto outbox = alerting::Outbox::Open(config.data_dir + "/notifications.outbox");
  if (!outbox) return core::Error{"cannot open the notification outbox: " + outbox.error()};
  a->outbox_ = std::move(outbox).value();
  auto silences = alerting::Silences::Open(config.data_dir + "/silences.json", clock);
  if (!silences) return core::Error{"cannot read the silences: " + silences.error()};
  a->silences_ = std::move(silences).value();
  std::vector<std::unique_ptr<alerting::Notifier>> notifiers;
  for (const core::ReceiverConfig& r : alerting.receivers) {
    auto n = MakeNotifier(r, env);
    // The receiver's name only: its URL or key may be a secret.
    if (!n) return core::Error{"receiver " + r.name + ": " + n.error()};
    notifiers.push_back(std::move(n).value());
  }
  alerting::DispatcherOptions options;
  options.give_up_after = alerting.give_up_after;
  options.retry_initial = alerting.retry_initial;
  options.retry_max = alerting.retry_max;
  options.history = static_cast<std::size_t>(alerting.history);
  a->dispatcher_ = std::make_unique<alerting::Dispatcher>(*a->outbox_, std::move(notifiers), clock,
                                                          options, registry);
  a->router_ = std::make_unique<alerting::Router>(
      alerting, a->dispatcher_->Traits(), *a->silences_, clock,
      [d = a->dispatcher_.get()](alerting::Notification n) { d->Submit(std::move(n)); });
  return a;
}

Alerting::~Alerting() { Stop(); }

rules::AlertListener& Alerting::listener() { return *router_; }

void Alerting::Start() {
  dispatcher_->Resume();
  dispatcher_->Start();
}

void Alerting::Stop() {
  if (dispatcher_) dispatcher_->Stop();
}

void Alerting::Tick() { router_->Flush(); }

std::size_t Alerting::pending() const { return outbox_->depth(); }

void Alerting::InstallRoutes(server::HttpServer& server,
                             std::shared_ptr<server::Admission> writes) {
  using server::Request;
  using server::Response;
  server.Route("GET", "/api/v1/silences", "api_silences",
               [this](const Request&) { return Response::Json(200, silences_->ListJson()); });
  server.Route(
      "POST", "/api/v1/silences", "api_silences",
      [this](const Request& req) {
        auto id = silences_->Post(req.body);
        if (!id) return Response::Error(400, id.error());
        log::Info("silence created", {{"id", *id}});
        return Response::Json(200, "{\"silenceID\":\"" + *id + "\"}");
      },
      writes);
  server.Route(
      "DELETE", "/api/v1/silences/*", "api_silence",
      [this](const Request& req) {
        std::string id =
            server::PercentDecode(req.path.substr(std::string("/api/v1/silences/").size()));
        core::Status s = silences_->Expire(id);
        if (!s) return Response::Error(404, s.error());
        log::Info("silence expired", {{"id", id}});
        return Response::Json(200, "{\"status\":\"success\"}");
      },
      writes);
  server.Route("GET", "/api/v1/notifications", "api_notifications",
               [this](const Request&) { return Response::Json(200, dispatcher_->RecentJson()); });
  server.Route("GET", "/api/v1/alerts/groups", "api_alert_groups",
               [this](const Request&) { return Response::Json(200, router_->GroupsJson()); });
}

}  // namespace obsgate::app
