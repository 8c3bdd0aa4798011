#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "deploy/migrations/linter.hpp"
#include "rollback/orchestrator.hpp"

namespace prometheus {
class Registry;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus
namespace obsgate::rules {
class WindowStore;
}
namespace obsgate::rollback {
class RollbackController;
}

namespace obsgate::deploy {

enum class RunState {
  kRunning,
  kWaitingForApproval,  // at an approve step: obsgate approve RUN_ID
  kInconclusive,        // analyze saw too little traffic by its deadline: approve or abort
  kSucceeded,
  kFailed,
  kRolledBack,
  kAborted,
  kInterrupted,  // obsgate stopped while the run was running; a new run starts over
};
enum class StepState { kPending, kRunning, kSucceeded, kFailed, kSkipped, kWaiting };

const char* RunStateName(RunState s);  // "running", "waiting_for_approval", ...
const char* StepStateName(StepState s);
// A run that may still move: running or waiting for a person.
bool Active(RunState s);

// One step of one run, as GET /api/v1/runs/{id} shows it.
struct StepRecord {
  std::string kind;  // migrate, approve, rollout, wait, analyze, promote
  StepState state = StepState::kPending;
  core::TimePoint started{};  // the epoch: not yet
  core::TimePoint ended{};
  std::string message;  // what happened, for people
  std::string output;   // a command's output (its last 16 KiB)
  // What was measured: analyze's last evaluation (error_rate(1m), requests(1m), ...), wait's
  // health status, a rollout's updated and available replicas.
  std::vector<std::pair<std::string, double>> values;
  std::vector<MigrationFinding> findings;
  core::TimePoint holding_since{};  // analyze: since when expr has held; the epoch: it does not
  bool saw_traffic = false;         // analyze: the traffic condition held at least once
};

// One run of a pipeline for one tag. Written whole to data_dir/runs/<id>.json at every change.
struct Run {
  std::string id;  // <pipeline>-<n>
  std::string pipeline;
  std::string tag;
  std::string environment;
  std::string ns;
  std::string deployment;
  std::string image;  // repository:tag being rolled out
  RunState state = RunState::kRunning;
  core::TimePoint created{};
  core::TimePoint ended{};
  std::vector<StepRecord> steps;
  std::size_t current = 0;  // the step in progress, or the next one
  std::string message;      // why the run ended or what it waits for
  // Set once the rollout was asked for: the code may be on the new tag, so a failure rolls back.
  bool rolled_out = false;
  std::string previous_version;    // what ran before the rollout
  std::string previous_revision;   // the orchestrator's revision of it
  std::string contract_migration;  // an allowed destructive migration: rollback is refused after
  std::string roll_forward;        // the database is never rolled back: what stays applied
  std::string rollback_result;     // the rollback component's result when a rollback was tried
  std::string rollback_message;
  bool abort_requested = false;  // asked for while a step was working; applied when it returns
};

std::string RunJson(const Run& run);
core::Result<Run> RunFromJson(std::string_view json);

// What an API call on runs came to: the run, or an HTTP status and why not.
struct RunAnswer {
  int status = 200;
  std::string error;
  std::optional<Run> run;
};

struct RunnerOptions {
  std::string runs_dir;  // where run files go; empty: kept in memory only (tests)
  std::chrono::milliseconds interval{1000};            // between two looks, on the runner's thread
  std::chrono::milliseconds health_timeout{2000};      // one GET of a wait step's health URL
  std::chrono::milliseconds rollout_timeout{120'000};  // rollout: retries of the orchestrator
  std::chrono::milliseconds wait_timeout{300'000};     // wait: the default deadline
  std::chrono::milliseconds migrate_timeout{600'000};  // migrate: the command's default limit
  std::chrono::milliseconds analyze_extra{300'000};    // analyze: default deadline is for + this
  // With several replicas: whether this one may advance runs now. Unset: always. A replica that
  // loses the lead leaves its runs where they are (a step at work finishes first).
  std::function<bool()> may_act;
};

// Runs deploy pipelines: one run at a time per pipeline, each step advanced by Tick() (once a
// second on the runner's own thread, or by a test with a fake clock). Steps that block (a migrate
// command, the orchestrator, a health GET) run on that thread outside the lock, so the API always
// answers. Thread-safe.
class PipelineRunner {
 public:
  // Told of every step and run transition: `step` is the index of the step that changed, or -1
  // when the run itself did. Called on the thread that made the change, outside the lock.
  using Announce = std::function<void(const Run& run, int step)>;

  // `orchestrator` does rollouts and status; `rollbacks` (may be null) rolls back on failure and
  // keeps the contract-migration mark. Both outlive the runner. The orchestrator is shared with
  // the rollback controller: Kubernetes serialises calls itself; for exec and Swarm a pipeline
  // rollout and a rule's rollback of the same moment run one after the other only by luck.
  PipelineRunner(std::vector<core::PipelineConfig> pipelines, rollback::Orchestrator* orchestrator,
                 rollback::RollbackController* rollbacks, const rules::WindowStore& store,
                 const core::Clock& clock, Announce announce, prometheus::Registry& registry,
                 RunnerOptions options = {});
  ~PipelineRunner();

  // Reads the run files: runs that were running become interrupted (announced); runs waiting
  // for a person wait again. Call before Start and before the API serves.
  core::Status Load();

  // POST /api/v1/pipelines/{name}/runs: 201 with the run; 404 unknown pipeline; 400 a tag that
  // is not a tag; 409 while another run of the pipeline is active.
  RunAnswer StartRun(const std::string& pipeline, const std::string& tag);
  // A person's go-ahead for a run waiting at an approve step or after an inconclusive analysis.
  RunAnswer Approve(const std::string& id);
  // Stops an active run; a step at work finishes first. The code is not rolled back.
  RunAnswer Abort(const std::string& id);
  std::optional<Run> Find(const std::string& id) const;
  std::vector<Run> Runs() const;  // newest first

  // One look at every active run: starts, polls or finishes its current step.
  void Tick();
  void Start();  // the runner's thread: Tick every interval
  void Stop();

 private:
  struct Analysis;
  struct Pending {
    Run run;
    int step;
  };
  const core::PipelineConfig* Pipeline(const std::string& name) const;
  void Advance(const std::string& id, std::vector<Pending>& said);
  // One look at step i: leaves it running, or sets it succeeded, failed or waiting.
  void Work(Run& r, const core::PipelineConfig& p, std::size_t i);
  void Migrate(Run& r, const core::PipelineConfig& p, std::size_t i);
  void Rollout(Run& r, const core::PipelineConfig& p, std::size_t i);
  void Wait(Run& r, const core::PipelineConfig& p, std::size_t i);
  void Analyze(Run& r, const core::PipelineConfig& p, std::size_t i);
  // Ends a run whose step failed: rolls the code back when it was rolled out.
  void Fail(Run& r, const core::PipelineConfig& p, std::vector<Pending>& said);
  void End(Run& r, RunState state, std::vector<Pending>& said);
  void StepEnded(Run& r, std::size_t i, std::vector<Pending>& said);
  void Persist(const Run& r);
  void Say(std::vector<Pending>& said);

  std::vector<core::PipelineConfig> pipelines_;
  rollback::Orchestrator* orchestrator_;
  rollback::RollbackController* rollbacks_;
  const rules::WindowStore& store_;
  const core::Clock& clock_;
  Announce announce_;
  RunnerOptions options_;
  prometheus::Family<prometheus::Counter>& runs_total_;
  prometheus::Family<prometheus::Histogram>& step_seconds_;
  // Compiled analyze expressions, per "pipeline/step index".
  std::map<std::string, std::shared_ptr<const Analysis>> analyses_;

  mutable std::mutex mu_;
  std::map<std::string, Run> runs_;            // by id
  std::map<std::string, std::string> active_;  // pipeline -> its active run's id
  std::map<std::string, std::uint64_t> next_;  // pipeline -> the next run number
  std::mutex file_mu_;                         // one writer of run files at a time
  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace obsgate::deploy
