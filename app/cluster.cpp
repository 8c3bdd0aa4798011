#include "app/cluster.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "ha/cluster_wire.hpp"
#include "net/http_client.hpp"

namespace obsgate::app {
namespace {

using Clock = std::chrono::steady_clock;

// FNV-1a, 64 bits: the same on every replica and build, as the owner of a deployment must be.
std::uint64_t Fnv(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Mixes the bits, so peers whose names differ in a few bytes still win evenly.
std::uint64_t Mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

}  // namespace

struct Cluster::Impl {
  struct Peer {
    std::string url;
    std::unique_ptr<net::HttpClient> client;  // null for this replica
    std::uint64_t seed = 0;
    core::LocalCounts pending;                       // guarded by mu
    std::optional<Clock::time_point> failing_since;  // sending thread only
    prometheus::Counter* forwarded = nullptr;
    prometheus::Counter* given_up = nullptr;
    prometheus::Gauge* up = nullptr;
  };

  core::ClusterConfig config;
  std::string token;
  std::vector<Peer> peers;  // sorted by url, as the configuration is
  std::size_t self = 0;
  prometheus::Family<prometheus::Counter>* failures = nullptr;
  prometheus::Family<prometheus::Counter>* rollbacks = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* malformed = nullptr;

  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::string> rollback_bodies;  // new ones, guarded by mu
  // Offered and not taken yet (no replica led at that moment: a lead changing hands); offered
  // again each round until give_up_after. Sending thread only.
  struct Offer {
    std::string body;
    Clock::time_point until;
    std::string last_answer;  // what the peers said the last time it was offered, for the log
  };
  std::deque<Offer> offers;
  bool stopping = false;
  std::thread thread;
  std::function<void(core::LocalCounts&)> local;

