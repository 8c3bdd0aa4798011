#include "rollback/controller.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/log.hpp"

namespace obsgate::rollback {
namespace {

std::string NewId(core::TimePoint at, std::uint64_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char out[40];
  std::snprintf(
      out, sizeof out, "%llx-%llx-%04llx",
      static_cast<unsigned long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count()),
      static_cast<unsigned long long>(rng() & 0xffffff),
      static_cast<unsigned long long>(n & 0xffff));
  return out;
}

// The first measurement whose name is `name` followed by its window, like
// "baseline.error_rate(5m)".
std::optional<double> Measured(const rules::Alert& a, std::string_view name) {
  for (const rules::Measurement& m : a.measurements) {
    if (m.name.starts_with(name) && m.name.size() > name.size() && m.name[name.size()] == '(') {
      return m.value;
    }
  }
  return std::nullopt;
}

// The version first seen before `c.bad_version` and its error rate over its last 5 minutes of
// traffic (now, or up to when it stopped serving, as after a rollout): what the healthy-baseline
// guard judges a pipeline's rollback by, as a rule's own measurements do for a rule's.
void FillBaseline(const rules::WindowStore& store, Candidate& c) {
  store.ForEach([&c](const rules::WindowStore::SeriesRef& s) {
    const core::SeriesKey& k = s.key();
    if (k.ns != c.target.ns || k.deployment != c.target.deployment || k.version != c.bad_version) {
      return;
    }
    std::optional<rules::WindowStore::SeriesRef> b = s.Baseline();
    if (!b) return;
    c.baseline_version = b->key().version;
    rules::WindowCounts w = b->Window(std::chrono::minutes(5));
    if (!w.ErrorRate()) {
      if (std::optional<core::Duration> idle = b->Idle()) {
        w = b->WindowEndingAgo(std::chrono::minutes(5), *idle);
      }
    }
    c.baseline_error_rate = w.ErrorRate();
  });
}

// The release's error rate over the shared-outage window and, for every other deployment in
// scope with no release of its own, its counts over that window and the one before it: what the
// shared-outage guard weighs.
void FillPeers(const rules::WindowStore& store, const core::RollbackConfig& config, Candidate& c) {
  using Peers = core::RollbackConfig::SharedOutage::Peers;
  const core::RollbackConfig::SharedOutage& o = config.shared_outage;
  if (o.peers == Peers::kNone) return;
  struct Sum {
    PeerTraffic traffic;
    core::TimePoint newest;  // when its newest version was first seen
    int versions = 0;
  };
  std::map<std::pair<std::string, std::string>, Sum> sums;
  store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
    const core::SeriesKey& k = s.key();
    if (o.peers == Peers::kNamespace && k.ns != c.target.ns) return;
    if (k.deployment == rules::kOverflowDeployment) return;
    rules::WindowCounts now = s.Window(o.window);
    if (k.ns == c.target.ns && k.deployment == c.target.deployment) {
      if (k.version == c.bad_version) c.recent_error_rate = now.ErrorRate();
      return;
    }
    rules::WindowCounts before = s.WindowEndingAgo(o.before, o.window);
    Sum& sum = sums[{k.ns, k.deployment}];
    sum.traffic.requests += now.requests;
    sum.traffic.errors += now.errors;
    sum.traffic.before_requests += before.requests;
    sum.traffic.before_errors += before.errors;
    sum.newest = std::max(sum.newest, s.first_seen());
    ++sum.versions;
  });
  const core::TimePoint at = store.LastTick();
  for (auto& [key, sum] : sums) {
    // One version seen (also what every deployment looks like after a restart), or none new
    // within only_within: a bystander. A deployment with its own release has its own story.
    if (sum.versions > 1 && at - sum.newest < config.only_within) continue;
    sum.traffic.name = key.first + "/" + key.second;
    c.peers.push_back(std::move(sum.traffic));
  }
}

}  // namespace

