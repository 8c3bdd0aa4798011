#include "ingest/kafka/kafka_source.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "ingest/kafka/kafka_handles.hpp"
#include "ingest/pipeline.hpp"

namespace obsgate::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// A message value is one log line; past this it is no log line but a misrouted payload.
constexpr std::size_t kMaxMessageBytes = 1 << 20;
// Kubernetes names are at most 253 bytes; a longer header value is no name.
constexpr std::size_t kMaxHeaderLabel = 253;
// A batch ends at batch_size messages or this long after it began, so counts reach the window
// store (and offsets get stored) promptly even when traffic is thin.
constexpr auto kBatchTime = std::chrono::milliseconds(100);
// A repeating problem (a broker down) is logged at most once per this, per kind.
constexpr auto kLogEvery = std::chrono::seconds(5);
// A commit on revoke waits this long at most, and stopping (the last commit, leaving the group)
// this long in all, so a dead coordinator cannot hold a reload or shutdown; what was not committed
// is read again (at-least-once). librdkafka may add up to socket.timeout.ms to let requests in
// flight end.
constexpr auto kCommitWait = std::chrono::seconds(10);
constexpr auto kStopWait = std::chrono::seconds(10);
// librdkafka's statistics carry the consumer lag per partition.
constexpr const char* kDefaultStatsIntervalMs = "5000";
// Committed with each offset: where in the partition the window horizon begins, so the next
// owner can rebuild the windows from there.
constexpr std::string_view kWindowStartMetadata = "obsgate:window_start=";
// The log positions of a window's start are kept per this fraction of the horizon.
constexpr int kStretchesPerHorizon = 60;

// The window start an obsgate commit carries in its metadata; -1 when there is none.
std::int64_t WindowStartOf(const rd_kafka_topic_partition_t& committed) {
  std::string_view metadata(static_cast<const char*>(committed.metadata),
                            committed.metadata != nullptr ? committed.metadata_size : 0);
  if (metadata.substr(0, kWindowStartMetadata.size()) != kWindowStartMetadata) return -1;
  metadata.remove_prefix(kWindowStartMetadata.size());
  std::int64_t offset = 0;
  if (metadata.empty() || metadata.size() > 18) return -1;
  for (char c : metadata) {
    if (c < '0' || c > '9') return -1;
    offset = offset * 10 + (c - '0');
  }
  return offset;
}

// Why a message or an operation failed, as the `reason` label of obsgate_kafka_errors_total.
enum class Reason {
  kEmpty,      // no value, or only a line end
  kBinary,     // contains NUL bytes: no log line
  kTooLarge,   // over kMaxMessageBytes
  kMalformed,  // a docker or CRI frame that does not parse
  kConsume,    // the consumer reported an error for a partition (unknown topic, ...)
  kTransport,  // brokers unreachable
  kAuth,       // authentication or TLS failed
  kBroker,     // any other client error
  kFatal,      // the client cannot continue
  kCommit,     // an offset commit failed
  kRebalance,  // assignment failed
  kCount
};
constexpr std::array<const char*, static_cast<std::size_t>(Reason::kCount)> kReasonNames = {
    "empty", "binary", "too_large", "malformed", "consume",  "transport",
    "auth",  "broker", "fatal",     "commit",    "rebalance"};

bool IsSecretKey(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"password", "secret", "token", "key"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// Properties at-least-once delivery depends on, or that the source's own keys set.
const char* ManagedProperty(std::string_view key) {
  if (key == "enable.auto.commit" || key == "enable.auto.offset.store") {
    return "obsgate stores and commits offsets itself, after the counts are taken";
  }
  if (key == "group.id") return "set the source's group: instead";
  if (key == "bootstrap.servers" || key == "metadata.broker.list") {
    return "set the source's brokers: instead";
  }
  return nullptr;
}

// Replaces the values of secret properties in text from librdkafka, which quotes values.
std::string Redact(std::string text, const std::map<std::string, std::string>& properties) {
  for (const auto& [key, value] : properties) {
    if (!IsSecretKey(key) || value.empty()) continue;
    for (std::size_t at = text.find(value); at != std::string::npos; at = text.find(value, at)) {
      text.replace(at, value.size(), "<redacted>");
      at += std::strlen("<redacted>");
    }
  }
  return text;
}

Reason ReasonOfClientError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
      return Reason::kTransport;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return Reason::kAuth;
    case RD_KAFKA_RESP_ERR__FATAL:
      return Reason::kFatal;
    default:
      return Reason::kBroker;
  }
}

// Lets one line per kind through every kLogEvery and counts the rest. Thread-safe: librdkafka
// logs from its own threads.
class LogLimiter {
 public:
  // True when a line of `kind` may be written now; `held_back` gets how many were not since.
  bool Allow(std::string_view kind, std::uint64_t& held_back) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(kind);
    if (it == entries_.end()) it = entries_.emplace(std::string(kind), Entry{}).first;
    Entry& e = it->second;
    Clock::time_point now = Clock::now();
    if (e.written && now - e.last < kLogEvery) {
      ++e.held_back;
      return false;
    }
    e.written = true;
    e.last = now;
    held_back = std::exchange(e.held_back, 0);
    return true;
  }

 private:
  struct Entry {
    bool written = false;
    Clock::time_point last;
    std::uint64_t held_back = 0;
  };
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;  // kinds are a fixed, small set
};

