#include "deploy/pipeline/runner.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <re2/re2.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "net/http_client.hpp"
#include "rollback/controller.hpp"
#include "rollback/exec/exec_orchestrator.hpp"
#include "rules/expr.hpp"
#include "rules/window_store.hpp"

namespace obsgate::deploy {

using Kind = core::PipelineStepConfig::Kind;

// An analyze step compiled: the expression, the failure one, and the conjuncts of the expression
// that only count traffic (requests(1m) >= 50): when those never held by the deadline, the
// answer is "not enough traffic" (inconclusive), not "bad release".
struct PipelineRunner::Analysis {
  std::optional<rules::Expression> expr;
  std::optional<rules::Expression> fail;
  std::vector<rules::Expression> traffic;
  std::string error;  // the expression did not compile (check-config says so first)
};

namespace {

constexpr std::size_t kMaxOutput = 16 * 1024;

const char* const kRunStates[] = {"running", "waiting_for_approval", "inconclusive", "succeeded",
                                  "failed",  "rolled_back",          "aborted",      "interrupted"};
const char* const kStepStates[] = {"pending", "running", "succeeded",
                                   "failed",  "skipped", "waiting"};

bool IsTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (char c : tag) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

// A tagged release, as production takes: vMAJOR.MINOR.PATCH.
bool IsRelease(const std::string& tag) {
  static const RE2 kRelease(R"(v\d+\.\d+\.\d+)");
  return RE2::FullMatch(tag, kRelease);
}

// The top-level conjuncts of an expression's text: "a and (b or c) and d" -> a, (b or c), d.
std::vector<std::string> Conjuncts(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')') --depth;
    if (depth == 0 && text.substr(i, 5) == " and ") {
      out.emplace_back(text.substr(start, i - start));
      start = i + 5;
      i += 4;
    }
  }
  out.emplace_back(text.substr(start));
  return out;
}

// Reads only traffic: requests or log lines, nothing about errors.
bool CountsTraffic(std::string_view conjunct) {
  bool traffic = conjunct.find("requests(") != std::string_view::npos ||
                 conjunct.find("log_lines(") != std::string_view::npos;
  for (std::string_view error : {"error", "burn_rate", "worse_than"}) {
    if (conjunct.find(error) != std::string_view::npos) return false;
  }
  return traffic;
}

std::string Seconds(core::TimePoint from, core::TimePoint to) {
  return core::FormatDuration(std::chrono::duration_cast<core::Duration>(to - from));
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string Time(core::TimePoint t) {
  return t == core::TimePoint{} ? "null" : "\"" + core::FormatRfc3339(t) + "\"";
}

}  // namespace

const char* RunStateName(RunState s) { return kRunStates[static_cast<int>(s)]; }
const char* StepStateName(StepState s) { return kStepStates[static_cast<int>(s)]; }
bool Active(RunState s) {
  return s == RunState::kRunning || s == RunState::kWaitingForApproval ||
         s == RunState::kInconclusive;
}

std::string RunJson(const Run& r) {
  auto q = [](const std::string& s) { return core::JsonQuote(s); };
  std::string steps = "[";
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const StepRecord& s = r.steps[i];
    std::string values = "{";
    for (std::size_t v = 0; v < s.values.size(); ++v) {
      values += (v ? "," : "") + q(s.values[v].first) + ":" + core::JsonNumber(s.values[v].second);
    }
    values += "}";
    std::string findings = "[";
    for (std::size_t f = 0; f < s.findings.size(); ++f) {
      const MigrationFinding& m = s.findings[f];
      findings += std::string(f ? "," : "") + "{\"file\":" + q(m.file) +
                  ",\"line\":" + std::to_string(m.line) + ",\"rule\":" + q(m.rule) +
                  ",\"severity\":" + q(m.severity) + ",\"message\":" + q(m.message) + "}";
    }
    findings += "]";
    std::string duration = "null";
    if (s.started != core::TimePoint{} && s.ended != core::TimePoint{}) {
      duration = core::JsonNumber(std::chrono::duration<double>(s.ended - s.started).count());
    }
    steps += std::string(i ? "," : "") + "{\"kind\":" + q(s.kind) + ",\"state\":\"" +
             StepStateName(s.state) + "\",\"started\":" + Time(s.started) +
             ",\"ended\":" + Time(s.ended) + ",\"seconds\":" + duration +
             ",\"message\":" + q(s.message) + ",\"output\":" + q(s.output) +
             ",\"values\":" + values + ",\"findings\":" + findings +
             ",\"holdingSince\":" + Time(s.holding_since) +
             ",\"sawTraffic\":" + (s.saw_traffic ? "true" : "false") + "}";
  }
  steps += "]";
  return "{\"id\":" + q(r.id) + ",\"pipeline\":" + q(r.pipeline) + ",\"tag\":" + q(r.tag) +
         ",\"environment\":" + q(r.environment) + ",\"namespace\":" + q(r.ns) +
         ",\"deployment\":" + q(r.deployment) + ",\"image\":" + q(r.image) + ",\"state\":\"" +
         RunStateName(r.state) + "\",\"created\":" + Time(r.created) +
         ",\"ended\":" + Time(r.ended) + ",\"current\":" + std::to_string(r.current) +
         ",\"message\":" + q(r.message) + ",\"rolledOut\":" + (r.rolled_out ? "true" : "false") +
         ",\"previousVersion\":" + q(r.previous_version) +
         ",\"previousRevision\":" + q(r.previous_revision) +
         ",\"contractMigration\":" + q(r.contract_migration) +
         ",\"rollForward\":" + q(r.roll_forward) + ",\"rollbackResult\":" + q(r.rollback_result) +
         ",\"rollbackMessage\":" + q(r.rollback_message) + ",\"steps\":" + steps + "}";
}