RollbackController::RollbackController(std::unique_ptr<Orchestrator> orchestrator,
                                       core::RollbackConfig config, const rules::WindowStore& store,
                                       AuditLog& audit, const core::Clock& clock, Announce announce,
                                       prometheus::Registry& registry)
    : orchestrator_(std::move(orchestrator)),
      config_(config),
      store_(store),
      audit_(audit),
      clock_(clock),
      announce_(std::move(announce)),
      guard_(config, clock),
      results_(prometheus::BuildCounter()
                   .Name("obsgate_rollbacks_total")
                   .Help("Rollback decisions by deployment and result (rolled_back, skipped, "
                         "failed, refused, dry_run, paused, no_orchestrator).")
                   .Register(registry)) {}

RollbackController::~RollbackController() { Stop(); }

void RollbackController::OnAlert(const rules::Alert& a, rules::AlertState) {
  if (!a.rollback) return;
  if (a.state != rules::AlertState::kFiring) {
    std::lock_guard lock(mu_);
    stood_by_.erase(a.fingerprint);
    return;
  }
  Candidate c;
  c.target = {a.series.ns, a.series.deployment};
  c.bad_version = a.series.version;
  c.baseline_version = a.baseline_version;
  c.origin = Candidate::Origin::kRule;
  for (const rules::VersionInfo& v : store_.Versions(a.series.ns, a.series.deployment)) {
    if (v.version == a.series.version) {
      // A version first seen after the last tick (within the second being counted) is as young
      // as a version gets, not younger: a negative age is refused by the replica it is sent to.
      c.age = std::chrono::duration_cast<core::Duration>(
          std::max(store_.LastTick() - v.first_seen, core::TimePoint::duration::zero()));
    }
  }
  // The baseline as the rule judged it (over the same seconds, or its last window of traffic);
  // else its last 5 minutes in the store.
  c.baseline_error_rate = Measured(a, "baseline.error_rate");
  if (!c.baseline_error_rate && !c.baseline_version.empty()) {
    auto w = store_.Window({a.series.ns, a.series.deployment, c.baseline_version},
                           std::chrono::minutes(5));
    if (w) c.baseline_error_rate = w->ErrorRate();
  }
  FillPeers(store_, config_, c);
  // What the alert showed, whatever comes of it.
  RollbackEvent e = NewEvent(c, "rule " + a.rule);
  for (const rules::Measurement& m : a.measurements) {
    if (m.value) e.values.emplace_back(m.name, *m.value);
  }
  if (leading_ && !leading_()) {
    // Another replica decides; this one says what it saw, and keeps the alert while it fires, to
    // decide it should it lead before it resolves.
    e.verdict = "standby";
    e.result = "standby";
    e.message = StandbyMessage();
    if (forward_) e.message += "; " + forward_(c, e, a.rule);
    {
      std::lock_guard lock(mu_);
      stood_by_[a.fingerprint] = a;
    }
    Finish(e);
    return;
  }
  Decide(c, e);
}

std::string RollbackController::DecideForwarded(
    Candidate c, const std::string& rule, const std::string& from,
    std::vector<std::pair<std::string, double>> values) {
  if (leading_ && !leading_()) return "standby";
  c.origin = Candidate::Origin::kRule;
  c.forced = false;
  // What the other replica saw of its deployments, and what this one sees of its own.
  Candidate mine;
  mine.target = c.target;
  mine.bad_version = c.bad_version;
  FillPeers(store_, config_, mine);
  for (PeerTraffic& p : mine.peers) {
    bool known = false;
    for (const PeerTraffic& q : c.peers) known = known || q.name == p.name;
    if (!known) c.peers.push_back(std::move(p));
  }
  RollbackEvent e = NewEvent(c, "rule " + rule + " on " + from);
  e.values = std::move(values);
  Decide(c, e);
  return e.verdict.empty() ? "duplicate" : e.verdict;
}