// Started and stopped by the owner's thread; everything else (the librdkafka handle, the streams,
// the counts, all callbacks but logging) belongs to the consumer thread.
class KafkaSource final : public Source {
 public:
  KafkaSource(std::string name, const core::KafkaSourceConfig& config, ConfHandle conf,
              std::unique_ptr<LineCounter> counter, std::unique_ptr<LineCounter> replay_counter,
              core::Duration horizon, prometheus::Registry& registry)
      : name_(std::move(name)),
        properties_(config.properties),
        topics_(config.topics),
        format_(FormatFrom(config.format)),
        batch_size_(std::max(config.batch_size, 1)),
        commit_interval_(config.commit_interval),
        header_names_(config.header_names),
        labels_{config.labels.ns, config.labels.deployment, config.labels.version},
        rewind_(config.rewind_on_assign),
        horizon_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(horizon).count()),
        stretch_ms_(std::max<std::int64_t>(1, horizon_ms_ / kStretchesPerHorizon)),
        conf_(std::move(conf)),
        counter_(std::move(counter)),
        replay_counter_(std::move(replay_counter)),
        messages_(prometheus::BuildCounter()
                      .Name("obsgate_kafka_messages_total")
                      .Help("Kafka messages received, rejected ones included.")
                      .Register(registry)
                      .Add({{"source", name_}})),
        errors_family_(prometheus::BuildCounter()
                           .Name("obsgate_kafka_errors_total")
                           .Help("Kafka messages rejected and client errors, by reason.")
                           .Register(registry)),
        lag_family_(prometheus::BuildGauge()
                        .Name("obsgate_kafka_consumer_lag")
                        .Help("Messages in an assigned partition not yet consumed by this source.")
                        .Register(registry)),
        owned_family_(prometheus::BuildGauge()
                          .Name("obsgate_kafka_owned_partitions")
                          .Help("1 for each partition assigned to this replica's source.")
                          .Register(registry)),
        replayed_(prometheus::BuildCounter()
                      .Name("obsgate_kafka_replayed_messages_total")
                      .Help("Messages read again to rebuild windows of partitions taken over.")
                      .Register(registry)
                      .Add({{"source", name_}})),
        unkeyed_(prometheus::BuildCounter()
                     .Name("obsgate_kafka_unkeyed_messages_total")
                     .Help("Messages whose key is not the namespace/deployment they count for.")
                     .Register(registry)
                     .Add({{"source", name_}})) {
    // Created up front so every reason is exported, at 0 until it happens.
    for (std::size_t i = 0; i < errors_.size(); ++i) {
      errors_[i] = &errors_family_.Add({{"source", name_}, {"reason", kReasonNames[i]}});
    }
  }
  ~KafkaSource() override { Stop(); }

  core::Status Start(RecordSink& sink) override;
  void Stop() override;
  const std::string& name() const override { return name_; }

 private:
  // What a replica knows of a partition's deployments: kept across an eager rebalance that gives
  // the partition back to it, forgotten when it goes elsewhere.
  struct Share {
    std::set<std::pair<std::string, std::string>> deployments;  // (ns, deployment) counted from it
    // The first offset of each stretch of time in it, oldest first: the log position of a
    // window's start, committed for the next owner.
    std::deque<std::pair<std::int64_t, std::int64_t>> starts;  // (stretch, offset)
    std::int64_t window_start = -1;  // as committed by the last owner, until starts knows better
    // After the last message delivered: where to go on when the partition comes back, whatever
    // the commit at its revocation achieved.
    std::int64_t delivered = RD_KAFKA_OFFSET_INVALID;
  };
  // One assigned partition: its line joining and what to commit once the counts are delivered.
  struct Partition {
    Partition(std::string t, std::int32_t p, Format format)
        : topic(std::move(t)), partition(p), stream(format, std::string()) {}
    std::string topic;
    std::int32_t partition;
    LogStream stream;
    // After the last message counted; the share's `delivered` lags it until the next Flush.
    std::int64_t next_offset = RD_KAFKA_OFFSET_INVALID;
    bool to_commit = false;          // delivered moved since the last commit
    std::int64_t replay_until = -1;  // offsets below this are replayed into past windows
    core::TimePoint assigned_at;
    bool rebuilt = false;  // its deployments' windows are rebuilt from the log
    Share share;
    // The deployment of the message before, so most messages skip the set.
    std::string last_ns, last_deployment;
    prometheus::Gauge* lag = nullptr;
    prometheus::Gauge* owned = nullptr;
  };
  using PartitionKey = std::pair<std::string, std::int32_t>;

  void Run();
  void ConsumeBatch();
  void Count(const rd_kafka_message_t& m);
  void Reject(Reason reason, std::size_t bytes);
  void ReadHeaders(const rd_kafka_message_t& m);
  // Remembers where in the partition the stretch of `m`'s time begins.
  void NoteStart(Partition& p, const rd_kafka_message_t& m, core::TimePoint at);
  // After a message was counted: the deployment it counted for belongs to p's share.
  void NoteDeployment(Partition& p, const rd_kafka_message_t& m, LineCounter& counter,
                      bool replayed);
  // Hands the counts to the sink; what they include may then be committed.
  void Flush();
  void FlushReplay();
  // The offsets delivered (all of them, or those changed since the last commit), each with the
  // partition's window start as its metadata.
  PartitionList CommitList(bool all);
  // Commits the delivered offsets and waits for the answer, at most kCommitWait and not past the
  // stop deadline once stopping.
  void CommitAndWait(std::string_view why);
  // Assigned partitions new to this member: from the offsets their last owner committed, where
  // to replay from (rewind_on_assign).
  void Rewind(rd_kafka_topic_partition_list_t* parts, const std::vector<int>& fresh);
  // Asks the sink to forget these deployments, but those a partition still held counts.
  void ForgetLeaving(std::set<std::pair<std::string, std::string>> leaving);
  void Close();
  Partition& PartitionFor(const char* topic, std::int32_t partition);
  // Forgets the partition, its half-joined messages and its gauges; returns its share.
  Share DropPartition(const char* topic, std::int32_t partition);
  void DropAllPartitions();

  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void OnError(rd_kafka_resp_err_t err, const char* reason);
  void OnCommitted(rd_kafka_resp_err_t err);
  void OnStats(std::string_view json);
  void OnLog(int level, const char* facility, const char* text);
  void LogLimited(log::Level level, Reason kind, std::string_view msg, std::string_view detail);
  void CountError(Reason reason) { errors_[static_cast<std::size_t>(reason)]->Increment(); }

  static void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<KafkaSource*>(opaque)->OnRebalance(err, parts);
  }
  static void ErrorCb(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<KafkaSource*>(opaque)->OnError(static_cast<rd_kafka_resp_err_t>(err), reason);
  }
  static void CommitCb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                       void* opaque) {
    static_cast<KafkaSource*>(opaque)->OnCommitted(err);
  }
  static int StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque) {
    static_cast<KafkaSource*>(opaque)->OnStats(std::string_view(json, len));
    return 0;  // librdkafka frees json
  }
  static void LogCb(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    if (void* opaque = rd_kafka_opaque(rk)) {
      static_cast<KafkaSource*>(opaque)->OnLog(level, facility, text);
    }
  }

  const std::string name_;
  const std::map<std::string, std::string> properties_;
  const std::vector<std::string> topics_;
  const Format format_;
  const int batch_size_;
  const core::Duration commit_interval_;
  const core::StaticLabels header_names_;
  const SourceLabels labels_;
  const bool rewind_;
  const std::int64_t horizon_ms_;
  const std::int64_t stretch_ms_;
  ConfHandle conf_;  // validated; copied into the handle at Start

  std::unique_ptr<LineCounter> counter_;
  std::unique_ptr<LineCounter> replay_counter_;  // replayed counts, delivered per second
  core::TimePoint replay_at_;                    // when replay_counter_'s counts happened
  std::uint64_t batch_replayed_ = 0;
  RecordSink* sink_ = nullptr;
  KafkaHandle rk_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;

  std::map<PartitionKey, std::unique_ptr<Partition>> partitions_;
  // Shares of partitions an eager rebalance revoked, until the assignment that follows says
  // which came back (kept as they are) and which went elsewhere (forgotten).
  std::map<PartitionKey, Share> leaving_;
  bool closing_ = false;       // leaving the group to stop: windows stay for a source that follows
  Partition* last_ = nullptr;  // consecutive messages mostly come from one partition
  SourceLabels from_headers_;  // reused per message, so reading headers does not allocate
  std::uint64_t batch_messages_ = 0;
  Clock::time_point next_commit_;
  Clock::time_point stop_deadline_ = Clock::time_point::max();

  prometheus::Counter& messages_;
  prometheus::Family<prometheus::Counter>& errors_family_;
  std::array<prometheus::Counter*, static_cast<std::size_t>(Reason::kCount)> errors_{};
  prometheus::Family<prometheus::Gauge>& lag_family_;
  prometheus::Family<prometheus::Gauge>& owned_family_;
  prometheus::Counter& replayed_;
  prometheus::Counter& unkeyed_;
  simdjson::dom::parser stats_parser_;
  LogLimiter limiter_;
};