core::Result<Run> RunFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::object o;
  if (parser.parse(padded).get_object().get(o)) return core::Error{"not a JSON object"};
  auto text = [](simdjson::dom::object obj, const char* key) {
    std::string_view v;
    return obj[key].get_string().get(v) ? std::string() : std::string(v);
  };
  auto time = [&](simdjson::dom::object obj, const char* key) {
    auto t = core::ParseRfc3339(text(obj, key));
    return t ? *t : core::TimePoint{};
  };
  auto flag = [](simdjson::dom::object obj, const char* key) {
    bool b = false;
    return obj[key].get_bool().get(b) ? false : b;
  };
  auto state_of = [](const std::string& name, const auto& names, auto& out) {
    for (std::size_t i = 0; i < std::size(names); ++i) {
      if (name == names[i]) {
        out = static_cast<std::remove_reference_t<decltype(out)>>(i);
        return true;
      }
    }
    return false;
  };
  Run r;
  r.id = text(o, "id");
  r.pipeline = text(o, "pipeline");
  if (r.id.empty() || r.pipeline.empty()) return core::Error{"a run without id or pipeline"};
  r.tag = text(o, "tag");
  r.environment = text(o, "environment");
  r.ns = text(o, "namespace");
  r.deployment = text(o, "deployment");
  r.image = text(o, "image");
  if (!state_of(text(o, "state"), kRunStates, r.state)) return core::Error{"unknown run state"};
  r.created = time(o, "created");
  r.ended = time(o, "ended");
  std::uint64_t current = 0;
  if (!o["current"].get_uint64().get(current)) r.current = current;
  r.message = text(o, "message");
  r.rolled_out = flag(o, "rolledOut");
  r.previous_version = text(o, "previousVersion");
  r.previous_revision = text(o, "previousRevision");
  r.contract_migration = text(o, "contractMigration");
  r.roll_forward = text(o, "rollForward");
  r.rollback_result = text(o, "rollbackResult");
  r.rollback_message = text(o, "rollbackMessage");
  simdjson::dom::array steps;
  if (!o["steps"].get_array().get(steps)) {
    for (simdjson::dom::element e : steps) {
      simdjson::dom::object so;
      if (e.get_object().get(so)) continue;
      StepRecord s;
      s.kind = text(so, "kind");
      if (!state_of(text(so, "state"), kStepStates, s.state)) {
        return core::Error{"unknown step state"};
      }
      s.started = time(so, "started");
      s.ended = time(so, "ended");
      s.message = text(so, "message");
      s.output = text(so, "output");
      s.holding_since = time(so, "holdingSince");
      s.saw_traffic = flag(so, "sawTraffic");
      simdjson::dom::object values;
      if (!so["values"].get_object().get(values)) {
        for (auto field : values) {
          double v = 0;
          if (!field.value.get_double().get(v)) s.values.emplace_back(std::string(field.key), v);
        }
      }
      simdjson::dom::array findings;
      if (!so["findings"].get_array().get(findings)) {
        for (simdjson::dom::element fe : findings) {
          simdjson::dom::object fo;
          if (fe.get_object().get(fo)) continue;
          MigrationFinding f;
          f.file = text(fo, "file");
          std::int64_t line = 0;
          if (!fo["line"].get_int64().get(line)) f.line = static_cast<int>(line);
          f.rule = text(fo, "rule");
          f.severity = text(fo, "severity");
          f.message = text(fo, "message");
          s.findings.push_back(std::move(f));
        }
      }
      r.steps.push_back(std::move(s));
    }
  }
  if (r.current > r.steps.size()) return core::Error{"the current step is past the last"};
  return r;
}

