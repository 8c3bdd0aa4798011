#pragma once

#include <prometheus/family.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alerting/notification.hpp"
#include "alerting/notifier.hpp"
#include "alerting/outbox.hpp"
#include "alerting/router.hpp"
#include "core/clock.hpp"
#include "core/units.hpp"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace obsgate::alerting {

struct DispatcherOptions {
  // Undelivered this long after it was made: given up, logged and counted.
  core::Duration give_up_after = std::chrono::hours(1);
  core::Duration retry_initial = std::chrono::seconds(1);  // doubled per attempt, jittered
  core::Duration retry_max = std::chrono::minutes(5);
  std::size_t history = 200;  // finished and pending notifications kept for the API
  std::uint64_t seed = 0;     // for the back-off jitter; 0: random
};

// Delivers notifications through the outbox: each is written to disk before its first attempt,
// then retried on its receiver's lane (one per receiver, so a slow peer delays only its own
// messages) until delivered, refused for good, or past give_up_after. Thread-safe.
class Dispatcher {
 public:
  Dispatcher(Outbox& outbox, std::vector<std::unique_ptr<Notifier>> notifiers,
             const core::Clock& clock, DispatcherOptions options, prometheus::Registry& registry);
  ~Dispatcher();

  // Writes it to the outbox, then queues it. A notification for an unknown receiver, or one the
  // outbox cannot take, is logged and counted as failed.
  void Submit(Notification n);
  // Queues what the outbox held at start, without writing it again.
  void Resume();
  // Makes every attempt that is due now on the calling thread, lane after lane; returns when
  // none is due, with the time the next one will be (max() when nothing waits). With a fake
  // clock, tests drive delivery through this alone.
  core::TimePoint RunDue();
  // A thread per lane running RunDue's work as time passes; Stop joins them.
  void Start();
  void Stop();

  std::map<std::string, ReceiverTraits> Traits() const;
  // GET /api/v1/notifications: the most recent first, with attempts and results.
  std::string RecentJson() const;

 private:
  struct Entry {
    Notification n;
    int attempts = 0;
    core::TimePoint next_at;
  };
  struct Lane {
    std::unique_ptr<Notifier> notifier;
    std::deque<Entry> queue;
    core::TimePoint next_allowed;  // the notifier's min_interval after the last attempt
    std::thread thread;
    prometheus::Histogram* duration = nullptr;
  };
  struct Record {
    std::string id, receiver, group_key, status, result, detail;
    std::size_t alerts = 0;
    int attempts = 0;
    int last_status = 0;
    core::TimePoint created_at, updated_at;
  };
  core::TimePoint RunLane(Lane& lane);
  void Finish(Lane& lane, const Entry& e, const char* result, const std::string& detail,
              int status);
  void Note(const Entry& e, const std::string& receiver, const char* result,
            const std::string& detail, int status);
  core::Duration Backoff(int attempts);
  void Queue(Notification n);
  void LaneLoop(Lane& lane);

  Outbox& outbox_;
  const core::Clock& clock_;
  DispatcherOptions options_;
  std::map<std::string, Lane> lanes_;  // by receiver name; fixed after construction
  mutable std::mutex mu_;              // guards queues, history, rng, stop_
  std::condition_variable wake_;
  bool stop_ = false;
  bool started_ = false;
  std::mt19937_64 rng_;
  std::deque<Record> history_;
  prometheus::Family<prometheus::Counter>& results_;
  prometheus::Gauge& depth_;
};

}  // namespace obsgate::alerting
