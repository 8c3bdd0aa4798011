#include "rollback/swarm/swarm_orchestrator.hpp"

#include <simdjson.h>

#include <cctype>
#include <charconv>
#include <thread>
#include <utility>

#include "core/json.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "net/http_client.hpp"
#include "rollback/swarm/engine_client.hpp"

namespace obsgate::rollback::swarm {
namespace {

using namespace std::chrono_literals;
using Failure = EngineReply::Failure;

// The newest Engine API version this code was written against; older engines are spoken to at
// their own version. The service endpoints used here have not changed since 1.29.
constexpr std::string_view kNewestApi = "1.47";
constexpr int kMaxAttempts = 5;  // updates per call: out-of-sequence answers and 5xx, re-read each
constexpr auto kPollInterval = 1s;
constexpr auto kConflictPause = 200ms;
constexpr auto kServerErrorPause = 1s;  // doubled per 5xx

std::optional<std::pair<int, int>> ParseApiVersion(std::string_view v) {
  std::size_t dot = v.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int major = 0, minor = 0;
  auto a = std::from_chars(v.data(), v.data() + dot, major);
  auto b = std::from_chars(v.data() + dot + 1, v.data() + v.size(), minor);
  if (a.ec != std::errc() || a.ptr != v.data() + dot || b.ec != std::errc() ||
      b.ptr != v.data() + v.size()) {
    return std::nullopt;
  }
  return std::pair{major, minor};
}

// The engine's {"message": "..."}, or the body's start when it is something else.
std::string EngineMessage(const EngineReply& r) {
  simdjson::dom::parser parser;
  std::string_view message;
  if (parser.parse(r.body).at_key("message").get(message) == simdjson::SUCCESS) {
    return std::string(message);
  }
  return r.body.substr(0, 200);
}

// A stale `version`: swarmkit's "update out of sequence", which the engine answers 500 (a gRPC
// "Unknown" error); 409 as well, in case an engine maps it to Conflict.
bool OutOfSequence(const EngineReply& r) {
  return r.status == 409 ||
         (r.status == 500 && r.body.find("update out of sequence") != std::string::npos);
}

std::string Hint(int status) {
  if (status == 404) return "; check the stack (namespace) and deployment names";
  if (status == 403 || status == 401) return "; check the TLS client certificate's rights";
  if (status == 503) return "; is this node a Swarm manager, and does the swarm have a leader?";
  return "";
}

// The spec with TaskTemplate.ContainerSpec.Image replaced, every other field as the engine sent
// it, so fields this code does not know survive the round trip.
void WriteWithImage(std::string& out, simdjson::dom::element e, int depth, std::string_view image) {
  static constexpr std::string_view kPath[] = {"TaskTemplate", "ContainerSpec", "Image"};
  simdjson::dom::object object;
  if (e.get(object) != simdjson::SUCCESS) {
    out += simdjson::minify(e);
    return;
  }
  out += '{';
  bool first = true;
  for (auto field : object) {
    if (!first) out += ',';
    first = false;
    out += core::JsonQuote(field.key);
    out += ':';
    if (field.key == kPath[depth]) {
      if (depth == 2) {
        out += core::JsonQuote(image);
      } else {
        WriteWithImage(out, field.value, depth + 1, image);
      }
    } else {
      out += simdjson::minify(field.value);
    }
  }
  out += '}';
}

}  // namespace

// A service as GET /services/{id} shows it.
struct Service {
  std::string id;
  std::uint64_t version = 0;
  std::string spec;           // minified JSON
  std::string previous_spec;  // empty when never updated
  std::string image;
  std::string previous_image;
  std::string state;  // UpdateStatus.State; empty when never updated
  std::string message;
  core::TimePoint updated_at;
  int replicas = 0;  // 0 for global services
};

// One look at a service, or why there is none.
struct SwarmOrchestrator::Read {
  std::optional<Service> service;
  bool retry = false;  // trying again later can help
  std::string error;
};

namespace {

std::optional<Service> ParseService(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) return std::nullopt;
  Service s;
  std::string_view text;
  simdjson::dom::element spec, previous, status;
  if (doc["ID"].get(text) != simdjson::SUCCESS) return std::nullopt;
  s.id = std::string(text);
  if (doc.at_pointer("/Version/Index").get(s.version) != simdjson::SUCCESS) return std::nullopt;
  if (doc["Spec"].get(spec) != simdjson::SUCCESS || !spec.is_object()) return std::nullopt;
  s.spec = simdjson::minify(spec);
  if (spec.at_pointer("/TaskTemplate/ContainerSpec/Image").get(text) == simdjson::SUCCESS) {
    s.image = std::string(text);
  }
  std::int64_t replicas = 0;
  if (spec.at_pointer("/Mode/Replicated/Replicas").get(replicas) == simdjson::SUCCESS) {
    s.replicas = static_cast<int>(replicas);
  }
  if (doc["PreviousSpec"].get(previous) == simdjson::SUCCESS && previous.is_object()) {
    s.previous_spec = simdjson::minify(previous);
    if (previous.at_pointer("/TaskTemplate/ContainerSpec/Image").get(text) == simdjson::SUCCESS) {
      s.previous_image = std::string(text);
    }
  }
  if (doc["UpdateStatus"].get(status) == simdjson::SUCCESS) {
    if (status["State"].get(text) == simdjson::SUCCESS) s.state = std::string(text);
    if (status["Message"].get(text) == simdjson::SUCCESS) s.message = std::string(text);
  }
  if (doc["UpdatedAt"].get(text) == simdjson::SUCCESS) {
    if (auto t = core::ParseRfc3339(text)) s.updated_at = *t;
  }
  return s;
}

}  // namespace