core::Status KafkaSource::Start(RecordSink& sink) {
  if (started_) return core::Error{"kafka source \"" + name_ + "\" was started already"};
  ConfHandle conf(rd_kafka_conf_dup(conf_.get()));
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::RebalanceCb);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSource::ErrorCb);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaSource::CommitCb);
  rd_kafka_conf_set_stats_cb(conf.get(), &KafkaSource::StatsCb);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaSource::LogCb);

  char errstr[512] = "";
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr));
  if (!rk) {
    return core::Error{"kafka source \"" + name_ + "\": cannot create the consumer: " +
                       Redact(errstr, properties_) + "; check the source's properties"};
  }
  conf.release();  // rd_kafka_new took it
  // Callbacks (rebalance, errors, commits, statistics) are then served by rd_kafka_consumer_poll.
  rd_kafka_poll_set_consumer(rk.get());

  PartitionList topics = NewPartitionList(static_cast<int>(topics_.size()));
  for (const std::string& t : topics_) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), topics.get())) {
    return core::Error{"kafka source \"" + name_ + "\": cannot subscribe to the topics: " +
                       rd_kafka_err2str(err) + "; check the topic names"};
  }
  started_ = true;
  sink_ = &sink;
  rk_ = std::move(rk);
  next_commit_ = Clock::now() + commit_interval_;
  thread_ = std::thread([this] { Run(); });
  log::Info("kafka source started",
            {{"source", name_}, {"topics", static_cast<std::int64_t>(topics_.size())}});
  return core::Ok{};
}

