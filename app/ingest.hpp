#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "ingest/source.hpp"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace obsgate::rules {
class WindowStore;
}
namespace obsgate::server {
class HttpServer;
}
namespace obsgate::ingest {
class PushIngester;
}

namespace obsgate::app {

class Cluster;

// The gateway's side of ingestion: the sink every source delivers to (it merges counts into the
// window store and counts lines, bytes and rejections per source), the HTTP push endpoints, and
// the sources the configuration names. Thread-safe as a sink; Start/Stop from the main thread.
class Ingest final : public ingest::RecordSink {
 public:
  Ingest(rules::WindowStore& store, prometheus::Registry& registry);
  ~Ingest() override;

  // With replicas sharing push (cluster:): the counts of pushed lines whose deployment another
  // replica owns go to it. Set before Configure.
  void UseCluster(Cluster* cluster) { cluster_ = cluster; }
  // Builds the push endpoints and sources of `config`; an error names what is wrong.
  core::Status Configure(const core::Config& config, server::HttpServer& server);
  core::Status Start();
  void Stop();

  void Deliver(std::string_view source, core::LocalCounts& counts,
               const ingest::IngestStats& stats) override;
  void DeliverReplayed(std::string_view source, core::LocalCounts& counts,
                       core::TimePoint at) override;
  void Forget(std::string_view source,
              const std::vector<std::pair<std::string, std::string>>& deployments) override;
  void TookOver(const std::string& ns, const std::string& deployment,
                const ingest::Handover& handover) override;
  // Deployments taken over within the window store's horizon, so still in partial windows or
  // rebuilt ones.
  ingest::Handovers handovers() const;

 private:
  void InstallPush(const std::string& name, const core::HttpSourceConfig& http,
                   std::shared_ptr<ingest::PushIngester> ingester, server::HttpServer& server,
                   std::uint64_t max_body_bytes);

  rules::WindowStore& store_;
  prometheus::Registry& registry_;
  prometheus::Family<prometheus::Counter>& lines_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& parse_errors_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& unattributed_;
  prometheus::Family<prometheus::Counter>& truncated_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Gauge>& inflight_;
  prometheus::Family<prometheus::Counter>& forgotten_;
  mutable std::mutex handovers_mu_;
  ingest::Handovers handovers_;
  std::size_t prune_handovers_at_ = 1024;
  std::vector<std::unique_ptr<ingest::Source>> sources_;
  std::vector<std::shared_ptr<ingest::PushIngester>> pushers_;
  Cluster* cluster_ = nullptr;
  std::string push_source_;  // the http source's name: its counts go to their owners
  bool started_ = false;
};

}  // namespace obsgate::app
