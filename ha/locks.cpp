// The two kinds of leader lock: a Kubernetes Lease, and an flock on a file.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "ha/leader_election.hpp"
#include "net/http_client.hpp"
#include "rollback/kubernetes/access.hpp"
#include "rollback/kubernetes/json.hpp"

namespace obsgate::ha {
namespace {

using rollback::kubernetes::Json;

// coordination.k8s.io/v1 Lease, read and written as client-go's LeaseLock does: a create when
// there is none, else a replace carrying the resourceVersion last read, so of two replicas
// writing at once one gets 409 Conflict.
class Lease final : public LeaderLock {
 public:
  Lease(rollback::kubernetes::ApiAccess access, std::unique_ptr<net::HttpClient> http,
        std::string ns, std::string name)
      : access_(std::move(access)),
        http_(std::move(http)),
        ns_(std::move(ns)),
        name_(std::move(name)) {}

  std::string Describe() const override { return "lease " + ns_ + "/" + name_; }

  core::Result<std::optional<LeaderRecord>> Get() override {
    net::HttpFetch f = Call("GET", Path(), "");
    if (f.status == 404) {
      last_.reset();
      return std::optional<LeaderRecord>();
    }
    if (f.status != 200) return core::Error{Failure("get", f)};
    auto object = Json::Parse(f.body);
    if (!object || !object->is_object()) {
      return core::Error{"the API answered " + Describe() + " with no Lease object"};
    }
    last_ = std::move(object).value();
    LeaderRecord r;
    r.holder = last_->Text({"spec", "holderIdentity"});
    auto number = [&](std::string_view key) -> std::int64_t {
      const Json* v = last_->At({"spec", key});
      return v ? v->Integer().value_or(0) : 0;
    };
    r.lease_seconds = number("leaseDurationSeconds");
    r.acquire_time = last_->Text({"spec", "acquireTime"});
    r.renew_time = last_->Text({"spec", "renewTime"});
    r.transitions = number("leaseTransitions");
    return std::optional<LeaderRecord>(std::move(r));
  }

  core::Status Create(const LeaderRecord& record) override {
    Json lease = Json::Object();
    lease.Set("apiVersion", Json::String("coordination.k8s.io/v1"));
    lease.Set("kind", Json::String("Lease"));
    Json metadata = Json::Object();
    metadata.Set("name", Json::String(name_));
    metadata.Set("namespace", Json::String(ns_));
    lease.Set("metadata", std::move(metadata));
    lease.Set("spec", Spec(record));
    net::HttpFetch f = Call("POST", Collection(), lease.Dump());
    if (f.status != 201 && f.status != 200) return core::Error{Failure("create", f)};
    return core::Ok{};
  }

  core::Status Update(const LeaderRecord& record) override {
    if (!last_) return core::Error{Describe() + " was not read before it was written"};
    Json lease = *last_;
    lease.Set("spec", Spec(record));
    net::HttpFetch f = Call("PUT", Path(), lease.Dump());
    if (f.status != 200) {
      last_.reset();
      return core::Error{Failure("update", f)};
    }
    if (auto object = Json::Parse(f.body); object && object->is_object()) last_ = *object;
    return core::Ok{};
  }

 private:
  std::string Collection() const {
    return "/apis/coordination.k8s.io/v1/namespaces/" + ns_ + "/leases";
  }
  std::string Path() const { return Collection() + "/" + name_; }

  static Json Spec(const LeaderRecord& r) {
    Json spec = Json::Object();
    if (!r.holder.empty()) spec.Set("holderIdentity", Json::String(r.holder));
    spec.Set("leaseDurationSeconds", Json::Int(r.lease_seconds));
    if (!r.acquire_time.empty()) spec.Set("acquireTime", Json::String(r.acquire_time));
    if (!r.renew_time.empty()) spec.Set("renewTime", Json::String(r.renew_time));
    spec.Set("leaseTransitions", Json::Int(r.transitions));
    return spec;
  }

  net::HttpFetch Call(const std::string& method, const std::string& target, std::string body) {
    net::HttpCall call;
    call.method = method;
    call.target = target;
    call.body = std::move(body);
    if (!call.body.empty()) call.content_type = "application/json";
    call.headers.emplace_back("Accept", "application/json");
    auto token = rollback::kubernetes::BearerToken(access_);
    if (!token) {
      net::HttpFetch f;
      f.error = token.error();
      return f;
    }
    if (!token->empty()) call.headers.emplace_back("Authorization", "Bearer " + *token);
    return http_->Send(call);
  }

  // What went wrong, with the API's own message and what a person can do; never the token.
  std::string Failure(const char* verb, const net::HttpFetch& f) const {
    if (f.status == 0) return "cannot reach the Kubernetes API (" + f.error + ")";
    std::string message;
    if (auto status = Json::Parse(f.body); status && status->is_object()) {
      message = status->Text({"message"});
    }
    std::string hint;
    if (f.status == 401 || f.status == 403) {
      hint = "; give " + access_.identity + " get, create and update on leases in namespace " +
             ns_ + " (deploy/k8s has the Role)";
    } else if (f.status == 409) {
      hint = "; another replica wrote it first";
    }
    return std::string(verb) + " " + Describe() + ": HTTP " + std::to_string(f.status) +
           (message.empty() ? "" : " " + message) + hint;
  }