void KafkaSource::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  thread_.join();
  log::Info("kafka source stopped", {{"source", name_}});
}

void KafkaSource::Run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    // Backpressure would go here: rd_kafka_pause_partitions() on the assignment while the sink
    // is full, rd_kafka_resume_partitions() once it drains. RecordSink does not signal it yet.
    ConsumeBatch();
    Flush();
    if (Clock::now() >= next_commit_) {
      // Asynchronous: a slow coordinator must not stall counting; OnCommitted sees the result.
      PartitionList offsets = CommitList(false);
      if (offsets->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), offsets.get(), 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) OnCommitted(err);
      }
      next_commit_ = Clock::now() + commit_interval_;
    }
  }
  stop_deadline_ = Clock::now() + kStopWait;
  Flush();
  CommitAndWait("stop");
  Close();
}

void KafkaSource::ConsumeBatch() {
  Clock::time_point deadline = Clock::now() + kBatchTime;
  for (int n = 0; n < batch_size_ && !stop_.load(std::memory_order_relaxed);) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    MessageHandle m(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(left.count())));
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      CountError(Reason::kConsume);
      std::string where = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
      if (m->rkt != nullptr) where += "[" + std::to_string(m->partition) + "]";
      LogLimited(log::Level::kWarn, Reason::kConsume, "kafka consumer error",
                 where + ": " + rd_kafka_message_errstr(m.get()));
      continue;
    }
    Count(*m);
    ++n;
  }
}

