#include "ha/leader_election.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/log.hpp"
#include "core/time.hpp"

namespace obsgate::ha {
namespace {

using Steady = std::chrono::steady_clock;

class Always final : public Leadership {
 public:
  explicit Always(std::string identity) : identity_(std::move(identity)) {}
  bool leading() const override { return true; }
  std::string identity() const override { return identity_; }
  std::string holder() const override { return identity_; }

 private:
  std::string identity_;
};

// metav1.MicroTime as the API writes it: RFC 3339 with six fractional digits.
std::string MicroTime(core::TimePoint t) {
  std::string s = core::FormatRfc3339(t);  // ...ss.mmmZ
  s.insert(s.size() - 1, "000");
  return s;
}

}  // namespace

std::shared_ptr<Leadership> AlwaysLeading(std::string identity) {
  return std::make_shared<Always>(std::move(identity));
}

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "obsgate") + "_" + std::to_string(getpid());
}

struct LeaderElector::State {
  mutable std::mutex mu;
  std::condition_variable wake;
  bool stop = false;
  std::thread thread;
  // What this replica last saw of the record, and when (its own clock: others' need not agree).
  std::optional<LeaderRecord> observed;
  Steady::time_point observed_at{};
  bool holding = false;           // the last write of ours succeeded and was not given up
  Steady::time_point renewed{};   // when it did
  std::string last_error;         // logged once per change, not every retry
  std::optional<bool> announced;  // what SetLeading last said; nothing yet at start
  prometheus::Gauge* leading_gauge = nullptr;
  prometheus::Counter* transitions = nullptr;
  prometheus::Family<prometheus::Counter>* failures = nullptr;
};

LeaderElector::LeaderElector(std::unique_ptr<LeaderLock> lock, std::string identity,
                             const core::LeaderElectionConfig& config, const core::Clock& clock,
                             prometheus::Registry& registry)
    : lock_(std::move(lock)),
      identity_(std::move(identity)),
      config_(config),
      clock_(clock),
      state_(std::make_unique<State>()) {
  state_->leading_gauge = &prometheus::BuildGauge()
                               .Name("obsgate_leader")
                               .Help(
                                   "1 while this replica holds the leader lock and acts "
                                   "(rolls back, runs pipelines); 0 while it stands by.")
                               .Register(registry)
                               .Add({{"identity", identity_}, {"lock", lock_->Describe()}});
  state_->transitions = &prometheus::BuildCounter()
                             .Name("obsgate_leader_transitions_total")
                             .Help("Times this replica gained or lost the lead.")
                             .Register(registry)
                             .Add({});
  state_->failures = &prometheus::BuildCounter()
                          .Name("obsgate_leader_lock_failures_total")
                          .Help("Attempts to read or write the leader lock that failed, by step.")
                          .Register(registry);
}

LeaderElector::~LeaderElector() { Stop(); }

bool LeaderElector::leading() const {
  std::lock_guard lock(state_->mu);
  return state_->holding && Steady::now() - state_->renewed < config_.renew_deadline;
}

std::string LeaderElector::holder() const {
  std::lock_guard lock(state_->mu);
  if (state_->holding) return identity_;
  return state_->observed ? state_->observed->holder : "";
}

void LeaderElector::SetLeading(bool now_leading, const std::string& why) {
  bool first = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->announced == now_leading) return;
    first = !state_->announced.has_value();
    state_->announced = now_leading;
    state_->leading_gauge->Set(now_leading ? 1 : 0);
  }
  if (!first || now_leading) state_->transitions->Increment();
  if (now_leading) {
    log::Info("leading: this replica acts now",
              {{"identity", identity_}, {"lock", lock_->Describe()}, {"why", why}});
  } else {
    // Losing the lead is worth a warning; standing by from the start is how a second replica runs.
    log::Write(first ? log::Level::kInfo : log::Level::kWarn,
               "standing by: another replica may act",
               {{"identity", identity_}, {"lock", lock_->Describe()}, {"why", why}});
  }
}