PipelineRunner::PipelineRunner(std::vector<core::PipelineConfig> pipelines,
                               rollback::Orchestrator* orchestrator,
                               rollback::RollbackController* rollbacks,
                               const rules::WindowStore& store, const core::Clock& clock,
                               Announce announce, prometheus::Registry& registry,
                               RunnerOptions options)
    : pipelines_(std::move(pipelines)),
      orchestrator_(orchestrator),
      rollbacks_(rollbacks),
      store_(store),
      clock_(clock),
      announce_(std::move(announce)),
      options_(std::move(options)),
      runs_total_(prometheus::BuildCounter()
                      .Name("obsgate_pipeline_runs_total")
                      .Help("Deploy pipeline runs by pipeline and how they ended (succeeded, "
                            "failed, rolled_back, aborted, interrupted).")
                      .Register(registry)),
      step_seconds_(prometheus::BuildHistogram()
                        .Name("obsgate_pipeline_step_duration_seconds")
                        .Help("Time deploy pipeline steps took, from start to success or "
                              "failure, by pipeline and step.")
                        .Register(registry)) {
  for (const core::PipelineConfig& p : pipelines_) {
    next_[p.name] = 1;
    for (std::size_t i = 0; i < p.steps.size(); ++i) {
      const core::PipelineStepConfig& s = p.steps[i];
      if (s.kind != Kind::kAnalyze) continue;
      auto a = std::make_shared<Analysis>();
      if (auto e = rules::Expression::Compile(s.expr)) {
        a->expr = *e;
      } else {
        a->error = "expr: " + e.error();
      }
      if (!s.fail.empty()) {
        if (auto e = rules::Expression::Compile(s.fail)) {
          a->fail = *e;
        } else {
          a->error = "fail: " + e.error();
        }
      }
      for (const std::string& c : Conjuncts(s.expr)) {
        if (!CountsTraffic(c)) continue;
        if (auto e = rules::Expression::Compile(c)) a->traffic.push_back(*e);
      }
      analyses_[p.name + "/" + std::to_string(i)] = std::move(a);
    }
  }
}

PipelineRunner::~PipelineRunner() { Stop(); }

