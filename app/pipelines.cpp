#include "app/pipelines.hpp"

#include <simdjson.h>

#include "alerting/router.hpp"
#include "app/rollbacks.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "deploy/pipeline/runner.hpp"
#include "ha/leader_election.hpp"
#include "rollback/controller.hpp"
#include "rules/window_store.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {
namespace {

// A transition as the alerting router carries it: an event under alertname ObsgatePipeline.
alerting::AlertSnapshot Announcement(const deploy::Run& r, int step) {
  const deploy::StepRecord* s = step >= 0 ? &r.steps[static_cast<std::size_t>(step)] : nullptr;
  std::string state = s ? deploy::StepStateName(s->state) : deploy::RunStateName(r.state);
  std::string what = s ? s->kind : "run";
  alerting::AlertSnapshot a;
  a.fingerprint = "pipeline-" + r.id + "-" + std::to_string(step) + "-" + state;
  a.status = "firing";
  bool bad = state == "failed" || state == "rolled_back" || state == "interrupted";
  bool waiting = state == "waiting" || state == "waiting_for_approval" || state == "inconclusive";
  a.labels = {{"alertname", "ObsgatePipeline"},
              {"pipeline", r.pipeline},
              {"namespace", r.ns},
              {"deployment", r.deployment},
              {"version", r.tag},
              {"step", what},
              {"state", state},
              {"environment", r.environment},
              {"severity", bad       ? "critical"
                           : waiting ? "warning"
                                     : "info"}};
  a.annotations["summary"] = r.pipeline + " " + r.tag + ": " +
                             (s ? what + " " + state : "run " + state) + " (" + r.id + ")";
  std::string description = s ? s->message : r.message;
  if (!s && !r.roll_forward.empty())
    description += (description.empty() ? "" : "; ") + r.roll_forward;
  a.annotations["description"] = description;
  if (waiting) {
    a.action = "Waiting for a person: obsgate approve " + r.id + " (or abort)";
  } else if (!s && r.state == deploy::RunState::kRolledBack) {
    a.action = "Rolled back to " +
               (r.previous_version.empty() ? "the previous revision" : r.previous_version);
  } else {
    a.action = "Pipeline " + what + " " + state;
  }
  a.starts_at = s && s->started != core::TimePoint{} ? s->started : r.created;
  if (s) {
    for (const auto& [k, v] : s->values) a.values.emplace_back(k.substr(0, k.find('(')), v);
  }
  a.baseline_version = r.previous_version;
  return a;
}

std::string RunsJson(const std::vector<deploy::Run>& runs) {
  std::string out = "[";
  for (std::size_t i = 0; i < runs.size(); ++i) out += (i ? "," : "") + deploy::RunJson(runs[i]);
  return out + "]";
}

std::string PipelinesJson(const std::vector<core::PipelineConfig>& pipelines) {
  std::string out = "[";
  for (std::size_t i = 0; i < pipelines.size(); ++i) {
    const core::PipelineConfig& p = pipelines[i];
    std::string steps = "[";
    for (std::size_t k = 0; k < p.steps.size(); ++k) {
      steps +=
          std::string(k ? "," : "") + "\"" + core::PipelineStepKindName(p.steps[k].kind) + "\"";
    }
    out += std::string(i ? "," : "") + "{\"name\":" + core::JsonQuote(p.name) +
           ",\"namespace\":" + core::JsonQuote(p.ns) +
           ",\"deployment\":" + core::JsonQuote(p.deployment) +
           ",\"image\":" + core::JsonQuote(p.image) + ",\"environment\":\"" +
           core::EnvironmentName(p.environment) + "\",\"onFailure\":\"" +
           (p.rollback_on_failure ? "rollback" : "none") + "\",\"steps\":" + steps + "]}";
  }
  return out + "]";
}

server::Response Answer(const deploy::RunAnswer& a) {
  if (!a.error.empty()) {
    // The error with the run it is about, so a 409 says which run is in the way.
    std::string body = "{\"status\":\"error\",\"error\":" + core::JsonQuote(a.error) +
                       (a.run ? ",\"run\":" + deploy::RunJson(*a.run) : "") + "}";
    return server::Response::Json(a.status, body);
  }
  return server::Response::Json(a.status, a.run ? deploy::RunJson(*a.run) : "{}");
}

// The tag from a JSON body {"tag": "..."} or the query (?tag=).
std::optional<std::string> TagOf(const server::Request& request) {
  if (auto q = request.QueryParam("tag")) return q;
  if (request.body.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string_view tag;
  if (parser.parse(request.body).get_object().get(o) || o["tag"].get_string().get(tag)) {
    return std::nullopt;
  }
  return std::string(tag);
}

}  // namespace

core::Result<std::unique_ptr<Pipelines>> Pipelines::Create(
    const core::Config& config, const core::Clock& clock, rules::WindowStore& store,
    Rollbacks& rollbacks, alerting::Router* router, prometheus::Registry& registry,
    std::shared_ptr<ha::Leadership> leadership) {
  std::unique_ptr<Pipelines> p(new Pipelines());
  p->pipelines_ = config.pipelines;
  p->leadership_ = std::move(leadership);
  deploy::RunnerOptions options;
  options.runs_dir = config.data_dir + "/runs";
  options.may_act = [l = p->leadership_] { return l->leading(); };
  p->runner_ = std::make_unique<deploy::PipelineRunner>(
      config.pipelines, rollbacks.controller().orchestrator(), &rollbacks.controller(), store,
      clock,
      [router](const deploy::Run& run, int step) {
        if (router) router->Announce(Announcement(run, step));
      },
      registry, options);
  if (core::Status s = p->runner_->Load(); !s) return core::Error{"pipeline runs: " + s.error()};
  return p;
}

Pipelines::~Pipelines() { Stop(); }

void Pipelines::Start() { runner_->Start(); }

void Pipelines::Stop() {
  if (runner_) runner_->Stop();
}

std::optional<server::Response> Pipelines::Standby() const {
  if (leadership_->leading()) return std::nullopt;
  const std::string holder = leadership_->holder();
  server::Response r = server::Response::Error(
      503, "this replica (" + leadership_->identity() + ") stands by; " +
               (holder.empty() ? std::string("the leader") : holder) +
               " runs pipelines: send it there (GET /api/v1/leader says who leads)");
  r.headers.push_back({"Retry-After", "2"});
  return r;
}

void Pipelines::InstallRoutes(server::HttpServer& server,
                              std::shared_ptr<server::Admission> writes) {
  using server::Request;
  using server::Response;
  server.Route("GET", "/api/v1/pipelines", "api_pipelines",
               [this](const Request&) { return Response::Json(200, PipelinesJson(pipelines_)); });
  server.Route(
      "POST", "/api/v1/pipelines/*", "api_pipeline_runs",
      [this](const Request& r) {
        constexpr std::string_view kPrefix = "/api/v1/pipelines/";
        std::string rest = server::PercentDecode(std::string_view(r.path).substr(kPrefix.size()));
        if (!rest.ends_with("/runs") || rest.size() == 5) {
          return Response::Error(404, "POST /api/v1/pipelines/NAME/runs starts a run");
        }
        if (auto standby = Standby()) return *standby;
        std::optional<std::string> tag = TagOf(r);
        if (!tag) return Response::Error(400, "say which tag to roll out: {\"tag\": \"v1.2.0\"}");
        return Answer(runner_->StartRun(rest.substr(0, rest.size() - 5), *tag));
      },
      writes);
  server.Route("GET", "/api/v1/runs", "api_runs",
               [this](const Request&) { return Response::Json(200, RunsJson(runner_->Runs())); });
  server.Route("GET", "/api/v1/runs/*", "api_run", [this](const Request& r) {
    std::string id = server::PercentDecode(std::string_view(r.path).substr(13));
    auto run = runner_->Find(id);
    if (!run) return Response::Error(404, "no run is named \"" + id + "\"; see GET /api/v1/runs");
    return Response::Json(200, deploy::RunJson(*run));
  });
  server.Route(
      "POST", "/api/v1/runs/*", "api_run_action",
      [this](const Request& r) {
        std::string rest = server::PercentDecode(std::string_view(r.path).substr(13));
        std::size_t slash = rest.rfind('/');
        std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
        std::string id = slash == std::string::npos ? rest : rest.substr(0, slash);
        if (auto standby = Standby()) return *standby;
        if (action == "approve") return Answer(runner_->Approve(id));
        if (action == "abort") return Answer(runner_->Abort(id));
        return Response::Error(404, "POST /api/v1/runs/ID/approve or /api/v1/runs/ID/abort");
      },
      writes);
}

}  // namespace obsgate::app