RollbackEvent RollbackController::NewEvent(const Candidate& c, std::string origin) {
  RollbackEvent e;
  e.at = clock_.Now();
  e.target = c.target;
  e.bad_version = c.bad_version;
  e.baseline_version = c.baseline_version;
  e.origin = std::move(origin);
  std::lock_guard lock(mu_);
  e.id = NewId(e.at, next_id_++);
  return e;
}

void RollbackController::Decide(const Candidate& c, RollbackEvent& e) {
  Decision d = guard_.Decide(c);
  if (d.verdict == Decision::Verdict::kDuplicate) return;
  e.verdict = VerdictName(d.verdict);
  e.guard = d.guard;
  e.reason = d.reason;
  switch (d.verdict) {
    case Decision::Verdict::kAct: {
      std::lock_guard lock(mu_);
      queue_.push_back(Job{e, ""});
      changed_.notify_all();
      return;
    }
    case Decision::Verdict::kDryRun:
      e.result = "dry_run";
      break;
    case Decision::Verdict::kPause:
      e.result = "paused";
      break;
    default:
      e.result = "refused";
      break;
  }
  e.message = d.reason;
  Finish(e);
}

void RollbackController::ForwardWhenStandingBy(Forward forward) { forward_ = std::move(forward); }

void RollbackController::DecideWhatWasStoodBy() {
  if (!leading_ || !leading_()) return;
  std::map<std::string, rules::Alert> alerts;
  {
    std::lock_guard lock(mu_);
    alerts.swap(stood_by_);
  }
  // Decided as when they fired; the guard's duplicate check and the orchestrator's revisions keep
  // a rollback another replica already sent from being sent again.
  for (const auto& [fingerprint, alert] : alerts) OnAlert(alert, rules::AlertState::kFiring);
}

void RollbackController::UseLeadership(std::function<bool()> leading,
                                       std::function<std::string()> holder) {
  leading_ = std::move(leading);
  holder_ = std::move(holder);
}

std::string RollbackController::StandbyMessage() const {
  std::string holder = holder_ ? holder_() : "";
  return (holder.empty() ? std::string("another replica") : holder) +
         " leads and decides; this replica stands by";
}

std::optional<std::string> RollbackController::NoLongerRunning(const Target& target,
                                                               const std::string& bad) const {
  if (bad.empty()) return std::nullopt;
  auto revisions = orchestrator_->Revisions(target);
  if (!revisions) return std::nullopt;  // cannot tell: act as asked
  const Revision* current = nullptr;
  bool known = false;
  for (const Revision& r : *revisions) {
    const bool is_bad = r.version == bad || (!r.template_hash.empty() && r.template_hash == bad);
    if (r.current) current = &r;
    if (is_bad && r.current) return std::nullopt;
    known = known || is_bad;
  }
  // Only a bad version the orchestrator knows, on a revision that is not the current one.
  if (!known || current == nullptr) return std::nullopt;
  return current->version.empty() ? "revision " + current->id : current->version;
}

void RollbackController::Finish(RollbackEvent& e) {
  if (core::Status s = audit_.Append(e); !s) {
    log::Error("cannot write the rollback audit log", {{"error", s.error()}});
  }
  results_
      .Add({{"namespace", e.target.ns}, {"deployment", e.target.deployment}, {"result", e.result}})
      .Increment();
  log::Level level = e.result == "failed" ? log::Level::kWarn : log::Level::kInfo;
  log::Write(level, "rollback " + e.result,
             {{"namespace", e.target.ns},
              {"deployment", e.target.deployment},
              {"version", e.bad_version},
              {"to_version", e.to_version},
              {"guard", e.guard},
              {"message", e.message}});
  if (announce_) announce_(e);
}