const core::PipelineConfig* PipelineRunner::Pipeline(const std::string& name) const {
  for (const core::PipelineConfig& p : pipelines_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

core::Status PipelineRunner::Load() {
  if (options_.runs_dir.empty()) return core::Ok{};
  if (core::Status s = core::MakeDirectories(options_.runs_dir); !s) return s;
  std::vector<Pending> said;
  std::error_code ec;
  std::vector<Run> loaded;
  for (const auto& entry : std::filesystem::directory_iterator(options_.runs_dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    auto text = core::ReadWholeFile(entry.path().string());
    if (!text) continue;
    auto run = RunFromJson(*text);
    if (!run) {
      log::Warn("a run file cannot be read; it is left out",
                {{"file", entry.path().string()}, {"error", run.error()}});
      continue;
    }
    loaded.push_back(std::move(run).value());
  }
  if (ec) return core::Error{"cannot list " + options_.runs_dir + ": " + ec.message()};
  std::unique_lock lock(mu_);
  for (Run& r : loaded) {
    // The number after the last dash: later runs of the pipeline count on from it.
    std::size_t dash = r.id.rfind('-');
    std::uint64_t n = 0;
    if (dash != std::string::npos) {
      std::from_chars(r.id.data() + dash + 1, r.id.data() + r.id.size(), n);
    }
    next_[r.pipeline] = std::max(next_[r.pipeline], n + 1);
    const core::PipelineConfig* p = Pipeline(r.pipeline);
    if (!r.contract_migration.empty() && rollbacks_) {
      rollbacks_->guard().MarkContractMigration({r.ns, r.deployment}, r.contract_migration);
    }
    if (Active(r.state) && (r.state == RunState::kRunning || !p ||
                            p->steps.size() != r.steps.size() || active_.contains(r.pipeline))) {
      // A step was at work when obsgate stopped; what it did is unknown, so nothing resumes it.
      if (r.current < r.steps.size() && r.steps[r.current].state == StepState::kRunning) {
        r.steps[r.current].state = StepState::kFailed;
        r.steps[r.current].message += (r.steps[r.current].message.empty() ? "" : "; ") +
                                      std::string("interrupted: obsgate stopped during the step");
      }
      r.message = p ? "obsgate stopped while the run was at its " +
                          (r.current < r.steps.size() ? r.steps[r.current].kind : "end") +
                          " step; check the deployment and start a new run"
                    : "the pipeline is no longer configured";
      r.state = RunState::kInterrupted;
      r.ended = clock_.Now();
      runs_total_.Add({{"pipeline", r.pipeline}, {"result", "interrupted"}}).Increment();
      Persist(r);
      said.push_back({r, -1});
    } else if (Active(r.state)) {
      active_[r.pipeline] = r.id;
      log::Info("a run waits for a person again",
                {{"run", r.id}, {"state", RunStateName(r.state)}});
    }
    runs_[r.id] = std::move(r);
  }
  lock.unlock();
  Say(said);
  return core::Ok{};
}

RunAnswer PipelineRunner::StartRun(const std::string& pipeline, const std::string& tag) {
  const core::PipelineConfig* p = Pipeline(pipeline);
  if (!p) return {404, "no pipeline is named \"" + pipeline + "\"; see the configuration", {}};
  if (!IsTag(tag)) {
    return {
        400, "\"" + tag + "\" is not an image tag: letters, digits, . - and _, like v1.2.0", {}};
  }
  std::vector<Pending> said;
  RunAnswer answer;
  {
    std::lock_guard lock(mu_);
    if (auto a = active_.find(pipeline); a != active_.end()) {
      return {409,
              "run " + a->second + " of " + pipeline + " is " +
                  RunStateName(runs_[a->second].state) +
                  "; one run at a time per pipeline: approve or abort it first",
              runs_[a->second]};
    }
    Run r;
    r.id = pipeline + "-" + std::to_string(next_[pipeline]++);
    r.pipeline = pipeline;
    r.tag = tag;
    r.environment = core::EnvironmentName(p->environment);
    r.ns = p->ns;
    r.deployment = p->deployment;
    r.image = p->image + ":" + tag;
    r.created = clock_.Now();
    for (const core::PipelineStepConfig& s : p->steps) {
      r.steps.push_back(StepRecord{.kind = core::PipelineStepKindName(s.kind)});
    }
    active_[pipeline] = r.id;
    runs_[r.id] = r;
    Persist(r);
    said.push_back({r, -1});
    answer = {201, "", r};
  }
  log::Info("pipeline run started", {{"run", answer.run->id}, {"tag", tag}});
  Say(said);
  loop_cv_.notify_all();  // start it now rather than at the next interval
  return answer;
}

RunAnswer PipelineRunner::Approve(const std::string& id) {
  std::vector<Pending> said;
  RunAnswer answer;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return {404, "no run is named \"" + id + "\"; see obsgate runs", {}};
    Run& r = it->second;
    if (r.state != RunState::kWaitingForApproval && r.state != RunState::kInconclusive) {
      return {409, "run " + id + " is " + RunStateName(r.state) + ", not waiting for approval", r};
    }
    StepRecord& s = r.steps[r.current];
    s.state = StepState::kSucceeded;
    s.message = r.state == RunState::kInconclusive
                    ? s.message + "; a person approved going on without a verdict"
                    : "approved";
    r.state = RunState::kRunning;
    r.message.clear();
    StepEnded(r, r.current, said);
    said.push_back({r, -1});
    Persist(r);
    answer = {200, "", r};
  }
  Say(said);
  loop_cv_.notify_all();
  return answer;
}

RunAnswer PipelineRunner::Abort(const std::string& id) {
  std::vector<Pending> said;
  RunAnswer answer;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return {404, "no run is named \"" + id + "\"; see obsgate runs", {}};
    Run& r = it->second;
    if (!Active(r.state)) return {409, "run " + id + " has ended: " + RunStateName(r.state), r};
    if (r.state == RunState::kRunning) {
      // The runner's thread may be inside a step: it ends the run when the step returns.
      r.abort_requested = true;
      return {202, "", r};
    }
    r.steps[r.current].state = StepState::kSkipped;
    r.steps[r.current].ended = clock_.Now();
    for (std::size_t i = r.current; i < r.steps.size(); ++i) {
      r.steps[i].state = StepState::kSkipped;
    }
    r.message = "aborted by a person" +
                std::string(r.rolled_out ? "; " + r.tag +
                                               " stays rolled out: obsgate "
                                               "rollback " +
                                               r.ns + "/" + r.deployment + " undoes it"
                                         : "");
    End(r, RunState::kAborted, said);
    active_.erase(r.pipeline);
    answer = {200, "", r};
  }
  Say(said);
  return answer;
}

std::optional<Run> PipelineRunner::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find(id);
  if (it == runs_.end()) return std::nullopt;
  return it->second;
}

std::vector<Run> PipelineRunner::Runs() const {
  std::lock_guard lock(mu_);
  std::vector<Run> out;
  for (const auto& [id, r] : runs_) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const Run& a, const Run& b) {
    return std::tie(a.created, a.id) > std::tie(b.created, b.id);
  });
  return out;
}

