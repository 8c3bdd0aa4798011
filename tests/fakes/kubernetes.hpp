#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "rollback/kubernetes/json.hpp"
#include "server/http.hpp"
#include "server/http_server.hpp"

namespace obsgate::fakes {

// A Kubernetes API server over plain HTTP on 127.0.0.1, enough of it for `kubectl rollout undo`,
// `kubectl rollout status` and obsgate: discovery, Deployments (get, list, JSON patch) with a
// deployment controller that makes or reuses ReplicaSets, ReplicaSets (list with label
// selectors and limit/continue paging), empty pod lists, coordination.k8s.io/v1 Leases (get,
// create, replace with resourceVersion checks); watches are held open without events.
// Objects are printed in the field order of the Go types, as a real server prints them. Faults on
// demand: any status with a Kubernetes Status body, a hang, or a PATCH applied whose answer never
// comes. Thread-safe.
class FakeKubernetes {
 public:
  // One request as the fake saw it.
  struct Request {
    std::string method;
    std::string path;
    std::string query;  // as sent, not decoded
    std::string content_type;
    std::string authorization;
    std::string body;
    int status = 0;  // what the fake answered; 0 when it hung
  };

  // A fault for the next `times` requests whose method matches (empty: any) and whose path
  // contains `path_part`.
  struct Fault {
    std::string method;
    std::string path_part;
    int status = 0;            // answered with the Status body a real server sends for it
    bool hang = false;         // no answer until the hang limit or Stop
    bool apply_first = false;  // a PATCH is applied, then the answer hangs: outcome unknown
    int times = 1;
  };

  // A Deployment with `revisions` ReplicaSets (images <image>:v1 .. :vN, vN current).
  struct DeploymentSeed {
    std::string ns = "shop";
    std::string name = "auth";
    std::string image = "registry.example.com/shop/auth";
    int revisions = 2;
    int replicas = 3;
    bool paused = false;
  };

  // Status fields `kubectl rollout status` reads.
  struct RolloutSeed {
    std::int64_t generation = 1;
    std::int64_t observed_generation = 1;
    int replicas = 3;  // status.replicas (old and new pods)
    int updated = 3;
    int ready = 3;
    int available = 3;
    std::string progressing_reason = "NewReplicaSetAvailable";
  };

  FakeKubernetes();
  ~FakeKubernetes();
  FakeKubernetes(const FakeKubernetes&) = delete;
  FakeKubernetes& operator=(const FakeKubernetes&) = delete;

  core::Status Start();
  void Stop();
  std::uint16_t port() const;
  std::string url() const;  // http://127.0.0.1:<port>
  // A kubeconfig that reaches this server with the token "t0ken", in `ns` when given.
  std::string Kubeconfig(const std::string& ns = "") const;

  void AddDeployment(const DeploymentSeed& seed);
  // One more ReplicaSet the selector of ns/deployment matches: controlled by it, or (controlled
  // false) by some other owner, as after an orphaning.
  void AddReplicaSet(const std::string& ns, const std::string& deployment, const std::string& tag,
                     int revision, bool controlled = true);
  void SetRollout(const std::string& ns, const std::string& name, const RolloutSeed& rollout);
  // When set, every request must carry "Authorization: Bearer <token>" or gets 401.
  void RequireToken(std::string token);
  void AddFault(Fault fault);
  void SetHangLimit(std::chrono::milliseconds limit);

  // The stored object ("deployments", "replicasets" or "leases"), as the API would print it.
  std::optional<rollback::kubernetes::Json> Get(const std::string& resource, const std::string& ns,
                                                const std::string& name) const;
  std::vector<rollback::kubernetes::Json> ReplicaSets(const std::string& ns) const;
  std::vector<Request> requests() const;
  std::vector<Request> Requests(const std::string& method) const;

 private:
  server::Response Handle(const server::Request& request);
  server::Response Serve(const server::Request& request, Request& record);
  server::Response Patch(const std::string& ns, const std::string& name,
                         const server::Request& request);
  server::Response List(const std::string& resource, const std::string& ns,
                        const server::Request& request);
  server::Response Leases(const server::Request& request);
  void Reconcile(rollback::kubernetes::Json& deployment);
  rollback::kubernetes::Json MakeReplicaSet(const rollback::kubernetes::Json& deployment,
                                            const rollback::kubernetes::Json& pod_template,
                                            int revision, bool controlled);
  std::string NextResourceVersion();
  std::string NextTimestamp();
  std::string NextUid();

  mutable std::mutex mu_;
  std::condition_variable released_;
  bool stopping_ = false;
  std::chrono::milliseconds hang_limit_{30'000};
  std::map<std::string, rollback::kubernetes::Json> deployments_;   // "ns/name"
  std::map<std::string, rollback::kubernetes::Json> replica_sets_;  // "ns/name"
  std::map<std::string, rollback::kubernetes::Json> leases_;        // "ns/name"
  std::int64_t resource_version_ = 1000;
  int created_ = 0;
  std::string token_;
  std::vector<Fault> faults_;
  std::vector<Request> requests_;
  prometheus::Registry registry_;
  std::unique_ptr<server::HttpServer> server_;
};

}  // namespace obsgate::fakes