void KafkaSource::Count(const rd_kafka_message_t& m) {
  Partition& p = PartitionFor(rd_kafka_topic_name(m.rkt), m.partition);
  // Below the committed offset: counted by the last owner already, read again only so this
  // member's windows hold them too, at the time they happened. Never committed again.
  const bool replayed = m.offset < p.replay_until;
  // The record's own time (the producer's, or the broker's append time); now when it has none.
  std::int64_t ms = rd_kafka_message_timestamp(&m, nullptr);
  core::TimePoint at =
      ms >= 0 ? core::TimePoint(std::chrono::milliseconds(ms)) : core::SystemClock().Now();
  NoteStart(p, m, at);
  if (replayed) {
    ++batch_replayed_;
  } else {
    ++batch_messages_;
    p.next_offset = m.offset + 1;
  }

  std::string_view value(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  Reason rejected = Reason::kCount;
  if (value.empty() || value == "\n" || value == "\r\n") {
    rejected = Reason::kEmpty;
  } else if (value.size() > kMaxMessageBytes) {
    rejected = Reason::kTooLarge;
  } else if (std::memchr(value.data(), '\0', value.size()) != nullptr) {
    rejected = Reason::kBinary;
  }
  if (rejected != Reason::kCount) {
    // A replayed one was rejected, and counted as such, by the last owner.
    if (!replayed) Reject(rejected, value.size());
    return;
  }
  ReadHeaders(m);
  LineCounter& counter = replayed ? *replay_counter_ : *counter_;
  if (replayed) {
    // Delivered per second of the records' own time, so each lands in the windows it belongs to.
    core::TimePoint second = std::chrono::floor<std::chrono::seconds>(at);
    if (second != replay_at_) {
      FlushReplay();
      replay_at_ = second;
    }
  }
  IngestStats& stats = counter.stats();
  std::uint64_t frame_errors = stats.docker_errors + stats.cri_errors;
  // Headers stand where a log path would: they name the record before its JSON fields do.
  if (auto message = p.stream.Frame(value, stats)) {
    counter.Count(message->text, from_headers_, labels_);
    NoteDeployment(p, m, counter, replayed);
  } else if (stats.docker_errors + stats.cri_errors != frame_errors && !replayed) {
    CountError(Reason::kMalformed);
  }
}

void KafkaSource::NoteStart(Partition& p, const rd_kafka_message_t& m, core::TimePoint at) {
  std::int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  std::int64_t stretch = ms / stretch_ms_;
  auto& starts = p.share.starts;
  if (starts.empty() || stretch > starts.back().first) starts.emplace_back(stretch, m.offset);
  // Keep the stretch the horizon begins in, and what follows it.
  std::int64_t oldest = (ms - horizon_ms_) / stretch_ms_;
  while (starts.size() > 1 && starts[1].first <= oldest) starts.pop_front();
}

void KafkaSource::NoteDeployment(Partition& p, const rd_kafka_message_t& m, LineCounter& counter,
                                 bool replayed) {
  std::string_view ns = counter.counts().last_ns();
  std::string_view deployment = counter.counts().last_deployment();
  if (deployment == core::kUnknown) return;  // nothing to check a key against, or to hand over
  if (!replayed) {
    // Records keyed by namespace/deployment keep each deployment in one partition, so on one
    // replica; any other key may split a deployment's windows over several.
    std::string_view key(static_cast<const char*>(m.key), m.key != nullptr ? m.key_len : 0);
    bool keyed = ns.empty() ? key == deployment
                            : key.size() == ns.size() + 1 + deployment.size() &&
                                  key.substr(0, ns.size()) == ns && key[ns.size()] == '/' &&
                                  key.substr(ns.size() + 1) == deployment;
    if (!keyed) unkeyed_.Increment();
    std::uint64_t held_back = 0;
    if (!keyed && limiter_.Allow("unkeyed", held_back)) {
      log::Warn(
          "kafka records are not keyed by namespace/deployment; with several replicas in the "
          "group one deployment's counts may be split between them",
          {{"source", name_},
           {"partition", p.partition},
           {"deployment", std::string(ns) + "/" + std::string(deployment)},
           {"key", std::string(key.substr(0, 64))},
           {"suppressed", held_back}});
    }
  }
  if (p.last_deployment == deployment && p.last_ns == ns) return;  // never empty once set
  p.last_ns.assign(ns);
  p.last_deployment.assign(deployment);
  if (!p.share.deployments.emplace(p.last_ns, p.last_deployment).second) return;
  // First seen in this partition since it was assigned. Replayed, its windows here are stale
  // (this member held the partition before, or a reload kept them): they are rebuilt whole.
  if (replayed) sink_->Forget(name_, {{p.last_ns, p.last_deployment}});
  sink_->TookOver(p.last_ns, p.last_deployment,
                  Handover{name_ + " " + p.topic + "[" + std::to_string(p.partition) + "]",
                           p.assigned_at, p.rebuilt});
}

void KafkaSource::Reject(Reason reason, std::size_t bytes) {
  counter_->stats().bytes += bytes;
  CountError(reason);
}

void KafkaSource::ReadHeaders(const rd_kafka_message_t& m) {
  from_headers_.ns.clear();
  from_headers_.deployment.clear();
  from_headers_.version.clear();
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  auto read = [headers](const std::string& name, std::string& out) {
    if (name.empty()) return;
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, name.c_str(), &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        value != nullptr && size <= kMaxHeaderLabel) {
      out.assign(static_cast<const char*>(value), size);
    }
  };
  read(header_names_.ns, from_headers_.ns);
  read(header_names_.deployment, from_headers_.deployment);
  read(header_names_.version, from_headers_.version);
}

void KafkaSource::Flush() {
  if (batch_messages_ != 0) {
    messages_.Increment(static_cast<double>(batch_messages_));
    batch_messages_ = 0;
  }
  FlushReplay();
  IngestStats& stats = counter_->stats();
  if (!counter_->counts().empty() || stats.bytes != 0) {
    sink_->Deliver(name_, counter_->counts(), stats);
    stats = IngestStats{};
  }
  for (auto& [key, p] : partitions_) {
    if (p->next_offset == p->share.delivered) continue;
    p->share.delivered = p->next_offset;
    p->to_commit = true;
  }
}

void KafkaSource::FlushReplay() {
  if (batch_replayed_ != 0) {
    replayed_.Increment(static_cast<double>(batch_replayed_));
    batch_replayed_ = 0;
  }
  if (!replay_counter_->counts().empty()) {
    sink_->DeliverReplayed(name_, replay_counter_->counts(), replay_at_);
  }
  replay_counter_->stats() = IngestStats{};  // the last owner counted these lines and bytes
}

PartitionList KafkaSource::CommitList(bool all) {
  PartitionList offsets = NewPartitionList(static_cast<int>(partitions_.size()));
  for (auto& [key, p] : partitions_) {
    if (p->share.delivered < 0 || (!all && !p->to_commit)) continue;
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_add(offsets.get(), p->topic.c_str(), p->partition);
    tp->offset = p->share.delivered;
    std::int64_t start =
        p->share.starts.empty() ? p->share.window_start : p->share.starts.front().second;
    if (start >= 0) {
      std::string metadata = std::string(kWindowStartMetadata) + std::to_string(start);
      // The list frees it with the list.
      tp->metadata = std::malloc(metadata.size());
      std::memcpy(tp->metadata, metadata.data(), metadata.size());
      tp->metadata_size = metadata.size();
    }
    p->to_commit = false;
  }
  return offsets;
}