void PipelineRunner::Tick() {
  if (options_.may_act && !options_.may_act()) return;
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pipeline, id] : active_) ids.push_back(id);
  }
  std::vector<Pending> said;
  for (const std::string& id : ids) Advance(id, said);
  Say(said);
}

void PipelineRunner::Advance(const std::string& id, std::vector<Pending>& said) {
  Run r;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second.state != RunState::kRunning) return;
    r = it->second;
  }
  const core::PipelineConfig* p = Pipeline(r.pipeline);
  if (!p) return;
  // Steps that finish at once (a rollout, an approve already given) chain within one look; a
  // step that polls (wait, analyze) or waits for a person ends the look.
  while (r.state == RunState::kRunning) {
    if (r.current >= r.steps.size()) {
      r.message = r.tag + " is rolled out and every step passed";
      End(r, RunState::kSucceeded, said);
      break;
    }
    std::size_t i = r.current;
    StepRecord& s = r.steps[i];
    if (s.state == StepState::kPending) {
      s.state = StepState::kRunning;
      s.started = clock_.Now();
      said.push_back({r, static_cast<int>(i)});
      Persist(r);
    }
    {
      // Abort asked for before the step does its work: do none.
      std::lock_guard lock(mu_);
      if (runs_[id].abort_requested) break;
    }
    Work(r, *p, i);
    if (s.state == StepState::kRunning) break;
    if (s.state == StepState::kWaiting) {
      r.state = p->steps[i].kind == Kind::kApprove ? RunState::kWaitingForApproval
                                                   : RunState::kInconclusive;
      r.message = s.message;
      said.push_back({r, static_cast<int>(i)});
      said.push_back({r, -1});
      break;
    }
    StepEnded(r, i, said);
    if (s.state == StepState::kFailed) {
      Fail(r, *p, said);
      break;
    }
    if (p->steps[i].kind == Kind::kPromote) {
      for (std::size_t k = r.current; k < r.steps.size(); ++k) {
        r.steps[k].state = StepState::kSkipped;
      }
      r.message = r.tag + " is promoted: " + r.ns + "/" + r.deployment + " runs it";
      End(r, RunState::kSucceeded, said);
    }
  }
  std::lock_guard lock(mu_);
  Run& live = runs_[id];
  if (live.abort_requested && Active(r.state)) {
    if (r.current < r.steps.size()) {
      StepRecord& s = r.steps[r.current];
      if (s.state == StepState::kRunning || s.state == StepState::kWaiting) {
        s.state = StepState::kSkipped;
        s.ended = clock_.Now();
      }
      for (std::size_t k = r.current; k < r.steps.size(); ++k) {
        if (r.steps[k].state == StepState::kPending) r.steps[k].state = StepState::kSkipped;
      }
    }
    r.message = "aborted by a person" +
                std::string(r.rolled_out ? "; " + r.tag + " stays rolled out: obsgate rollback " +
                                               r.ns + "/" + r.deployment + " undoes it"
                                         : "");
    r.abort_requested = false;
    live = r;
    End(live, RunState::kAborted, said);
    active_.erase(live.pipeline);
    return;
  }
  r.abort_requested = live.abort_requested;
  live = r;
  if (!Active(live.state)) active_.erase(live.pipeline);
  Persist(live);
}

void PipelineRunner::StepEnded(Run& r, std::size_t i, std::vector<Pending>& said) {
  StepRecord& s = r.steps[i];
  s.ended = clock_.Now();
  if (s.started != core::TimePoint{}) {
    step_seconds_
        .Add({{"pipeline", r.pipeline}, {"step", s.kind}},
             prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600})
        .Observe(std::chrono::duration<double>(s.ended - s.started).count());
  }
  said.push_back({r, static_cast<int>(i)});
  if (s.state == StepState::kSucceeded) ++r.current;
}

void PipelineRunner::Work(Run& r, const core::PipelineConfig& p, std::size_t i) {
  StepRecord& s = r.steps[i];
  switch (p.steps[i].kind) {
    case Kind::kMigrate:
      Migrate(r, p, i);
      break;
    case Kind::kApprove:
      s.state = StepState::kWaiting;
      s.message = "waiting for a person: obsgate approve " + r.id;
      break;
    case Kind::kRollout:
      Rollout(r, p, i);
      break;
    case Kind::kWait:
      Wait(r, p, i);
      break;
    case Kind::kAnalyze:
      Analyze(r, p, i);
      break;
    case Kind::kPromote:
      s.state = StepState::kSucceeded;
      s.message = r.tag + " promoted";
      break;
  }
}