SwarmOrchestrator::SwarmOrchestrator(const core::SwarmOrchestratorConfig& config,
                                     const core::Clock& clock, Sleep sleep,
                                     std::unique_ptr<EngineClient> engine)
    : config_(config), clock_(clock), sleep_(std::move(sleep)), engine_(std::move(engine)) {
  if (!sleep_) sleep_ = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

SwarmOrchestrator::~SwarmOrchestrator() = default;

core::Result<std::unique_ptr<SwarmOrchestrator>> SwarmOrchestrator::Create(
    const core::SwarmOrchestratorConfig& config, const core::Clock& clock, Sleep sleep) {
  auto engine = EngineClient::Create(config);
  if (!engine) return core::Error{engine.error()};
  return std::unique_ptr<SwarmOrchestrator>(
      new SwarmOrchestrator(config, clock, std::move(sleep), std::move(engine).value()));
}

std::string SwarmOrchestrator::ServiceName(const Target& target) {
  return target.ns.empty() ? target.deployment : target.ns + "_" + target.deployment;
}

// "/v1.47", or the engine's own newest version when it is older; asked once, from /version.
std::optional<std::string> SwarmOrchestrator::ApiPrefix(std::string* error) {
  if (!api_prefix_.empty()) return api_prefix_;
  EngineReply r = engine_->Send("GET", "/version", "");
  if (r.failure != Failure::kNone || r.status != 200) {
    *error = r.failure != Failure::kNone
                 ? r.error
                 : engine_->where() + " answered /version with HTTP " + std::to_string(r.status);
    return std::nullopt;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view newest, oldest;
  if (parser.parse(r.body).get(doc) != simdjson::SUCCESS ||
      doc["ApiVersion"].get(newest) != simdjson::SUCCESS || !ParseApiVersion(newest)) {
    *error = engine_->where() + " sent no ApiVersion in /version; is it a Docker Engine?";
    return std::nullopt;
  }
  std::string_view chosen =
      *ParseApiVersion(newest) < *ParseApiVersion(kNewestApi) ? newest : kNewestApi;
  // An engine that no longer serves our version (Engine 29 refuses below 1.44) gets its oldest.
  if (doc["MinAPIVersion"].get(oldest) == simdjson::SUCCESS && ParseApiVersion(oldest) &&
      *ParseApiVersion(chosen) < *ParseApiVersion(oldest)) {
    chosen = oldest;
  }
  api_prefix_ = "/v" + std::string(chosen);
  return api_prefix_;
}

SwarmOrchestrator::Read SwarmOrchestrator::Inspect(const std::string& name) {
  Read out;
  std::string error;
  auto prefix = ApiPrefix(&error);
  if (!prefix) {
    out.retry = true;
    out.error = error;
    return out;
  }
  EngineReply r = engine_->Send("GET", *prefix + "/services/" + net::PercentEncode(name), "");
  if (r.failure != Failure::kNone) {
    out.retry = true;
    out.error = r.error;
    return out;
  }
  if (r.status != 200) {
    out.retry = r.status >= 500;
    out.error = engine_->where() + " answered HTTP " + std::to_string(r.status) + " for service " +
                name + ": " + EngineMessage(r) + Hint(r.status);
    return out;
  }
  out.service = ParseService(r.body);
  if (!out.service) out.error = engine_->where() + " sent a service " + name + " it cannot read";
  return out;
}

core::Result<std::vector<Revision>> SwarmOrchestrator::Revisions(const Target& target) {
  std::string name = ServiceName(target);
  Read read = Inspect(name);
  if (!read.service) return core::Error{read.error};
  const Service& s = *read.service;
  std::vector<Revision> out;
  Revision current;
  current.id = "current";
  current.image = s.image;
  current.version = ImageTag(s.image);
  current.rolled_out_at = s.updated_at;
  current.current = true;
  out.push_back(std::move(current));
  if (!s.previous_spec.empty()) {
    Revision previous;
    previous.id = "previous";
    previous.image = s.previous_image;
    previous.version = ImageTag(s.previous_image);
    // The engine keeps no time for the previous spec: rolled_out_at stays unknown (the epoch).
    out.push_back(std::move(previous));
  }
  return out;
}

core::Result<RolloutStatus> SwarmOrchestrator::Status(const Target& target) {
  std::string name = ServiceName(target);
  Read read = Inspect(name);
  if (!read.service) return core::Error{read.error};
  const Service& s = *read.service;
  RolloutStatus out;
  out.desired = s.replicas;
  const std::string& state = s.state;
  if (state.empty() || state == "completed" || state == "rollback_completed") {
    out.state = RolloutStatus::State::kComplete;
  } else if (state == "paused" || state == "rollback_paused") {
    out.state = RolloutStatus::State::kFailed;
  } else {
    out.state = RolloutStatus::State::kProgressing;  // updating, rollback_started, anything new
  }
  out.message = "service " + name + " runs " + s.image +
                (state.empty() ? " (never updated)"
                               : " (" + state + (s.message.empty() ? "" : ": " + s.message) + ")");
  if (out.state == RolloutStatus::State::kFailed) {
    out.message += "; see `docker service ps " + name + "`, then update or roll back by hand";
  }
  return out;
}

ActionResult SwarmOrchestrator::RollBack(const Target& target, const RollbackRequest& request) {
  const std::string& to_revision = request.to_revision;
  ActionResult result;
  std::string name = ServiceName(target);
  if (to_revision == "current") {
    result.outcome = ActionResult::Outcome::kSkipped;
    result.message = "service " + name + " already runs its current spec";
    return result;
  }
  if (!to_revision.empty() && to_revision != "previous") {
    result.message = "Swarm keeps only the previous spec of service " + name + ", not \"" +
                     to_revision + "\"; roll back to \"previous\" or set the image";
    return result;
  }
  return Update(target, /*rollback=*/true, "");
}

ActionResult SwarmOrchestrator::SetImage(const Target& target, const std::string& /*container*/,
                                         const std::string& image) {
  if (image.empty()) {
    ActionResult result;
    result.message = "no image given for service " + ServiceName(target);
    return result;
  }
  return Update(target, /*rollback=*/false, image);
}

// Reads the service, checks the change is still wanted, sends it at the version just read; on an
// out-of-sequence answer or a 5xx reads again and retries (bounded). Once a request may have
// reached the engine unanswered it is never sent again in this call: the next call reads first.
ActionResult SwarmOrchestrator::Update(const Target& target, bool rollback,
                                       const std::string& image) {
  using Outcome = ActionResult::Outcome;
  ActionResult result;
  std::string name = ServiceName(target);
  const char* what = rollback ? "roll back" : "update";
  auto server_pause = kServerErrorPause;
  std::string last_error;
  Service s;
  bool accepted = false;
  for (int attempt = 0; attempt < kMaxAttempts && !accepted; ++attempt) {
    Read read = Inspect(name);
    if (!read.service) {
      result.outcome = read.retry ? Outcome::kRetry : Outcome::kFailed;
      result.message = "cannot " + std::string(what) + " service " + name + ": " + read.error;
      return result;
    }
    s = std::move(*read.service);
    result.from_version = ImageTag(s.image);
    if (rollback) {
      result.to_version = ImageTag(s.previous_image);
      if (s.previous_spec.empty()) {
        result.outcome = Outcome::kFailed;
        result.message = "service " + name + " has no previous spec to roll back to: it was " +
                         "never updated since it was created";
        return result;
      }
      if (s.state == "rollback_started" || s.state == "rollback_paused" ||
          s.state == "rollback_completed") {
        // The spec in place is already the rolled-back one: rolling back again would bring back
        // the release that was undone.
        result.outcome = Outcome::kSkipped;
        result.from_version = ImageTag(s.previous_image);
        result.to_version = ImageTag(s.image);
        result.message = "service " + name + " is already rolled back to " + s.image + " (" +
                         s.state + "); deploy a fixed release to move it on";
        return result;
      }
      if (s.spec == s.previous_spec) {
        result.outcome = Outcome::kSkipped;
        result.message = "the previous spec of service " + name + " equals the current one";
        return result;
      }
    } else {
      result.to_version = ImageTag(image);
      if (s.image == image) {
        result.outcome = Outcome::kSkipped;
        result.message = "service " + name + " already runs " + image;
        return result;
      }
    }
    std::string prefix = api_prefix_;
    std::string request = prefix + "/services/" + net::PercentEncode(s.id) +
                          "/update?version=" + std::to_string(s.version) +
                          (rollback ? "&rollback=previous" : "");
    std::string body = s.spec;  // as the docker CLI sends it; the engine ignores it on rollback
    if (!rollback) {
      simdjson::dom::parser parser;
      simdjson::dom::element spec;
      if (parser.parse(s.spec).get(spec) != simdjson::SUCCESS) {
        result.outcome = Outcome::kFailed;
        result.message = "cannot read the spec of service " + name;
        return result;
      }
      body.clear();
      WriteWithImage(body, spec, 0, image);
    }
    result.detail = "POST " + request;
    EngineReply r = engine_->Send("POST", request, body);
    if (r.failure == Failure::kNoAnswer) {
      result.outcome = Outcome::kRetry;
      result.message = "the " + std::string(what) + " of service " + name +
                       " may or may not have been made: " + r.error +
                       "; the next attempt reads the service first and will not repeat it";
      return result;
    }
    if (r.failure == Failure::kNotSent) {
      result.outcome = Outcome::kRetry;
      result.message = "cannot " + std::string(what) + " service " + name + ": " + r.error;
      return result;
    }
    if (r.status / 100 == 2) {
      accepted = true;
      break;
    }
    last_error =
        engine_->where() + " answered HTTP " + std::to_string(r.status) + ": " + EngineMessage(r);
    if (OutOfSequence(r)) {
      // Someone (or swarmkit itself, moving a rollout on) changed the service since it was read.
      sleep_(kConflictPause * (attempt + 1));
      continue;
    }
    if (r.status >= 500) {
      sleep_(std::chrono::duration_cast<std::chrono::milliseconds>(server_pause));
      server_pause *= 2;
      continue;
    }
    result.outcome = Outcome::kFailed;
    result.message =
        "cannot " + std::string(what) + " service " + name + ": " + last_error + Hint(r.status);
    return result;
  }
  if (!accepted) {
    result.outcome = Outcome::kRetry;
    result.message = "cannot " + std::string(what) + " service " + name + " after " +
                     std::to_string(kMaxAttempts) + " attempts: " + last_error;
    return result;
  }
  if (!rollback) {
    result.outcome = Outcome::kDone;
    result.message = "updating service " + name + " from " + s.image + " to " + image;
    return result;
  }
  // Follow the rollback. A read right after the update may still show the state before it
  // (the engine's reads can lag its writes), so only rollback_* states count.
  auto deadline = clock_.Now() + config_.rollout_timeout;
  std::string seen = "no answer";
  for (;;) {
    Read read = Inspect(name);
    if (read.service) {
      const Service& now = *read.service;
      seen = now.state + (now.message.empty() ? "" : ": " + now.message);
      if (now.state == "rollback_completed") {
        result.outcome = Outcome::kDone;
        result.message = "rolled back service " + name + " from " + s.image + " to " +
                         s.previous_image + " (" + seen + ")";
        return result;
      }
      if (now.state == "rollback_paused") {
        result.outcome = Outcome::kFailed;
        result.message = "the rollback of service " + name + " to " + s.previous_image +
                         " was started and then paused (" + seen + "); see `docker service ps " +
                         name + "` and finish it by hand";
        return result;
      }
    } else {
      seen = read.error;
    }
    if (clock_.Now() >= deadline) break;
    sleep_(kPollInterval);
  }
  // The change was made and must not be repeated; only its end was not seen.
  result.outcome = Outcome::kDone;
  result.message = "started the rollback of service " + name + " from " + s.image + " to " +
                   s.previous_image + "; not completed within " +
                   core::FormatDuration(config_.rollout_timeout) + " (last seen: " + seen +
                   "); follow it with `docker service ps " + name + "`";
  return result;
}

}  // namespace obsgate::rollback::swarm
