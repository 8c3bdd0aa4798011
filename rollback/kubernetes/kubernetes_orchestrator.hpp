#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/config_reader.hpp"  // core::Env
#include "core/result.hpp"
#include "rollback/kubernetes/access.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback {

// What one pod-template-hash stands for.
struct VersionInfo {
  std::string version;            // the image tag of the first container ("v2")
  std::string image;              // the whole image reference
  std::string revision;           // the orchestrator's revision id ("3")
  core::TimePoint rolled_out_at;  // when that revision was created
  bool operator==(const VersionInfo&) const = default;
};

// Per (namespace, deployment): pod-template-hash -> what it stands for.
using VersionMap =
    std::map<std::pair<std::string, std::string>, std::map<std::string, VersionInfo>>;

// Maps the version label obsgate sees first (a pod-template-hash from a log path) to an image
// tag. Thread-safe.
class VersionDiscovery {
 public:
  virtual ~VersionDiscovery() = default;
  // What `template_hash` of `target` stands for, if the last look at the cluster knew it.
  virtual std::optional<VersionInfo> Lookup(const Target& target,
                                            std::string_view template_hash) const = 0;
  // Everything the last look found.
  virtual VersionMap Snapshot() const = 0;
};

}  // namespace obsgate::rollback

namespace obsgate::rollback::kubernetes {

class ApiClient;

// Knobs the configuration does not carry; tests shorten them.
struct KubernetesOptions {
  std::string service_account_dir = kServiceAccountDir;
  int attempts = 4;                        // per read, for 5xx, 429 and failures to connect
  int conflict_attempts = 5;               // re-read and re-send after 409 Conflict
  std::chrono::milliseconds backoff{200};  // doubled after each failed attempt, capped at 5s
  int page_size = 500;                     // ReplicaSets and Deployments per list call
  // How back-off waits; tests record instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// The Kubernetes API behind the Orchestrator interface: RollBack does at the API level what
// `kubectl rollout undo` does, and sends the same JSON patch; Status says what
// `kubectl rollout status` would. Thread-safe: calls run one at a time.
class KubernetesOrchestrator final : public Orchestrator {
 public:
  static core::Result<std::unique_ptr<KubernetesOrchestrator>> Create(
      const core::KubernetesOrchestratorConfig& config, const core::Env& env,
      const core::Clock& clock, KubernetesOptions options = {});
  // With the access already resolved (tests, or a caller that resolved it itself).
  static core::Result<std::unique_ptr<KubernetesOrchestrator>> Create(
      ApiAccess access, const core::Clock& clock, KubernetesOptions options = {});
  ~KubernetesOrchestrator() override;

  std::string_view kind() const override { return "kubernetes"; }
  core::Result<std::vector<Revision>> Revisions(const Target& target) override;
  ActionResult RollBack(const Target& target, const RollbackRequest& request = {}) override;
  ActionResult SetImage(const Target& target, const std::string& container,
                        const std::string& image) override;
  core::Result<RolloutStatus> Status(const Target& target) override;

  const ApiAccess& access() const;

 private:
  KubernetesOrchestrator(std::unique_ptr<ApiClient> api, const core::Clock& clock,
                         KubernetesOptions options);
  std::mutex mu_;
  std::unique_ptr<ApiClient> api_;
  const core::Clock& clock_;
  KubernetesOptions options_;
};

// Lists Deployments and ReplicaSets (in config.namespaces, or all) every config.resync and keeps
// the pod-template-hash -> image tag map. Thread-safe; Start runs the poll on its own thread.
class KubernetesVersionDiscovery final : public VersionDiscovery {
 public:
  static core::Result<std::unique_ptr<KubernetesVersionDiscovery>> Create(
      const core::KubernetesOrchestratorConfig& config, const core::Env& env,
      const core::Clock& clock, KubernetesOptions options = {});
  static std::unique_ptr<KubernetesVersionDiscovery> Create(ApiAccess access,
                                                            std::vector<std::string> namespaces,
                                                            std::chrono::milliseconds resync,
                                                            const core::Clock& clock,
                                                            KubernetesOptions options = {});
  ~KubernetesVersionDiscovery() override;

  // One look at the cluster now; the map is replaced only when every list succeeded.
  core::Status Refresh();
  // Refreshes at once, then every resync, until Stop.
  void Start();
  void Stop();

  std::optional<VersionInfo> Lookup(const Target& target,
                                    std::string_view template_hash) const override;
  VersionMap Snapshot() const override;
  // The resourceVersion of each list in the last successful look ("replicasets/shop" -> "42").
  std::map<std::string, std::string> resource_versions() const;

 private:
  KubernetesVersionDiscovery(std::unique_ptr<ApiClient> api, std::vector<std::string> namespaces,
                             std::chrono::milliseconds resync, const core::Clock& clock,
                             KubernetesOptions options);
  std::unique_ptr<ApiClient> api_;  // used by Refresh only, under refresh_mu_
  std::vector<std::string> namespaces_;
  std::chrono::milliseconds resync_;
  const core::Clock& clock_;
  KubernetesOptions options_;
  std::mutex refresh_mu_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  VersionMap map_;
  std::map<std::string, std::string> resource_versions_;
  std::thread thread_;
};

}  // namespace obsgate::rollback::kubernetes