void PipelineRunner::Migrate(Run& r, const core::PipelineConfig& p, std::size_t i) {
  StepRecord& s = r.steps[i];
  const core::PipelineStepConfig& c = p.steps[i];
  if (!c.paths.empty()) {
    auto findings = LintMigrationPaths(c.paths);
    if (!findings) {
      s.state = StepState::kFailed;
      s.message = "the migration linter cannot read the migrations: " + findings.error();
      return;
    }
    s.findings = *findings;
    std::string blocking, allowed;
    for (const MigrationFinding& f : s.findings) {
      if (f.severity != "error") continue;
      std::string where = f.file + ":" + std::to_string(f.line) + " " + f.rule;
      if (std::find(c.allow.begin(), c.allow.end(), f.rule) != c.allow.end()) {
        allowed += (allowed.empty() ? "" : ", ") + where;
      } else {
        blocking += (blocking.empty() ? "" : "; ") + where + ": " + f.message;
      }
    }
    if (!blocking.empty()) {
      s.state = StepState::kFailed;
      s.message = "the migration linter stopped the run before the migration ran: " + blocking +
                  ". Split the change into expand and contract releases, or list the rule "
                  "under allow: once the running code no longer needs what it removes";
      return;
    }
    if (!allowed.empty()) {
      // Past a contract-phase migration older code may not run: automatic rollback is refused.
      r.contract_migration = allowed;
      if (rollbacks_) rollbacks_->guard().MarkContractMigration({r.ns, r.deployment}, allowed);
    }
  }
  if (!c.dir.empty() && !std::filesystem::is_directory(c.dir)) {
    s.state = StepState::kFailed;
    s.message = "the migration's dir " + c.dir + " is not a directory";
    return;
  }
  std::chrono::milliseconds timeout = c.timeout.count() > 0 ? c.timeout : options_.migrate_timeout;
  rollback::exec::CommandRun run =
      rollback::exec::RunCommand(c.command, timeout, kMaxOutput, {c.env, c.dir});
  s.output = run.output;
  std::string line = CommandLine(c.command);
  switch (run.end) {
    case rollback::exec::CommandRun::End::kExited:
      if (run.exit_code == 0) {
        s.state = StepState::kSucceeded;
        s.message = line + " succeeded";
        return;
      }
      s.message = line + " exited with " + std::to_string(run.exit_code);
      break;
    case rollback::exec::CommandRun::End::kSignaled:
      s.message = line + " was killed by signal " + std::to_string(run.signal);
      break;
    case rollback::exec::CommandRun::End::kTimedOut:
      s.message = line + " timed out after " + core::FormatDuration(timeout) +
                  "; its process group was killed";
      break;
    case rollback::exec::CommandRun::End::kNotStarted:
      s.message = run.error + "; check the step's command and PATH";
      break;
  }
  s.state = StepState::kFailed;
  r.roll_forward = "roll forward: the database stays where " + line +
                   " left it (the failing migration is not undone); fix it with a new migration";
}

void PipelineRunner::Rollout(Run& r, const core::PipelineConfig& p, std::size_t i) {
  StepRecord& s = r.steps[i];
  const core::PipelineStepConfig& c = p.steps[i];
  if (p.environment == core::PipelineConfig::Environment::kProduction) {
    if (!IsRelease(r.tag)) {
      s.state = StepState::kFailed;
      s.message =
          "production takes tagged releases only (vMAJOR.MINOR.PATCH, like v1.2.0), not \"" +
          r.tag + "\"; nothing was rolled out";
      return;
    }
    bool approved = false;
    for (std::size_t k = 0; k < i; ++k) {
      approved = approved ||
                 (p.steps[k].kind == Kind::kApprove && r.steps[k].state == StepState::kSucceeded);
    }
    if (!approved) {
      s.state = StepState::kFailed;
      s.message = "production needs a person's approval before the rollout; nothing was rolled out";
      return;
    }
  }
  if (!orchestrator_) {
    s.state = StepState::kFailed;
    s.message = "no orchestrator is configured; add orchestrator: to roll out";
    return;
  }
  rollback::Target target{r.ns, r.deployment};
  if (!r.rolled_out) {
    // What runs now, so a failure goes back to exactly it.
    if (auto revisions = orchestrator_->Revisions(target); revisions && !revisions->empty()) {
      r.previous_version = revisions->front().version;
      r.previous_revision = revisions->front().id;
    }
    r.rolled_out = true;  // from here on the change may have been made, answer or not
  }
  rollback::ActionResult a = orchestrator_->SetImage(target, p.container, r.image);
  s.output = a.detail.substr(0, kMaxOutput);
  s.message = a.message;
  switch (a.outcome) {
    case rollback::ActionResult::Outcome::kDone:
    case rollback::ActionResult::Outcome::kSkipped:
      s.state = StepState::kSucceeded;
      if (r.previous_version.empty()) r.previous_version = a.from_version;
      break;
    case rollback::ActionResult::Outcome::kRetry: {
      std::chrono::milliseconds timeout =
          c.timeout.count() > 0 ? c.timeout : options_.rollout_timeout;
      if (clock_.Now() - s.started >= timeout) {
        s.state = StepState::kFailed;
        s.message = "the rollout was not accepted within " + core::FormatDuration(timeout) + ": " +
                    a.message;
      }
      break;  // tried again at the next look
    }
    case rollback::ActionResult::Outcome::kFailed:
      s.state = StepState::kFailed;
      break;
  }
}