void LeaderElector::TryAcquireOrRenew() {
  const Steady::time_point now = Steady::now();
  auto fail = [&](const char* step, const std::string& error) {
    state_->failures->Add({{"step", step}}).Increment();
    {
      std::lock_guard lock(state_->mu);
      if (error != state_->last_error) {
        log::Warn("leader lock: " + std::string(step) + " failed",
                  {{"lock", lock_->Describe()}, {"error", error}});
        state_->last_error = error;
      }
      // Renewing failed for the whole deadline: give the lock up before others may take it.
      if (state_->holding && now - state_->renewed >= config_.renew_deadline) {
        state_->holding = false;
      }
    }
    if (!leading()) SetLeading(false, "could not renew within renew_deadline: " + error);
  };

  auto current = lock_->Get();
  if (!current) return fail("get", current.error());
  const core::TimePoint wall = clock_.Now();
  LeaderRecord mine;
  mine.holder = identity_;
  mine.lease_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
  mine.acquire_time = MicroTime(wall);
  mine.renew_time = mine.acquire_time;

  if (!current->has_value()) {
    if (core::Status s = lock_->Create(mine); !s) return fail("create", s.error());
  } else {
    const LeaderRecord& r = **current;
    const auto duration =
        r.lease_seconds > 0
            ? std::chrono::duration_cast<core::Duration>(std::chrono::seconds(r.lease_seconds))
            : config_.lease_duration;
    bool expired;
    {
      std::lock_guard lock(state_->mu);
      // Any change to the record (as client-go compares it whole) restarts the lease.
      if (state_->observed != r) {
        state_->observed = r;
        state_->observed_at = now;
      }
      expired = state_->observed_at + duration <= now;
    }
    if (!r.holder.empty() && r.holder != identity_ && !expired) {
      // Someone else holds it and renewed it within its lease: stand by.
      {
        std::lock_guard lock(state_->mu);
        state_->holding = false;
        state_->last_error.clear();
      }
      SetLeading(false, r.holder + " holds the lock");
      return;
    }
    if (r.holder == identity_) {
      mine.acquire_time = r.acquire_time;
      mine.transitions = r.transitions;
    } else {
      mine.transitions = r.transitions + 1;
    }
    if (core::Status s = lock_->Update(mine); !s) return fail("update", s.error());
  }
  {
    std::lock_guard lock(state_->mu);
    state_->holding = true;
    state_->renewed = now;
    state_->observed = mine;
    state_->observed_at = now;
    state_->last_error.clear();
  }
  SetLeading(true, "holds " + lock_->Describe());
}

void LeaderElector::Loop() {
  for (;;) {
    TryAcquireOrRenew();
    std::unique_lock lock(state_->mu);
    if (state_->wake.wait_for(lock, config_.retry_period, [this] { return state_->stop; })) {
      return;
    }
  }
}

void LeaderElector::Start() {
  state_->thread = std::thread([this] { Loop(); });
}

void LeaderElector::Stop() {
  if (!state_->thread.joinable()) return;
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
  bool held;
  {
    std::lock_guard lock(state_->mu);
    held = state_->holding;
    state_->holding = false;
  }
  SetLeading(false, "stopping");
  if (held) {
    // As client-go's ReleaseOnCancel: an empty holder and a one-second lease, so another
    // replica takes over at its next try instead of after lease_duration.
    LeaderRecord released;
    released.lease_seconds = 1;
    released.acquire_time = released.renew_time = MicroTime(clock_.Now());
    std::optional<LeaderRecord> seen;
    {
      std::lock_guard lock(state_->mu);
      seen = state_->observed;
    }
    released.transitions = seen ? seen->transitions : 0;
    if (core::Status s = lock_->Update(released); !s) {
      log::Warn("leader lock: release failed; another replica takes over after lease_duration",
                {{"lock", lock_->Describe()}, {"error", s.error()}});
    }
  }
}

}  // namespace obsgate::ha