void KafkaSource::CommitAndWait(std::string_view why) {
  PartitionList offsets = CommitList(true);
  if (offsets->cnt == 0) return;
  QueueHandle queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_resp_err_t err =
      rd_kafka_commit_queue(rk_.get(), offsets.get(), queue.get(), nullptr, nullptr);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    Clock::time_point until = std::min(stop_deadline_, Clock::now() + kCommitWait);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    EventHandle event(rd_kafka_queue_poll(
        queue.get(), static_cast<int>(std::max<std::int64_t>(wait.count(), 0))));
    err = event ? rd_kafka_event_error(event.get()) : RD_KAFKA_RESP_ERR__TIMED_OUT;
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  CountError(Reason::kCommit);
  log::Warn("kafka offsets not committed; their messages will be counted again",
            {{"source", name_}, {"when", why}, {"error", rd_kafka_err2str(err)}});
}

void KafkaSource::Close() {
  closing_ = true;
  // Closing leaves the group, so the partitions move at once instead of after the session
  // timeout; the revocation it triggers runs OnRebalance on this thread, through `queue`.
  QueueHandle queue(rd_kafka_queue_new(rk_.get()));
  ErrorHandle error(rd_kafka_consumer_close_queue(rk_.get(), queue.get()));
  if (!error) {
    while (!rd_kafka_consumer_closed(rk_.get()) && Clock::now() < stop_deadline_) {
      EventHandle event(rd_kafka_queue_poll(queue.get(), 100));
      if (event && rd_kafka_event_type(event.get()) == RD_KAFKA_EVENT_REBALANCE) {
        OnRebalance(rd_kafka_event_error(event.get()),
                    rd_kafka_event_topic_partition_list(event.get()));
      }
    }
  }
  bool closed = !error && rd_kafka_consumer_closed(rk_.get());
  if (!closed) {
    log::Warn("kafka consumer did not close in time; its partitions move after the session timeout",
              {{"source", name_}});
  }
  DropAllPartitions();
  queue.reset();  // a queue left over would keep the handle from terminating
  rd_kafka_t* rk = rk_.release();
  rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

KafkaSource::Partition& KafkaSource::PartitionFor(const char* topic, std::int32_t partition) {
  if (last_ != nullptr && last_->partition == partition && last_->topic == topic) return *last_;
  auto it = partitions_.find(PartitionKey(topic, partition));
  if (it == partitions_.end()) {
    it = partitions_
             .emplace(PartitionKey(topic, partition),
                      std::make_unique<Partition>(topic, partition, format_))
             .first;
  }
  last_ = it->second.get();
  return *last_;
}

KafkaSource::Share KafkaSource::DropPartition(const char* topic, std::int32_t partition) {
  auto it = partitions_.find(PartitionKey(topic, partition));
  if (it == partitions_.end()) return {};
  Partition& p = *it->second;
  if (p.lag != nullptr) lag_family_.Remove(p.lag);
  if (p.owned != nullptr) owned_family_.Remove(p.owned);
  if (last_ == &p) last_ = nullptr;
  Share share = std::move(p.share);
  partitions_.erase(it);
  return share;
}

void KafkaSource::DropAllPartitions() {
  while (!partitions_.empty()) {
    Partition& p = *partitions_.begin()->second;
    DropPartition(p.topic.c_str(), p.partition);
  }
}

void KafkaSource::ForgetLeaving(std::set<std::pair<std::string, std::string>> leaving) {
  for (const auto& [key, p] : partitions_) {
    for (const auto& d : p->share.deployments) leaving.erase(d);
  }
  if (closing_ || leaving.empty()) return;
  log::Info("kafka partitions moved to another member; their deployments' windows are forgotten",
            {{"source", name_}, {"deployments", static_cast<std::int64_t>(leaving.size())}});
  sink_->Forget(name_, {leaving.begin(), leaving.end()});
}

void KafkaSource::Rewind(rd_kafka_topic_partition_list_t* parts, const std::vector<int>& fresh) {
  PartitionList committed = NewPartitionList(static_cast<int>(fresh.size()));
  for (int i : fresh) {
    rd_kafka_topic_partition_list_add(committed.get(), parts->elems[i].topic,
                                      parts->elems[i].partition);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(
      rk_.get(), committed.get(),
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kCommitWait).count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    CountError(Reason::kRebalance);
    log::Warn("kafka committed offsets unknown; windows of the partitions taken over start empty",
              {{"source", name_}, {"error", rd_kafka_err2str(err)}});
    return;
  }
  std::int64_t replayed = 0, empty = 0;
  // rd_kafka_committed fills the list in place: its i-th entry is parts' fresh[i]-th.
  for (int i = 0; i < committed->cnt; ++i) {
    const rd_kafka_topic_partition_t& c = committed->elems[i];
    Partition& p = PartitionFor(c.topic, c.partition);
    if (c.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++empty;
      continue;
    }
    if (c.offset < 0) {
      // Never committed: everything the log holds is new, and counted as it is read.
      p.rebuilt = true;
      continue;
    }
    std::int64_t start = WindowStartOf(c);
    if (start < 0 || start > c.offset) {
      ++empty;  // committed without a window start: by something other than obsgate
      continue;
    }
    p.share.window_start = start;
    p.rebuilt = true;
    if (start == c.offset) continue;
    p.replay_until = c.offset;
    parts->elems[fresh[static_cast<std::size_t>(i)]].offset = start;
    replayed += c.offset - start;
  }
  log::Info("kafka partitions taken over; replaying their records since the window start",
            {{"source", name_},
             {"partitions", static_cast<std::int64_t>(fresh.size())},
             {"messages", replayed},
             {"without_window_start", empty}});
}

void KafkaSource::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    core::TimePoint now = core::SystemClock().Now();
    std::vector<int> fresh;
    for (int i = 0; i < parts->cnt; ++i) {
      Partition& p = PartitionFor(parts->elems[i].topic, parts->elems[i].partition);
      p.assigned_at = now;
      p.owned = &owned_family_.Add(
          {{"source", name_}, {"topic", p.topic}, {"partition", std::to_string(p.partition)}});
      p.owned->Set(1);
      auto back = leaving_.find(PartitionKey(p.topic, p.partition));
      if (back != leaving_.end()) {
        // Given back by an eager rebalance: nobody counted it meanwhile, the windows hold.
        p.share = std::move(back->second);
        leaving_.erase(back);
        p.rebuilt = true;
        p.next_offset = p.share.delivered;
        if (p.share.delivered >= 0) parts->elems[i].offset = p.share.delivered;
      } else if (rewind_) {
        fresh.push_back(i);
      }
    }
    std::set<std::pair<std::string, std::string>> gone;
    for (auto& [key, share] : leaving_)
      gone.insert(share.deployments.begin(), share.deployments.end());
    leaving_.clear();
    ForgetLeaving(std::move(gone));
    if (!fresh.empty()) Rewind(parts, fresh);
    log::Info("kafka partitions assigned",
              {{"source", name_}, {"partitions", parts->cnt}, {"cooperative", cooperative}});
    rd_kafka_resp_err_t assign_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative) {
      ErrorHandle e(rd_kafka_incremental_assign(rk_.get(), parts));
      if (e) assign_err = rd_kafka_error_code(e.get());
    } else {
      assign_err = rd_kafka_assign(rk_.get(), parts);
    }
    if (assign_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      CountError(Reason::kRebalance);
      log::Error("kafka assignment failed",
                 {{"source", name_}, {"error", rd_kafka_err2str(assign_err)}});
    }
    return;
  }

  // Revoked, lost, or a failed rebalance: whatever was counted goes to the sink first, so the
  // commit below covers exactly what was delivered and the next owner starts after it.
  Flush();
  bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk_.get());
  // A lost assignment belongs to another member already; committing would move its offsets.
  if (!lost) CommitAndWait("revoke");
  log::Info("kafka partitions revoked",
            {{"source", name_}, {"partitions", parts != nullptr ? parts->cnt : 0}, {"lost", lost}});
  // Half-joined messages are dropped, not counted: the next owner starts after their first pieces
  // and counts each once, from its final piece alone.
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && cooperative && parts != nullptr) {
    std::set<std::pair<std::string, std::string>> gone;
    for (int i = 0; i < parts->cnt; ++i) {
      Share share = DropPartition(parts->elems[i].topic, parts->elems[i].partition);
      gone.insert(share.deployments.begin(), share.deployments.end());
    }
    ForgetLeaving(std::move(gone));
    ErrorHandle e(rd_kafka_incremental_unassign(rk_.get(), parts));
    return;
  }
  std::set<std::pair<std::string, std::string>> gone;
  while (!partitions_.empty()) {
    Partition& p = *partitions_.begin()->second;
    PartitionKey key(p.topic, p.partition);
    Share share = DropPartition(p.topic.c_str(), p.partition);
    if (lost) {
      gone.insert(share.deployments.begin(), share.deployments.end());
    } else {
      // Eager: every partition is revoked; the assignment that follows says which come back.
      leaving_[key] = std::move(share);
    }
  }
  ForgetLeaving(std::move(gone));
  if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    CountError(Reason::kRebalance);
    LogLimited(log::Level::kWarn, Reason::kRebalance, "kafka rebalance failed",
               rd_kafka_err2str(err));
  }
  rd_kafka_assign(rk_.get(), nullptr);
}

