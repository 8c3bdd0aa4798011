#include "alerting/dispatcher.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cmath>

#include "core/json.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {
namespace {

constexpr auto kNever = core::TimePoint::max();

}  // namespace

Dispatcher::Dispatcher(Outbox& outbox, std::vector<std::unique_ptr<Notifier>> notifiers,
                       const core::Clock& clock, DispatcherOptions options,
                       prometheus::Registry& registry)
    : outbox_(outbox),
      clock_(clock),
      options_(options),
      rng_(options.seed ? options.seed : std::random_device{}()),
      results_(prometheus::BuildCounter()
                   .Name("obsgate_notifications_total")
                   .Help("Notification delivery attempts by receiver and result (delivered, "
                         "retried, failed).")
                   .Register(registry)),
      depth_(prometheus::BuildGauge()
                 .Name("obsgate_notification_outbox_depth")
                 .Help("Notifications written to the outbox and not yet delivered or given up.")
                 .Register(registry)
                 .Add({})) {
  auto& durations = prometheus::BuildHistogram()
                        .Name("obsgate_notification_duration_seconds")
                        .Help("Time one delivery attempt took, by receiver.")
                        .Register(registry);
  for (auto& n : notifiers) {
    std::string name = n->name();
    Lane& lane = lanes_[name];
    lane.duration = &durations.Add(
        {{"receiver", name}},
        prometheus::Histogram::BucketBoundaries{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30});
    for (const char* result : {"delivered", "retried", "failed"}) {
      results_.Add({{"receiver", name}, {"result", result}});
    }
    lane.notifier = std::move(n);
  }
  depth_.Set(static_cast<double>(outbox_.depth()));
}

Dispatcher::~Dispatcher() { Stop(); }

std::map<std::string, ReceiverTraits> Dispatcher::Traits() const {
  std::map<std::string, ReceiverTraits> out;
  for (const auto& [name, lane] : lanes_) {
    out[name] = ReceiverTraits{lane.notifier->send_resolved(), lane.notifier->resend_interval()};
  }
  return out;
}

void Dispatcher::Submit(Notification n) {
  if (!lanes_.contains(n.receiver)) {
    log::Error("notification for a receiver that is not configured was dropped",
               {{"receiver", n.receiver}, {"group_key", n.group_key}});
    results_.Add({{"receiver", n.receiver}, {"result", "failed"}}).Increment();
    return;
  }
  if (core::Status s = outbox_.Add(n); !s) {
    // Delivery still gets its chance; only the restart guarantee is lost for this one.
    log::Error("cannot write the notification to the outbox; sending it without a copy on disk",
               {{"receiver", n.receiver}, {"error", s.error()}});
  }
  Queue(std::move(n));
}

void Dispatcher::Resume() {
  std::vector<Notification> pending = outbox_.TakeReplay();
  if (!pending.empty()) {
    log::Info("resuming notifications left pending in the outbox", {{"count", pending.size()}});
  }
  for (Notification& n : pending) {
    if (!lanes_.contains(n.receiver)) {
      log::Error("the outbox holds a notification for a receiver no longer configured; dropped",
                 {{"receiver", n.receiver}, {"group_key", n.group_key}});
      (void)outbox_.Done(n.id, "failed");
      continue;
    }
    Queue(std::move(n));
  }
}

void Dispatcher::Queue(Notification n) {
  {
    std::lock_guard lock(mu_);
    Entry e{std::move(n), 0, clock_.Now()};
    Note(e, e.n.receiver, "pending", "", 0);
    lanes_.at(e.n.receiver).queue.push_back(std::move(e));
    depth_.Set(static_cast<double>(outbox_.depth()));
  }
  wake_.notify_all();
}