  rollback::kubernetes::ApiAccess access_;
  std::unique_ptr<net::HttpClient> http_;
  const std::string ns_;
  const std::string name_;
  std::optional<Json> last_;  // the object Get last read, for the next replace
};

// An exclusive flock: held while the file is open here, let go by the kernel when the process
// dies. The record is written into the file for whoever looks (and for the elector's view of
// renewals).
class File final : public LeaderLock {
 public:
  explicit File(std::string path) : path_(std::move(path)) {}
  ~File() override {
    if (fd_ >= 0) close(fd_);
  }

  std::string Describe() const override { return "file " + path_; }

  core::Result<std::optional<LeaderRecord>> Get() override {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return std::optional<LeaderRecord>();
      return core::Error{"cannot open " + path_ + ": " + std::strerror(errno)};
    }
    std::string text(4096, '\0');
    ssize_t n = pread(fd, text.data(), text.size(), 0);
    close(fd);
    if (n <= 0) return std::optional<LeaderRecord>();
    text.resize(static_cast<std::size_t>(n));
    std::istringstream in(text);
    LeaderRecord r;
    std::string seconds, transitions;
    std::getline(in, r.holder);
    std::getline(in, seconds);
    std::getline(in, r.acquire_time);
    std::getline(in, r.renew_time);
    std::getline(in, transitions);
    r.lease_seconds = std::atoll(seconds.c_str());
    r.transitions = std::atoll(transitions.c_str());
    return std::optional<LeaderRecord>(std::move(r));
  }

  core::Status Create(const LeaderRecord& record) override { return Write(record); }
  core::Status Update(const LeaderRecord& record) override { return Write(record); }

 private:
  core::Status Write(const LeaderRecord& r) {
    if (fd_ < 0) {
      int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        return core::Error{"cannot open " + path_ + ": " + std::strerror(errno) +
                           "; check the directory exists and is writable"};
      }
      if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        close(fd);
        return core::Error{e == EWOULDBLOCK ? path_ + " is locked by another process"
                                            : "cannot lock " + path_ + ": " + std::strerror(e)};
      }
      fd_ = fd;
    }
    const std::string text = r.holder + "\n" + std::to_string(r.lease_seconds) + "\n" +
                             r.acquire_time + "\n" + r.renew_time + "\n" +
                             std::to_string(r.transitions) + "\n";
    if (ftruncate(fd_, 0) != 0 ||
        pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      return core::Error{"cannot write " + path_ + ": " + std::strerror(errno)};
    }
    if (r.holder.empty()) {  // released
      flock(fd_, LOCK_UN);
      close(fd_);
      fd_ = -1;
    }
    return core::Ok{};
  }

  const std::string path_;
  int fd_ = -1;
};

}  // namespace

core::Result<std::unique_ptr<LeaderLock>> KubernetesLeaseLock(const core::Config& config,
                                                              const core::Env& env) {
  const auto* k8s = std::get_if<core::KubernetesOrchestratorConfig>(&config.orchestrator.spec);
  if (k8s == nullptr) {
    return core::Error{"leader_election.lease needs orchestrator.kubernetes for its access"};
  }
  auto access = rollback::kubernetes::ResolveAccess(*k8s, env);
  if (!access) return core::Error{"leader election: " + access.error()};
  auto http = net::HttpClient::Create(access->server + "/", access->options);
  if (!http) return core::Error{"leader election: the Kubernetes API: " + http.error()};
  std::string ns = config.leader_election.lease_namespace;
  if (ns.empty()) ns = access->default_namespace.empty() ? "default" : access->default_namespace;
  return std::unique_ptr<LeaderLock>(std::make_unique<Lease>(
      std::move(access).value(), std::move(http).value(), ns, config.leader_election.lease_name));
}

std::unique_ptr<LeaderLock> FileLock(std::string path) {
  return std::make_unique<File>(std::move(path));
}

core::Result<std::unique_ptr<LeaderElector>> LeaderElector::Create(const core::Config& config,
                                                                   const core::Env& env,
                                                                   const core::Clock& clock,
                                                                   prometheus::Registry& registry) {
  const core::LeaderElectionConfig& l = config.leader_election;
  std::unique_ptr<LeaderLock> lock;
  if (l.backend == core::LeaderElectionConfig::Backend::kLease) {
    auto lease = KubernetesLeaseLock(config, env);
    if (!lease) return core::Error{lease.error()};
    lock = std::move(lease).value();
  } else {
    lock = FileLock(l.lock_file.empty() ? config.data_dir + "/leader.lock" : l.lock_file);
  }
  return std::make_unique<LeaderElector>(
      std::move(lock), l.identity.empty() ? DefaultIdentity() : l.identity, l, clock, registry);
}

}  // namespace obsgate::ha