void KafkaSource::OnError(rd_kafka_resp_err_t err, const char* reason) {
  Reason kind = ReasonOfClientError(err);
  CountError(kind);
  std::string detail = Redact(reason != nullptr ? reason : "", properties_);
  if (kind == Reason::kFatal) {
    char fatal[512] = "";
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_.get(), fatal, sizeof fatal);
    log::Error("kafka consumer failed for good; restart obsgate after fixing the cause",
               {{"source", name_},
                {"error", rd_kafka_err2str(code)},
                {"reason", Redact(fatal, properties_)}});
    return;
  }
  // Brokers going away is routine: librdkafka reconnects by itself, so the loop keeps polling.
  LogLimited(log::Level::kWarn, kind, "kafka client error",
             std::string(rd_kafka_err2name(err)) + ": " + detail);
}

void KafkaSource::OnCommitted(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  CountError(Reason::kCommit);
  LogLimited(log::Level::kWarn, Reason::kCommit, "kafka offset commit failed; retried next time",
             rd_kafka_err2str(err));
}

void KafkaSource::OnStats(std::string_view json) {
  simdjson::dom::element doc;
  if (stats_parser_.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) return;
  simdjson::dom::object topics;
  if (doc["topics"].get(topics) != simdjson::SUCCESS) return;
  for (auto [topic_name, topic] : topics) {
    simdjson::dom::object parts;
    if (topic["partitions"].get(parts) != simdjson::SUCCESS) continue;
    for (auto [id, part] : parts) {
      std::int64_t partition = -1, lag = -1;
      if (part["partition"].get(partition) != simdjson::SUCCESS || partition < 0) continue;
      // -1 until librdkafka knows both the end of the partition and where this member is.
      if (part["consumer_lag"].get(lag) != simdjson::SUCCESS || lag < 0) continue;
      auto it = partitions_.find(
          PartitionKey(std::string(topic_name), static_cast<std::int32_t>(partition)));
      if (it == partitions_.end()) continue;  // not assigned to this member
      Partition& p = *it->second;
      if (p.lag == nullptr) {
        p.lag = &lag_family_.Add(
            {{"source", name_}, {"topic", p.topic}, {"partition", std::to_string(p.partition)}});
      }
      p.lag->Set(static_cast<double>(lag));
    }
  }
}