core::Duration Dispatcher::Backoff(int attempts) {
  // Exponential with full jitter in [half, whole], so many receivers recovering at once spread.
  double base = static_cast<double>(options_.retry_initial.count()) *
                std::pow(2.0, std::min(attempts - 1, 30));
  base = std::min(base, static_cast<double>(options_.retry_max.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return core::Duration(static_cast<core::Duration::rep>(base * jitter(rng_)));
}

void Dispatcher::Note(const Entry& e, const std::string& receiver, const char* result,
                      const std::string& detail, int status) {
  if (options_.history == 0) return;
  auto it = std::find_if(history_.begin(), history_.end(),
                         [&](const Record& r) { return r.id == e.n.id; });
  if (it == history_.end()) {
    Record r;
    r.id = e.n.id;
    r.receiver = receiver;
    r.group_key = e.n.group_key;
    r.status = e.n.status;
    r.alerts = e.n.alerts.size();
    r.created_at = e.n.created_at;
    history_.push_front(std::move(r));
    it = history_.begin();
    while (history_.size() > options_.history) history_.pop_back();
  }
  it->result = result;
  it->detail = detail;
  it->attempts = e.attempts;
  it->last_status = status;
  it->updated_at = clock_.Now();
}

void Dispatcher::Finish(Lane& lane, const Entry& e, const char* result, const std::string& detail,
                        int status) {
  Note(e, lane.notifier->name(), result, detail, status);
  if (core::Status s = outbox_.Done(e.n.id, result); !s) {
    log::Error("cannot mark a notification done in the outbox; it may be sent again on restart",
               {{"receiver", lane.notifier->name()}, {"error", s.error()}});
  }
  depth_.Set(static_cast<double>(outbox_.depth()));
}

core::TimePoint Dispatcher::RunLane(Lane& lane) {
  std::unique_lock lock(mu_);
  while (!lane.queue.empty()) {
    core::TimePoint now = clock_.Now();
    Entry& e = lane.queue.front();
    const std::string& receiver = lane.notifier->name();
    if (now - e.n.created_at >= options_.give_up_after) {
      log::Error("notification given up: not delivered within give_up_after",
                 {{"receiver", receiver},
                  {"group_key", e.n.group_key},
                  {"status", e.n.status},
                  {"attempts", e.attempts},
                  {"hint", "check the receiver's logged errors and its reachability"}});
      results_.Add({{"receiver", receiver}, {"result", "failed"}}).Increment();
      Finish(lane, e, "expired", "not delivered within give_up_after", 0);
      lane.queue.pop_front();
      continue;
    }
    core::TimePoint due = std::max(e.next_at, lane.next_allowed);
    if (due > now) return due;
    Entry attempt = e;  // the lane is this thread's alone while the lock is released
    lock.unlock();
    auto started = std::chrono::steady_clock::now();
    Delivery d = lane.notifier->Deliver(attempt.n, now);
    lane.duration->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    lock.lock();
    Entry& current = lane.queue.front();
    current.attempts++;
    lane.next_allowed = now + lane.notifier->min_interval();
    switch (d.outcome) {
      case Delivery::Outcome::kDelivered:
        results_.Add({{"receiver", receiver}, {"result", "delivered"}}).Increment();
        Finish(lane, current, "delivered", d.detail, d.status);
        lane.queue.pop_front();
        break;
      case Delivery::Outcome::kGiveUp:
        log::Error("notification refused by the receiver; not retried",
                   {{"receiver", receiver},
                    {"group_key", current.n.group_key},
                    {"status", d.status},
                    {"error", d.detail}});
        results_.Add({{"receiver", receiver}, {"result", "failed"}}).Increment();
        Finish(lane, current, "failed", d.detail, d.status);
        lane.queue.pop_front();
        break;
      case Delivery::Outcome::kRetry: {
        core::Duration wait = d.retry_after ? *d.retry_after : Backoff(current.attempts);
        current.next_at = now + wait;
        results_.Add({{"receiver", receiver}, {"result", "retried"}}).Increment();
        Note(current, receiver, "retrying", d.detail, d.status);
        log::Warn("notification not delivered; will retry",
                  {{"receiver", receiver},
                   {"status", d.status},
                   {"error", d.detail},
                   {"retry_in_seconds", std::chrono::duration<double>(wait).count()}});
        break;
      }
    }
  }
  return kNever;
}

core::TimePoint Dispatcher::RunDue() {
  core::TimePoint next = kNever;
  for (auto& [name, lane] : lanes_) next = std::min(next, RunLane(lane));
  return next;
}

void Dispatcher::LaneLoop(Lane& lane) {
  for (;;) {
    core::TimePoint next = RunLane(lane);
    std::unique_lock lock(mu_);
    if (stop_) return;
    // Real time to wait, at most 1s so a clock that is not the system's is still followed.
    auto wait = std::chrono::milliseconds(1000);
    if (next != kNever) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::max(next - clock_.Now(), core::TimePoint::duration{0})));
    }
    if (!lane.queue.empty() && next <= clock_.Now()) continue;
    wake_.wait_for(lock, wait);
    if (stop_) return;
  }
}

void Dispatcher::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  for (auto& [name, lane] : lanes_) {
    lane.thread = std::thread([this, l = &lane] { LaneLoop(*l); });
  }
}

void Dispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& [name, lane] : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
  }
}

std::string Dispatcher::RecentJson() const {
  std::lock_guard lock(mu_);
  std::string out = "[";
  for (std::size_t i = 0; i < history_.size(); ++i) {
    const Record& r = history_[i];
    out += (i ? "," : "") + std::string("{\"id\":") + core::JsonQuote(r.id) +
           ",\"receiver\":" + core::JsonQuote(r.receiver) +
           ",\"groupKey\":" + core::JsonQuote(r.group_key) +
           ",\"status\":" + core::JsonQuote(r.status) + ",\"alerts\":" + std::to_string(r.alerts) +
           ",\"createdAt\":\"" + core::FormatRfc3339(r.created_at) + "\",\"updatedAt\":\"" +
           core::FormatRfc3339(r.updated_at) + "\",\"attempts\":" + std::to_string(r.attempts) +
           ",\"result\":" + core::JsonQuote(r.result) +
           ",\"lastStatus\":" + std::to_string(r.last_status) +
           ",\"detail\":" + core::JsonQuote(r.detail) + "}";
  }
  return out + "]";
}

}  // namespace obsgate::alerting