void PipelineRunner::Wait(Run& r, const core::PipelineConfig& p, std::size_t i) {
  StepRecord& s = r.steps[i];
  const core::PipelineStepConfig& c = p.steps[i];
  std::chrono::milliseconds timeout = c.timeout.count() > 0 ? c.timeout : options_.wait_timeout;
  bool late = clock_.Now() - s.started >= timeout;
  auto status =
      orchestrator_
          ? orchestrator_->Status({r.ns, r.deployment})
          : core::Result<rollback::RolloutStatus>(core::Error{"no orchestrator is configured"});
  if (!status) {
    s.message = "rollout status: " + status.error();
  } else {
    s.values = {{"desired", status->desired},
                {"updated", status->updated},
                {"available", status->available}};
    s.message = status->message;
    if (status->state == rollback::RolloutStatus::State::kFailed) {
      s.state = StepState::kFailed;
      return;
    }
  }
  bool complete = status && status->state == rollback::RolloutStatus::State::kComplete;
  if (complete && !c.health_url.empty()) {
    net::HttpClientOptions o;
    o.timeout = options_.health_timeout;
    auto client = net::HttpClient::Create(c.health_url, o);
    if (!client) {
      s.state = StepState::kFailed;
      s.message = "health_url: " + client.error();
      return;
    }
    net::HttpFetch f = (*client)->Get();
    s.values.emplace_back("health_status", f.status);
    if (f.status != 200) {
      complete = false;
      s.message =
          "the rollout is complete; " + c.health_url +
          (f.status ? " answers " + std::to_string(f.status) : " does not answer: " + f.error);
    } else {
      s.message = "the rollout is complete and " + c.health_url + " answers 200";
    }
  }
  if (complete) {
    s.state = StepState::kSucceeded;
    return;
  }
  if (late) {
    s.state = StepState::kFailed;
    s.message = "not ready within " + core::FormatDuration(timeout) + ": " + s.message;
  }
}

void PipelineRunner::Analyze(Run& r, const core::PipelineConfig& p, std::size_t i) {
  StepRecord& s = r.steps[i];
  const core::PipelineStepConfig& c = p.steps[i];
  auto found = analyses_.find(p.name + "/" + std::to_string(i));
  if (found == analyses_.end() || !found->second->error.empty() || !found->second->expr) {
    s.state = StepState::kFailed;
    s.message = found == analyses_.end() ? "no analysis" : found->second->error;
    return;
  }
  const Analysis& a = *found->second;
  core::TimePoint now = clock_.Now();
  bool seen = false, holds = false, fails = false, traffic = true, no_data = true;
  rules::Evaluation last;
  // Evaluated against the store as the rule engine does, over the new version's series only.
  store_.ForEach([&](const rules::WindowStore::SeriesRef& series) {
    const core::SeriesKey& k = series.key();
    if (k.ns != r.ns || k.deployment != r.deployment || k.version != r.tag) return;
    seen = true;
    std::optional<rules::WindowStore::SeriesRef> baseline = series.Baseline();
    const rules::SeriesData* b = baseline ? &*baseline : nullptr;
    last = a.expr->Evaluate(series, b, true);
    holds = last.result;
    no_data = last.no_data;
    if (a.fail) {
      rules::Evaluation f = a.fail->Evaluate(series, b, true);
      fails = f.result;
      for (const rules::Measurement& m : f.measurements) {
        bool have = false;
        for (const rules::Measurement& l : last.measurements) have = have || l.name == m.name;
        if (!have) last.measurements.push_back(m);
      }
    }
    for (const rules::Expression& t : a.traffic) {
      traffic = traffic && t.Evaluate(series, b, false).result;
    }
  });
  s.values.clear();
  for (const rules::Measurement& m : last.measurements) {
    if (m.value) s.values.emplace_back(m.name, *m.value);
  }
  if (seen && !no_data && traffic) s.saw_traffic = true;
  if (fails) {
    s.state = StepState::kFailed;
    s.message = "fail: " + c.fail + " holds for " + r.tag;
    return;
  }
  if (holds) {
    if (s.holding_since == core::TimePoint{}) s.holding_since = now;
    if (now - s.holding_since >= c.for_) {
      s.state = StepState::kSucceeded;
      s.message = c.expr + " held for " + core::FormatDuration(c.for_);
      return;
    }
    s.message = c.expr + " holds, for " + Seconds(s.holding_since, now) + " of " +
                core::FormatDuration(c.for_);
  } else {
    s.holding_since = {};
    s.message = !seen ? "no traffic of " + r.tag + " seen yet" : c.expr + " does not hold";
  }
  std::chrono::milliseconds deadline =
      c.timeout.count() > 0 ? c.timeout : c.for_ + options_.analyze_extra;
  if (now - s.started < deadline) return;
  if (!seen || no_data || !traffic) {
    // Too little traffic to tell a good release from a bad one: a person decides.
    s.state = StepState::kWaiting;
    s.message = "inconclusive: " +
                std::string(!seen ? "no traffic of " + r.tag + " was seen"
                                  : "too little traffic to judge " + r.tag) +
                " within " + core::FormatDuration(deadline) + "; obsgate approve " + r.id +
                " goes on, abort stops";
    return;
  }
  s.state = StepState::kFailed;
  s.message = c.expr + " did not hold for " + core::FormatDuration(c.for_) + " within " +
              core::FormatDuration(deadline);
}