  void Loop();
  void SendCounts(Peer& peer, bool last);
  // True when a peer (the leader) took it; else `answer` says what each peer answered.
  bool SendRollback(const std::string& body, std::string& answer);
  net::HttpFetch Post(Peer& peer, const std::string& target, std::string body) {
    net::HttpCall call;
    call.method = "POST";
    call.target = target;
    call.content_type = "application/json";
    call.body = std::move(body);
    if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
    return peer.client->Send(call);
  }
};

core::Result<std::unique_ptr<Cluster>> Cluster::Create(const core::ClusterConfig& config,
                                                       std::string token,
                                                       prometheus::Registry& registry) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->token = std::move(token);
  auto& forwarded = prometheus::BuildCounter()
                        .Name("obsgate_cluster_forwarded_series_total")
                        .Help("Series whose counts were sent to the replica owning them.")
                        .Register(registry);
  auto& given_up = prometheus::BuildCounter()
                       .Name("obsgate_cluster_kept_series_total")
                       .Help(
                           "Series counted here because their owner took no counts for "
                           "give_up_after.")
                       .Register(registry);
  auto& up = prometheus::BuildGauge()
                 .Name("obsgate_cluster_peer_up")
                 .Help("1 while the peer takes what this replica sends it.")
                 .Register(registry);
  impl->failures = &prometheus::BuildCounter()
                        .Name("obsgate_cluster_send_failures_total")
                        .Help("Sends to a peer that failed, by reason.")
                        .Register(registry);
  impl->rollbacks = &prometheus::BuildCounter()
                         .Name("obsgate_cluster_forwarded_rollbacks_total")
                         .Help(
                             "Rollbacks decided here while standing by, offered to the "
                             "leader: accepted, or not taken by any replica.")
                         .Register(registry);
  impl->received = &prometheus::BuildCounter()
                        .Name("obsgate_cluster_received_series_total")
                        .Help("Series whose counts a peer sent to this replica, their owner.")
                        .Register(registry)
                        .Add({});
  impl->malformed = &prometheus::BuildCounter()
                         .Name("obsgate_cluster_malformed_messages_total")
                         .Help("Messages to /api/v1/cluster/* that were not what a peer sends.")
                         .Register(registry)
                         .Add({});
  impl->rollbacks->Add({{"result", "accepted"}});
  impl->rollbacks->Add({{"result", "not_taken"}});
  for (const std::string& url : config.peers) {
    Impl::Peer peer;
    peer.url = url;
    peer.seed = Fnv(14695981039346656037ULL, url);
    if (url == config.self) {
      impl->self = impl->peers.size();
    } else {
      net::HttpClientOptions options;
      options.timeout = std::chrono::seconds(5);
      auto client = net::HttpClient::Create(url, options);
      if (!client) return core::Error{"cluster peer " + url + ": " + client.error()};
      peer.client = std::move(client).value();
      peer.forwarded = &forwarded.Add({{"peer", url}});
      peer.given_up = &given_up.Add({{"peer", url}});
      peer.up = &up.Add({{"peer", url}});
      peer.up->Set(1);
    }
    impl->peers.push_back(std::move(peer));
  }
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() { Stop(); }

const std::string& Cluster::self() const { return impl_->peers[impl_->self].url; }

std::size_t Cluster::OwnerIndex(std::string_view ns, std::string_view deployment) const {
  std::size_t best = 0;
  std::uint64_t best_score = 0;
  for (std::size_t i = 0; i < impl_->peers.size(); ++i) {
    std::uint64_t h = Fnv(impl_->peers[i].seed, ns);
    h = Fnv(h ^ 0x2f, deployment);  // '/' between them, so ("a/b", "c") is not ("a", "b/c")
    std::uint64_t score = Mix(h);
    if (i == 0 || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

const std::string& Cluster::OwnerOf(std::string_view ns, std::string_view deployment) const {
  return impl_->peers[OwnerIndex(ns, deployment)].url;
}

bool Cluster::Route(const core::SeriesKey& key, const core::Counts& counts) {
  std::size_t owner = OwnerIndex(key.ns, key.deployment);
  if (owner == impl_->self) return false;
  std::lock_guard lock(impl_->mu);
  impl_->peers[owner].pending.At(key.ns, key.deployment, key.version) += counts;
  return true;
}

core::Status Cluster::Take(std::string_view body, core::LocalCounts& out) {
  core::Status s = ha::DecodeCounts(body, out);
  if (!s) {
    impl_->malformed->Increment();
    return s;
  }
  impl_->received->Increment(static_cast<double>(out.size()));
  return s;
}

core::Result<ha::ForwardedRollback> Cluster::TakeRollback(std::string_view body) {
  auto r = ha::DecodeRollback(body);
  if (!r) impl_->malformed->Increment();
  return r;
}

void Cluster::ForwardRollback(const ha::ForwardedRollback& rollback) {
  std::string body = ha::EncodeRollback(rollback);
  std::lock_guard lock(impl_->mu);
  impl_->rollback_bodies.push_back(std::move(body));
  impl_->wake.notify_all();
}

void Cluster::Start(std::function<void(core::LocalCounts&)> local) {
  impl_->local = std::move(local);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

void Cluster::Stop() {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->wake.notify_all();
  }
  impl_->thread.join();
}

void Cluster::Impl::Loop() {
  for (;;) {
    std::deque<std::string> bodies;
    bool last = false;
    {
      std::unique_lock lock(mu);
      wake.wait_for(lock, config.forward_interval,
                    [this] { return stopping || !rollback_bodies.empty(); });
      bodies.swap(rollback_bodies);
      last = stopping;
    }
    Clock::time_point now = Clock::now();
    for (std::string& body : bodies)
      offers.push_back({std::move(body), now + config.give_up_after, {}});
    for (auto it = offers.begin(); it != offers.end();) {
      if (SendRollback(it->body, it->last_answer)) {
        it = offers.erase(it);
      } else if (now >= it->until || last) {
        rollbacks->Add({{"result", "not_taken"}}).Increment();
        log::Warn(
            "no replica took the rollback this standby decided, for give_up_after; none "
            "led, or none was reachable",
            {{"give_up_after_seconds", std::chrono::duration<double>(config.give_up_after).count()},
             {"last_answers", it->last_answer}});
        it = offers.erase(it);
      } else {
        ++it;
      }
    }
    for (Peer& peer : peers) {
      if (peer.client) SendCounts(peer, last);
    }
    if (last) return;
  }
}

void Cluster::Impl::SendCounts(Peer& peer, bool last) {
  std::vector<std::pair<core::SeriesKey, core::Counts>> series;
  {
    std::lock_guard lock(mu);
    peer.pending.Drain(
        [&](const core::SeriesKey& k, const core::Counts& c) { series.emplace_back(k, c); });
  }
  if (series.empty()) return;
  net::HttpFetch r = Post(peer, "/api/v1/cluster/counts", ha::EncodeCounts(series));
  if (r.ok) {
    peer.forwarded->Increment(static_cast<double>(series.size()));
    if (peer.failing_since) {
      log::Info("cluster peer takes counts again", {{"peer", peer.url}});
      peer.failing_since.reset();
      peer.up->Set(1);
    }
    return;
  }
  failures->Add({{"peer", peer.url}, {"reason", r.reason.empty() ? "http_status" : r.reason}})
      .Increment();
  Clock::time_point now = Clock::now();
  if (!peer.failing_since) {
    peer.failing_since = now;
    peer.up->Set(0);
    log::Warn("cluster peer takes no counts; they wait for it",
              {{"peer", peer.url}, {"error", r.error}, {"status", r.status}});
  }
  core::LocalCounts back;
  for (const auto& [k, c] : series) back.At(k.ns, k.deployment, k.version) += c;
  if (last || now - *peer.failing_since >= config.give_up_after) {
    // Counted here: the owner's windows miss them, but nothing is lost.
    peer.given_up->Increment(static_cast<double>(series.size()));
    if (local) local(back);
    return;
  }
  std::lock_guard lock(mu);
  back.Drain([&](const core::SeriesKey& k, const core::Counts& c) {
    peer.pending.At(k.ns, k.deployment, k.version) += c;
  });
}

bool Cluster::Impl::SendRollback(const std::string& body, std::string& answer) {
  answer.clear();
  for (Peer& peer : peers) {
    if (!peer.client) continue;
    // The leader answers 202; a replica standing by 409.
    net::HttpFetch r = Post(peer, "/api/v1/cluster/rollbacks", body);
    if (r.ok) {
      rollbacks->Add({{"result", "accepted"}}).Increment();
      log::Info("rollback handed to the leader", {{"leader", peer.url}});
      return true;
    }
    answer += (answer.empty() ? "" : "; ") + peer.url + ": " +
              (r.status != 0 ? std::to_string(r.status) + " " + r.body.substr(0, 200) : r.error);
  }
  return false;
}

}  // namespace obsgate::app