void RollbackController::Act(Job& job) {
  RollbackEvent& e = job.event;
  if (!orchestrator_) {
    e.result = "no_orchestrator";
    e.message = "a rollback of " + e.target.ns + "/" + e.target.deployment + " " + e.bad_version +
                " was decided, but no orchestrator is configured; add orchestrator: to act";
    guard_.Acted(e.target, e.bad_version, false);
    Finish(e);
    return;
  }
  if (leading_ && !leading_()) {
    e.result = "standby";
    e.message = "decided, then this replica lost the lead before acting: " + StandbyMessage();
    guard_.Acted(e.target, e.bad_version, false);
    Finish(e);
    return;
  }
  if (std::optional<std::string> now_running = NoLongerRunning(e.target, e.bad_version)) {
    // Undoing again would undo the undo: a rollout undo goes to the revision before the current.
    e.result = "skipped";
    e.message = e.target.ns + "/" + e.target.deployment + " no longer runs " + e.bad_version +
                "; it runs " + *now_running +
                ": it was rolled back already (by another replica, a person or a pipeline)";
    guard_.Acted(e.target, e.bad_version, false);
    Finish(e);
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  auto wait = std::chrono::seconds(1);
  ActionResult r;
  for (;;) {
    r = orchestrator_->RollBack(e.target, {job.to_revision, e.bad_version, e.baseline_version});
    if (r.outcome != ActionResult::Outcome::kRetry ||
        std::chrono::steady_clock::now() + wait > deadline) {
      break;
    }
    log::Warn("rollback not done yet; retrying",
              {{"deployment", e.target.deployment}, {"message", r.message}});
    std::unique_lock lock(mu_);
    if (changed_.wait_for(lock, wait, [this] { return stop_; })) break;
    wait = std::min<std::chrono::seconds>(wait * 2, std::chrono::seconds(30));
  }
  e.message = r.message;
  e.detail = r.detail;
  e.from_version = r.from_version.empty() ? e.bad_version : r.from_version;
  e.to_version =
      r.to_version.empty() && job.to_revision.empty() ? e.baseline_version : r.to_version;
  switch (r.outcome) {
    case ActionResult::Outcome::kDone:
      e.result = "rolled_back";
      break;
    case ActionResult::Outcome::kSkipped:
      e.result = "skipped";
      break;
    default:
      e.result = "failed";
      break;
  }
  guard_.Acted(e.target, e.bad_version, r.outcome == ActionResult::Outcome::kDone);
  Finish(e);
}

RollbackEvent RollbackController::RollBackNow(const Target& target, const std::string& bad_version,
                                              const std::string& to_revision,
                                              Candidate::Origin origin, std::string origin_text,
                                              bool dry_run, bool force) {
  Candidate c;
  c.target = target;
  c.bad_version = bad_version;
  c.origin = origin;
  c.forced = force && origin == Candidate::Origin::kPerson;
  if (origin == Candidate::Origin::kPipeline) {
    FillBaseline(store_, c);
    FillPeers(store_, config_, c);
  }
  Decision d = guard_.Decide(c);
  RollbackEvent e = NewEvent(c, std::move(origin_text));
  e.forced = c.forced;
  e.verdict = VerdictName(d.verdict);
  e.guard = d.guard;
  e.reason = d.reason;
  e.to_revision = to_revision;
  if (d.verdict == Decision::Verdict::kAct && dry_run) {
    e.verdict = VerdictName(Decision::Verdict::kDryRun);
    e.result = "dry_run";
    e.message = "dry run: " + target.ns + "/" + target.deployment + " would be rolled back" +
                (to_revision.empty() ? "" : " to revision " + to_revision);
    guard_.Acted(target, bad_version, false);
    Finish(e);
    return e;
  }
  if (d.verdict != Decision::Verdict::kAct) {
    e.result = d.verdict == Decision::Verdict::kDryRun ? "dry_run" : "refused";
    e.message = d.reason;
    Finish(e);
    return e;
  }
  Job job{e, to_revision};
  Act(job);
  return job.event;
}

void RollbackController::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    Act(job);
    {
      std::lock_guard lock(mu_);
      --busy_;
    }
    changed_.notify_all();
  }
}

void RollbackController::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stop_ = false;
  worker_ = std::thread([this] { Loop(); });
}

void RollbackController::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void RollbackController::Drain() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

}  // namespace obsgate::rollback