void PipelineRunner::Fail(Run& r, const core::PipelineConfig& p, std::vector<Pending>& said) {
  const StepRecord& failed = r.steps[r.current];
  for (std::size_t k = r.current + 1; k < r.steps.size(); ++k) {
    r.steps[k].state = StepState::kSkipped;
  }
  r.message = failed.kind + " failed: " + failed.message;
  bool migrated = false;
  for (std::size_t k = 0; k < r.current; ++k) {
    migrated = migrated ||
               (p.steps[k].kind == Kind::kMigrate && r.steps[k].state == StepState::kSucceeded);
  }
  if (migrated && r.roll_forward.empty()) {
    r.roll_forward =
        "roll forward: the database keeps the migrations this run applied; only the code is "
        "rolled back";
  }
  if (!p.rollback_on_failure || !r.rolled_out) {
    if (!r.rolled_out) r.message += "; nothing was rolled out, so nothing is rolled back";
    End(r, RunState::kFailed, said);
    return;
  }
  if (!rollbacks_) {
    r.rollback_result = "no_rollback";
    r.message += "; no rollback component to roll " + r.tag + " back";
    End(r, RunState::kFailed, said);
    return;
  }
  rollback::RollbackEvent e = rollbacks_->RollBackNow(
      {r.ns, r.deployment}, r.tag, r.previous_revision, rollback::Candidate::Origin::kPipeline,
      "pipeline " + r.pipeline + " run " + r.id, false);
  r.rollback_result = e.result;
  r.rollback_message = e.message.empty() ? e.reason : e.message;
  if (e.result == "rolled_back") {
    r.message += "; rolled back to " + (e.to_version.empty() ? r.previous_version : e.to_version);
    End(r, RunState::kRolledBack, said);
  } else {
    r.message +=
        "; not rolled back (" + (e.guard.empty() ? e.result : e.guard) + "): " + r.rollback_message;
    End(r, RunState::kFailed, said);
  }
}

void PipelineRunner::End(Run& r, RunState state, std::vector<Pending>& said) {
  r.state = state;
  r.ended = clock_.Now();
  runs_total_.Add({{"pipeline", r.pipeline}, {"result", RunStateName(state)}}).Increment();
  Persist(r);
  said.push_back({r, -1});
  log::Write(state == RunState::kSucceeded ? log::Level::kInfo : log::Level::kWarn,
             std::string("pipeline run ") + RunStateName(state),
             {{"run", r.id}, {"tag", r.tag}, {"message", r.message}});
}

void PipelineRunner::Persist(const Run& r) {
  if (options_.runs_dir.empty()) return;
  std::lock_guard lock(file_mu_);
  if (core::Status s =
          core::WriteFileAtomically(options_.runs_dir + "/" + r.id + ".json", RunJson(r));
      !s) {
    log::Error("cannot write a pipeline run", {{"run", r.id}, {"error", s.error()}});
  }
}

void PipelineRunner::Say(std::vector<Pending>& said) {
  if (announce_) {
    for (const Pending& p : said) announce_(p.run, p.step);
  }
  said.clear();
}

void PipelineRunner::Start() {
  {
    std::lock_guard lock(loop_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(loop_mu_);
    while (!stop_) {
      lock.unlock();
      Tick();
      lock.lock();
      loop_cv_.wait_for(lock, options_.interval);
    }
  });
}

void PipelineRunner::Stop() {
  {
    std::lock_guard lock(loop_mu_);
    stop_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace obsgate::deploy