void KafkaSource::OnLog(int level, const char* facility, const char* text) {
  // syslog levels: 0..3 are errors, 4 warnings; the rest is routine chatter.
  log::Level ours = level <= 3   ? log::Level::kError
                    : level == 4 ? log::Level::kWarn
                                 : log::Level::kDebug;
  if (!log::Enabled(ours)) return;
  std::string detail = Redact(text != nullptr ? text : "", properties_);
  if (ours == log::Level::kDebug) {
    log::Debug("librdkafka", {{"source", name_}, {"facility", facility}, {"detail", detail}});
    return;
  }
  std::uint64_t held_back = 0;
  if (!limiter_.Allow(std::string("log:") + facility, held_back)) return;
  log::Write(
      ours, "librdkafka",
      {{"source", name_}, {"facility", facility}, {"detail", detail}, {"suppressed", held_back}});
}

void KafkaSource::LogLimited(log::Level level, Reason kind, std::string_view msg,
                             std::string_view detail) {
  if (!log::Enabled(level)) return;
  std::uint64_t held_back = 0;
  if (!limiter_.Allow(kReasonNames[static_cast<std::size_t>(kind)], held_back)) return;
  log::Write(level, msg,
             {{"source", name_},
              {"reason", kReasonNames[static_cast<std::size_t>(kind)]},
              {"detail", detail},
              {"suppressed", held_back}});
}

}  // namespace

core::Result<std::unique_ptr<Source>> MakeKafkaSource(std::string name,
                                                      const core::KafkaSourceConfig& config,
                                                      const ClassifyOptions& classify,
                                                      prometheus::Registry& registry,
                                                      core::Duration horizon) {
  auto fail = [&name](const std::string& what) {
    return core::Error{"kafka source \"" + name + "\": " + what};
  };
  if (config.brokers.empty()) return fail("brokers is empty; name them, like kafka:9092");
  if (config.topics.empty()) return fail("topics is empty; name at least one topic");
  if (config.group.empty()) return fail("group is empty; name the consumer group");

  ConfHandle conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> std::optional<core::Error> {
    errstr[0] = '\0';
    rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof errstr);
    if (res == RD_KAFKA_CONF_OK) return std::nullopt;
    if (res == RD_KAFKA_CONF_UNKNOWN) {
      return fail("property \"" + key +
                  "\" is no librdkafka property; see librdkafka's CONFIGURATION.md");
    }
    std::string reason = IsSecretKey(key) ? "its value is not valid (not shown: a secret)"
                                          : Redact(errstr, config.properties);
    return fail("property \"" + key + "\": " + reason);
  };
  std::string client_id = "obsgate-" + name;
  std::vector<std::pair<std::string, std::string>> ours = {
      {"bootstrap.servers", config.brokers},
      {"group.id", config.group},
      {"client.id", client_id},
      {"auto.offset.reset", "earliest"},
      {"statistics.interval.ms", kDefaultStatsIntervalMs},
  };
  for (const auto& [key, value] : ours) {
    if (auto e = set(key, value)) return *e;
  }
  // The user's properties override the defaults above but not the two that make delivery
  // at-least-once, nor the ones the source's own keys set.
  for (const auto& [key, value] : config.properties) {
    if (const char* why = ManagedProperty(key)) {
      return fail("property \"" + key + "\" cannot be set: " + why);
    }
    if (auto e = set(key, value)) return *e;
  }
  for (const char* key : {"enable.auto.commit", "enable.auto.offset.store"}) {
    if (auto e = set(key, "false")) return *e;
  }

  auto counter = LineCounter::Create(classify);
  if (!counter) return fail(counter.error());
  auto replay_counter = LineCounter::Create(classify);
  if (!replay_counter) return fail(replay_counter.error());
  return std::unique_ptr<Source>(
      new KafkaSource(std::move(name), config, std::move(conf), std::move(counter).value(),
                      std::move(replay_counter).value(), horizon, registry));
}

}  // namespace obsgate::ingest
