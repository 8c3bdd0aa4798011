#include "app/gateway.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <sstream>

#include "app/alerting.hpp"
#include "app/cluster.hpp"
#include "app/deployments_api.hpp"
#include "app/ingest.hpp"
#include "app/pipelines.hpp"
#include "app/rollbacks.hpp"
#include "app/rules_setup.hpp"
#include "app/status_page.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/process_metrics.hpp"
#include "core/version.hpp"
#include "ha/leader_election.hpp"
#include "rollback/controller.hpp"
#include "rules/rule_engine.hpp"
#include "rules/window_metrics.hpp"
#include "rules/window_store.hpp"
#include "server/bearer.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {
namespace {

server::ServerOptions OptionsFrom(const core::ServerConfig& s) {
  server::ServerOptions o;
  o.host = s.host;
  o.port = s.port;
  o.threads = s.threads;
  o.max_header_bytes = s.max_header_bytes;
  o.max_body_bytes = s.max_body_bytes;
  o.read_timeout = s.read_timeout;
  o.idle_timeout = s.idle_timeout;
  return o;
}

rules::WindowOptions WindowOptionsFrom(const core::WindowsConfig& w) {
  rules::WindowOptions o;
  o.resolution = w.resolution;
  o.horizon = w.horizon;
  o.max_series = w.max_series;
  o.idle_ttl = w.idle_series_ttl;
  return o;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Gateway::Gateway(core::Config config, std::optional<std::string> config_path, core::Env env,
                 std::unique_ptr<core::Clock> clock)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      env_(std::move(env)),
      registry_(std::make_shared<prometheus::Registry>()),
      process_metrics_(std::make_unique<core::ProcessMetrics>()) {
  prometheus::BuildGauge()
      .Name("obsgate_build_info")
      .Help(
          "A metric with a constant 1 value labelled by the version and git revision obsgate "
          "was built from.")
      .Register(*registry_)
      .Add({{"version", std::string(Version())}, {"revision", std::string(Revision())}})
      .Set(1);
  reload_ok_ = &prometheus::BuildGauge()
                    .Name("obsgate_config_last_reload_successful")
                    .Help("Whether the last configuration reload attempt was successful.")
                    .Register(*registry_)
                    .Add({});
  reload_time_ = &prometheus::BuildGauge()
                      .Name("obsgate_config_last_reload_success_timestamp_seconds")
                      .Help("Timestamp of the last successful configuration reload.")
                      .Register(*registry_)
                      .Add({});
  if (!config_.server.api_token.empty()) {
    prometheus::Counter& refused =
        prometheus::BuildCounter()
            .Name("obsgate_api_unauthorized_total")
            .Help("API calls that would change something, refused for a missing or wrong token.")
            .Register(*registry_)
            .Add({});
    writes_ =
        server::BearerAdmission(config_.server.api_token, [&refused] { refused.Increment(); });
  }
  reload_ok_->Set(1);
  reload_time_->Set(NowSeconds());
  clock_ = clock ? std::move(clock) : std::make_unique<core::SystemClock>();
  store_ = std::make_unique<rules::WindowStore>(WindowOptionsFrom(config_.windows), *clock_);
  window_metrics_ = std::make_unique<rules::WindowMetrics>(*store_);
  server_ = std::make_unique<server::HttpServer>(OptionsFrom(config_.server), *registry_);
  ingest_ = std::make_unique<Ingest>(*store_, *registry_);
  InstallRoutes();
}

Gateway::~Gateway() { Stop(); }

void Gateway::InstallRoutes() {
  using server::Request;
  using server::Response;
  server_->Route("GET", "/health", "health",
                 [](const Request&) { return Response::Text(200, "ok\n"); });
  server_->Route("GET", "/ready", "ready", [this](const Request&) {
    return ready_ ? Response::Text(200, "ready\n")
                  : Response::Text(503, "not ready: starting or stopping\n");
  });
  server_->Route("GET", "/metrics", "metrics", [this](const Request&) {
    Response r = Response::Text(200, MetricsText());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  server_->Route("GET", "/api/v1/deployments", "api_deployments", [this](const Request&) {
    return Response::Json(200, DeploymentsJson(*store_, ingest_->handovers()));
  });
  server_->Route(
      "GET", "/api/v1/deployments/history", "api_deployment_history",
      [this](const Request&) { return Response::Json(200, DeploymentHistoryJson(*store_)); });
  server_->Route("GET", "/api/v1/rules", "api_rules", [this](const Request&) {
    auto engine = this->engine();
    if (!engine) return Response::Error(503, "rules are not loaded yet");
    return Response::Json(200, engine->RulesJson());
  });
  server_->Route("GET", "/api/v1/alerts", "api_alerts", [this](const Request&) {
    auto engine = this->engine();
    if (!engine) return Response::Error(503, "rules are not loaded yet");
    return Response::Json(200, engine->AlertsJson());
  });
  InstallStatusPage(*server_);
  server_->Route(
      "POST", "/-/reload", "reload",
      [this](const Request&) {
        core::Status s = Reload();
        if (!s) return Response::Error(500, s.error());
        return Response::Text(200, "configuration reloaded\n");
      },
      writes_);
}

core::Status Gateway::JoinCluster() {
  using server::Request;
  using server::Response;
  if (!config_.cluster.enabled()) return core::Ok{};
  auto cluster = Cluster::Create(config_.cluster, config_.server.api_token, *registry_);
  if (!cluster) return core::Error{"cluster: " + cluster.error()};
  cluster_ = std::move(cluster).value();
  if (config_.server.api_token.empty()) {
    log::Warn(
        "cluster: without server.api_token, whoever reaches this port can add counts and "
        "hand rollbacks to the leader",
        {{"hint", "set server.api_token (the same on every replica)"}});
  }
  ingest_->UseCluster(cluster_.get());
  rollbacks_->controller().ForwardWhenStandingBy(
      [c = cluster_.get()](const rollback::Candidate& candidate, const rollback::RollbackEvent& e,
                           const std::string& rule) {
        c->ForwardRollback({c->self(), rule, candidate, e.values});
        return std::string("handed to the leader, which decides");
      });
  server_->Route(
      "POST", "/api/v1/cluster/counts", "cluster_counts",
      [this](const Request& req) {
        core::LocalCounts counts;
        if (core::Status s = cluster_->Take(req.body, counts); !s) {
          return Response::Error(400, s.error());
        }
        store_->Merge(counts);
        return Response::Json(200, "{\"status\":\"success\"}");
      },
      writes_);
  server_->Route(
      "POST", "/api/v1/cluster/rollbacks", "cluster_rollbacks",
      [this](const Request& req) {
        auto r = cluster_->TakeRollback(req.body);
        if (!r) return Response::Error(400, r.error());
        std::string verdict =
            rollbacks_->controller().DecideForwarded(r->candidate, r->rule, r->from, r->values);
        if (verdict == "standby") {
          return Response::Error(409, "standing by; " + leadership_->holder() + " leads");
        }
        return Response::Json(
            202, "{\"status\":\"success\",\"verdict\":" + core::JsonQuote(verdict) + "}");
      },
      writes_);
  cluster_->Start([this](core::LocalCounts& counts) { store_->Merge(counts); });
  log::Info("cluster joined", {{"self", cluster_->self()},
                               {"peers", static_cast<std::int64_t>(config_.cluster.peers.size())}});
  return core::Ok{};
}

void Gateway::UseOrchestrator(std::unique_ptr<rollback::Orchestrator> orchestrator) {
  orchestrator_ = std::move(orchestrator);
}

core::Status Gateway::Start() {
  log_alerts_ = std::make_unique<LogAlerts>();
  auto alerting = Alerting::Create(config_, env_, *clock_, *registry_);
  if (!alerting) return core::Error{alerting.error()};
  alerting_ = std::move(alerting).value();
  alerting_->InstallRoutes(*server_, writes_);
  auto rollbacks = Rollbacks::Create(config_, env_, *clock_, *store_, &alerting_->router(),
                                     *registry_, std::move(orchestrator_));
  if (!rollbacks) return core::Error{rollbacks.error()};
  rollbacks_ = std::move(rollbacks).value();
  rollbacks_->InstallRoutes(*server_);
  if (config_.leader_election.enabled) {
    auto elector = ha::LeaderElector::Create(config_, env_, *clock_, *registry_);
    if (!elector) return core::Error{"leader_election: " + elector.error()};
    elector_ = std::move(elector).value();
    leadership_ = elector_;
  } else {
    leadership_ = ha::AlwaysLeading(ha::DefaultIdentity());
  }
  rollbacks_->controller().UseLeadership([l = leadership_] { return l->leading(); },
                                         [l = leadership_] { return l->holder(); });
  server_->Route("GET", "/api/v1/leader", "api_leader", [this](const server::Request&) {
    return server::Response::Json(
        200, "{\"identity\":" + core::JsonQuote(leadership_->identity()) +
                 ",\"leading\":" + (leadership_->leading() ? "true" : "false") +
                 ",\"holder\":" + core::JsonQuote(leadership_->holder()) + ",\"lock\":" +
                 core::JsonQuote(elector_ ? elector_->Describe() : "none: one replica alone") +
                 "}");
  });
  auto pipelines = Pipelines::Create(config_, *clock_, *store_, *rollbacks_, &alerting_->router(),
                                     *registry_, leadership_);
  if (!pipelines) return core::Error{pipelines.error()};
  pipelines_ = std::move(pipelines).value();
  pipelines_->InstallRoutes(*server_, writes_);
  auto engine = MakeEngine(config_);
  if (!engine) return core::Error{engine.error()};
  {
    std::lock_guard lock(engine_mu_);
    engine_ = *engine;
  }
  if (core::Status joined = JoinCluster(); !joined) return joined;
  if (config_.leader_election.enabled && !config_.cluster.enabled()) {
    for (const core::SourceConfig& source : config_.sources) {
      if (!std::holds_alternative<core::KafkaSourceConfig>(source.spec)) continue;
      // Partitions split the counts: the leader may hold none of a deployment's evidence.
      log::Warn(
          "a kafka source shares its partitions between replicas, but no cluster: lists "
          "them; a standby's rollbacks cannot reach the leader",
          {{"source", source.name}, {"hint", "list every replica under cluster: peers"}});
    }
  }
  if (core::Status s = ingest_->Configure(config_, *server_); !s) return s;
  core::Status s = server_->Start();
  if (!s) return s;
  alerting_->Start();
  if (elector_) {
    // The first round before anything acts: a lone replica leads from its first tick.
    elector_->TryAcquireOrRenew();
    elector_->Start();
  }
  rollbacks_->Start();
  pipelines_->Start();
  ticker_ = std::thread([this] { TickLoop(); });
  if (core::Status started = ingest_->Start(); !started) {
    Stop();
    return started;
  }
  log::Info("obsgate started", {{"version", Version()},
                                {"revision", Revision()},
                                {"config", config_.file},
                                {"listen", config_.server.host + ":" + std::to_string(port())}});
  ready_ = true;
  return s;
}

void Gateway::Stop() {
  if (!server_) return;
  bool was_ready = ready_.exchange(false);
  bool clean = server_->Stop(config_.server.shutdown_timeout);
  ingest_->Stop();                 // sources deliver what they counted and write their checkpoints
  if (cluster_) cluster_->Stop();  // what was counted for other replicas goes to them
  if (ticker_.joinable()) {
    {
      std::lock_guard lock(tick_mu_);
      stop_ticking_ = true;
    }
    tick_cv_.notify_all();
    ticker_.join();
  }
  if (pipelines_) pipelines_->Stop();  // a step at work finishes first
  if (rollbacks_) rollbacks_->Stop();
  if (elector_) elector_->Stop();  // released, so another replica takes over at once
  if (alerting_) alerting_->Stop();
  if (was_ready) {
    log::Info("obsgate stopped", {{"clean", clean}});
  }
}

core::Status Gateway::Reload() {
  std::lock_guard lock(config_mu_);
  if (!config_path_) {
    log::Info("reload requested; running on the embedded default, nothing to read");
    return core::Ok{};
  }
  core::ConfigLoad load = LoadChecked(*config_path_, env_);
  if (!load.config) {
    for (const core::ConfigProblem& p : load.problems) {
      log::Error("configuration problem", {{"problem", p.ToString()}});
    }
    reload_ok_->Set(0);
    std::string msg =
        "the new configuration has " + std::to_string(load.problems.size()) +
        " problem(s) and was not applied; the first: " + load.problems.front().ToString();
    log::Error("reload refused; the previous configuration keeps running",
               {{"problems", load.problems.size()}});
    return core::Error{msg};
  }
  if (!(load.config->server == config_.server) || !(load.config->windows == config_.windows) ||
      !(load.config->sources == config_.sources) || !(load.config->classify == config_.classify) ||
      !(load.config->alerting == config_.alerting) || load.config->data_dir != config_.data_dir ||
      !(load.config->orchestrator == config_.orchestrator) ||
      !(load.config->rollback == config_.rollback) ||
      !(load.config->leader_election == config_.leader_election) ||
      !(load.config->cluster == config_.cluster)) {
    log::Warn(
        "listen, server, windows, sources, classify, route, receivers, orchestrator, rollback, "
        "leader_election, cluster and data_dir settings change only on restart",
        {{"hint", "restart obsgate to apply them"}});
  }
  if (!(load.config->rules == config_.rules) || load.config->rules_given != config_.rules_given) {
    auto engine = MakeEngine(*load.config);
    if (!engine) {
      reload_ok_->Set(0);
      return core::Error{"the new rules were not applied: " + engine.error()};
    }
    std::lock_guard lock(engine_mu_);
    engine_ = *engine;  // alerts start over from the new rules' first evaluation
  }
  load.config->server = config_.server;
  load.config->windows = config_.windows;
  load.config->sources = config_.sources;
  load.config->classify = config_.classify;
  load.config->alerting = config_.alerting;
  load.config->data_dir = config_.data_dir;
  load.config->orchestrator = config_.orchestrator;
  load.config->rollback = config_.rollback;
  load.config->leader_election = config_.leader_election;
  load.config->cluster = config_.cluster;
  config_ = std::move(*load.config);
  reload_ok_->Set(1);
  reload_time_->Set(NowSeconds());
  log::Info("configuration reloaded", {{"config", config_.file}});
  return core::Ok{};
}

std::shared_ptr<rules::RuleEngine> Gateway::engine() const {
  std::lock_guard lock(engine_mu_);
  return engine_;
}

core::Result<std::shared_ptr<rules::RuleEngine>> Gateway::MakeEngine(const core::Config& config) {
  // Rebuilt on reload with the same metric families: prometheus-cpp hands back the existing one.
  auto engine = rules::RuleEngine::Create(RuleSpecsFrom(config), *store_, *clock_, *registry_);
  if (!engine) return core::Error{engine.error()};
  std::shared_ptr<rules::RuleEngine> shared = std::move(engine).value();
  shared->AddListener(log_alerts_.get());
  if (alerting_) shared->AddListener(&alerting_->listener());
  if (rollbacks_) shared->AddListener(&rollbacks_->listener());
  return shared;
}

void Gateway::TickLoop() {
  std::unique_lock lock(tick_mu_);
  while (!tick_cv_.wait_for(lock, config_.windows.resolution, [this] { return stop_ticking_; })) {
    store_->Tick();
    engine()->Evaluate();
    // A replica that has just taken the lead decides the rollbacks it stood by for.
    rollbacks_->controller().DecideWhatWasStoodBy();
    alerting_->Tick();
  }
}

std::uint16_t Gateway::port() const { return server_->port(); }

std::string Gateway::MetricsText() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const prometheus::Collectable* c :
       {static_cast<const prometheus::Collectable*>(window_metrics_.get()),
        static_cast<const prometheus::Collectable*>(process_metrics_.get())}) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace obsgate::app
