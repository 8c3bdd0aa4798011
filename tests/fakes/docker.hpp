#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace obsgate::fakes {

// One request as the fake engine saw it.
struct DockerRequest {
  std::string method;
  std::string target;       // as sent: "/v1.44/services/auth/update?version=12&rollback=previous"
  std::string path;         // without the API version prefix and the query: "/services/auth/update"
  std::string api_version;  // "1.44", or empty when the path had no prefix
  std::map<std::string, std::string> query;
  std::string body;
  int status = 0;  // what the fake answered; 0 while (or because) it hung
};

// A Swarm service as the fake keeps it.
struct FakeService {
  std::string id;
  std::string name;
  std::uint64_t version = 0;  // Version.Index
  std::string spec;           // ServiceSpec JSON, as last written
  std::string previous_spec;  // empty when the service was never updated
  std::string image;          // Spec.TaskTemplate.ContainerSpec.Image
  std::string previous_image;
  std::string state;  // UpdateStatus.State; empty when the service was never updated
  std::string message;
  core::TimePoint created_at;
  core::TimePoint updated_at;
  int accepted_updates = 0;  // POST .../update answered 200, rollbacks included
  int inspects_left = 0;     // GETs before the running update or rollback finishes
};

// The Docker Engine API's service endpoints, on a unix socket (or 127.0.0.1), as a Swarm manager
// answers them: GET /services/{id}, POST /services/{id}/update with the optimistic-concurrency
// `version`, `rollback=previous`, Version.Index bumps (state changes bump it too, as swarmkit
// does), PreviousSpec, UpdateStatus moving on over GETs, /_ping with API-Version and API-version
// bounds. Faults on demand: a concurrent writer, 409, 500, a hang. Thread-safe; one thread per
// connection.
class FakeDockerEngine {
 public:
  enum class Fault {
    kNone,
    kRace,           // another writer updates the service first: the update is out of sequence
    kConflict,       // 409 {"message": "...update out of sequence"}, nothing changed
    kServerError,    // 500 {"message": "..."}, nothing changed
    kHang,           // no answer until the fake stops; nothing changed
    kApplyThenHang,  // the update is made, then no answer: the client cannot know it was
  };

  // `clock` stamps CreatedAt/UpdatedAt; null: the system clock.
  explicit FakeDockerEngine(const core::Clock* clock = nullptr);
  ~FakeDockerEngine();
  FakeDockerEngine(const FakeDockerEngine&) = delete;
  FakeDockerEngine& operator=(const FakeDockerEngine&) = delete;

  // Listens on a unix socket at `path` (Docker's default) or, when `path` is empty, on
  // 127.0.0.1 at a free port.
  core::Status Start(const std::string& path = "");
  // Releases hung requests and closes every connection.
  void Stop();
  // "unix:///tmp/.../docker.sock" or "tcp://127.0.0.1:<port>".
  std::string host() const;

  // Creates a service as `docker service create` (or `docker stack deploy` with `stack`) would:
  // one replica, no PreviousSpec, no UpdateStatus. Returns its ID.
  std::string AddService(const std::string& name, const std::string& image,
                         const std::string& stack = "", int replicas = 1);
  // `docker service update --image` done out of band, finished at once (state "completed").
  void Deploy(const std::string& name, const std::string& image);
  std::optional<FakeService> service(const std::string& name_or_id) const;

  // API versions the engine serves: requests outside them answer 400 as the real engine does.
  // /_ping reports `max` in its API-Version header.
  void SetApiVersions(std::string min, std::string max);
  // How many GETs of the service an update or rollback stays in progress (default 2).
  void SetRolloutInspects(int n);
  // Rollbacks end in "rollback_paused" instead of "rollback_completed".
  void SetRollbackPauses(bool pauses);
  // The status of an out-of-sequence update: 500 as the engine answers it (gRPC "Unknown"), or 409.
  void SetConflictStatus(int status);
  // Faults for the next update POSTs, in order; kNone lets one through.
  void ScriptUpdates(std::vector<Fault> faults);
  // Faults for the next GETs of a service.
  void ScriptInspects(std::vector<Fault> faults);

  std::vector<DockerRequest> requests() const;
  // Only the requests whose path (without prefix and query) starts with `prefix`.
  std::vector<DockerRequest> requests(const std::string& method, const std::string& prefix) const;

 private:
  struct Answer {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool hang = false;
  };

  void AcceptLoop();
  void Serve(int fd);
  Answer Handle(const DockerRequest& request);
  Answer Inspect(const std::string& id);
  Answer Update(const DockerRequest& request, const std::string& id);
  FakeService* Find(const std::string& name_or_id);
  std::string ServiceJson(const FakeService& s) const;
  void Advance(FakeService& s);
  core::TimePoint Now() const;
  static Answer Error(int status, const std::string& message);

  const core::Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  std::atomic<bool> stopping_{false};
  int listen_fd_ = -1;
  std::string host_;
  std::string socket_path_;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
  std::vector<int> open_fds_;

  std::vector<FakeService> services_;
  std::vector<DockerRequest> requests_;
  std::deque<Fault> update_faults_;
  std::deque<Fault> inspect_faults_;
  std::string min_api_ = "1.24";
  std::string max_api_ = "1.47";
  int rollout_inspects_ = 2;
  bool rollback_pauses_ = false;
  int conflict_status_ = 500;
  int next_id_ = 1;
};

}  // namespace obsgate::fakes
