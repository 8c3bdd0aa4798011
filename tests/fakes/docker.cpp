#include "tests/fakes/docker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::fakes {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr const char* kOutOfSequence = "rpc error: code = Unknown desc = update out of sequence";
// A hung request is released by Stop(); this bounds it when a test forgets to stop the fake.
constexpr auto kHangLimit = std::chrono::seconds(60);

// "1.44" -> 144-ish ordering; nullopt when not "<major>.<minor>".
std::optional<std::pair<int, int>> ParseApiVersion(std::string_view v) {
  std::size_t dot = v.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int major = 0, minor = 0;
  auto a = std::from_chars(v.data(), v.data() + dot, major);
  auto b = std::from_chars(v.data() + dot + 1, v.data() + v.size(), minor);
  if (a.ec != std::errc() || a.ptr != v.data() + dot || b.ec != std::errc() ||
      b.ptr != v.data() + v.size()) {
    return std::nullopt;
  }
  return std::pair{major, minor};
}

std::string MakeSpec(const std::string& name, const std::string& image, const std::string& stack,
                     int replicas) {
  std::string labels = stack.empty()
                           ? "{}"
                           : "{\"com.docker.stack.image\":" + core::JsonQuote(image) +
                                 ",\"com.docker.stack.namespace\":" + core::JsonQuote(stack) + "}";
  return "{\"Name\":" + core::JsonQuote(name) + ",\"Labels\":" + labels +
         ",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":" + core::JsonQuote(image) +
         ",\"Labels\":{},\"Env\":[\"GREETING=$(hello) ; "
         "\\\"quoted\\\"\"],\"Isolation\":\"default\"}"
         ",\"Resources\":{},\"RestartPolicy\":{\"Condition\":\"any\",\"MaxAttempts\":0},"
         "\"ForceUpdate\":0,\"Runtime\":\"container\"},\"Mode\":{\"Replicated\":{\"Replicas\":" +
         std::to_string(replicas) +
         "}},\"UpdateConfig\":{\"Parallelism\":1,\"FailureAction\":\"pause\",\"MaxFailureRatio\":0,"
         "\"Order\":\"stop-first\"},\"RollbackConfig\":{\"Parallelism\":1,\"FailureAction\":"
         "\"pause\",\"MaxFailureRatio\":0,\"Order\":\"stop-first\"},\"EndpointSpec\":{\"Mode\":"
         "\"vip\"}}";
}

std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    std::size_t eq = pair.find('=');
    out[std::string(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    q = amp == std::string_view::npos ? "" : q.substr(amp + 1);
  }
  return out;
}

// Splits the target into the API version prefix ("/v1.44"), the path and the query.
void ParseTarget(DockerRequest& r) {
  std::string_view target = r.target;
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) r.query = ParseQuery(target.substr(q + 1));
  // The engine's router takes "/v{version:[0-9.]+}" as the prefix; "/version" is a path.
  if (path.size() > 2 && path.starts_with("/v") &&
      std::isdigit(static_cast<unsigned char>(path[2]))) {
    std::size_t slash = path.find('/', 1);
    r.api_version = std::string(path.substr(2, slash - 2));
    path = slash == std::string_view::npos ? "/" : path.substr(slash);
  }
  r.path = std::string(path);
}

}  // namespace

FakeDockerEngine::FakeDockerEngine(const core::Clock* clock) : clock_(clock) {}

FakeDockerEngine::~FakeDockerEngine() { Stop(); }

core::TimePoint FakeDockerEngine::Now() const {
  return clock_ ? clock_->Now() : std::chrono::system_clock::now();
}

core::Status FakeDockerEngine::Start(const std::string& path) {
  int fd = -1;
  if (!path.empty()) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return core::Error{"socket path too long: " + path};
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 64) != 0) {
      if (fd >= 0) ::close(fd);
      return core::Error{"cannot listen on " + path + ": " + std::strerror(errno)};
    }
    socket_path_ = path;
    host_ = "unix://" + path;
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)) {
      if (fd >= 0) ::close(fd);
      return core::Error{std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno)};
    }
    host_ = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  listen_fd_ = fd;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return core::Ok{};
}

void FakeDockerEngine::Stop() {
  if (stopping_.exchange(true)) return;
  { std::lock_guard lock(mu_); }  // a hung request between its check and its wait still wakes
  stopped_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    // Wakes connection threads blocked in read(): they see the error and end.
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connections_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
}

std::string FakeDockerEngine::host() const { return host_; }

void FakeDockerEngine::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeDockerEngine::Serve(int fd) {
  asio::io_context ioc;
  asio::posix::stream_descriptor stream(ioc, fd);  // closes fd when it goes
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(stream, buffer, req, ec);
    if (ec) break;
    DockerRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = req.body();
    ParseTarget(r);
    std::size_t index;
    std::string api_version;
    {
      std::lock_guard lock(mu_);
      index = requests_.size();
      requests_.push_back(r);
      api_version = max_api_;
    }
    Answer a = Handle(r);
    if (a.hang) {
      std::unique_lock lock(mu_);
      stopped_.wait_for(lock, kHangLimit, [this] { return stopping_.load(); });
      break;
    }
    {
      std::lock_guard lock(mu_);
      requests_[index].status = a.status;
    }
    http::response<http::string_body> res(static_cast<http::status>(a.status), 11);
    res.set(http::field::server, "Docker/27.0.0 (linux)");
    res.set("Api-Version", api_version);
    for (auto& [name, value] : a.headers) res.set(name, value);
    if (!res.has_content_length() && res.find(http::field::content_type) == res.end()) {
      res.set(http::field::content_type, "application/json");
    }
    res.body() = a.body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(stream, res, ec);
    if (ec || !req.keep_alive()) break;
  }
  std::lock_guard lock(mu_);
  std::erase(open_fds_, fd);
}

FakeDockerEngine::Answer FakeDockerEngine::Error(int status, const std::string& message) {
  return Answer{status, "{\"message\":" + core::JsonQuote(message) + "}\n", {}, false};
}

FakeDockerEngine::Answer FakeDockerEngine::Handle(const DockerRequest& r) {
  std::string min_api, max_api;
  {
    std::lock_guard lock(mu_);
    min_api = min_api_;
    max_api = max_api_;
  }
  if (!r.api_version.empty()) {
    auto v = ParseApiVersion(r.api_version);
    if (!v) return Error(400, "invalid API version \"" + r.api_version + "\"");
    if (*v < *ParseApiVersion(min_api)) {
      return Error(400, "client version " + r.api_version +
                            " is too old. Minimum supported API version is " + min_api +
                            ", please upgrade your client to a newer version");
    }
    if (*v > *ParseApiVersion(max_api)) {
      return Error(400, "client version " + r.api_version +
                            " is too new. Maximum supported API version is " + max_api);
    }
  }
  if (r.path == "/_ping" && (r.method == "GET" || r.method == "HEAD")) {
    Answer a{200, r.method == "GET" ? "OK" : "", {}, false};
    a.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                 {"Cache-Control", "no-cache, no-store, must-revalidate"},
                 {"Docker-Experimental", "false"},
                 {"Ostype", "linux"},
                 {"Swarm", "active/manager"}};
    return a;
  }
  if (r.path == "/version" && r.method == "GET") {
    return Answer{200,
                  "{\"Version\":\"27.0.0\",\"ApiVersion\":" + core::JsonQuote(max_api) +
                      ",\"MinAPIVersion\":" + core::JsonQuote(min_api) +
                      ",\"Os\":\"linux\",\"Arch\":\"amd64\"}\n",
                  {},
                  false};
  }
  constexpr std::string_view kServices = "/services/";
  if (r.path.starts_with(kServices)) {
    std::string rest = r.path.substr(kServices.size());
    if (r.method == "GET" && rest.find('/') == std::string::npos) return Inspect(rest);
    if (r.method == "POST" && rest.ends_with("/update")) {
      return Update(r, rest.substr(0, rest.size() - 7));
    }
  }
  return Error(404, "page not found");
}

FakeDockerEngine::Answer FakeDockerEngine::Inspect(const std::string& id) {
  std::lock_guard lock(mu_);
  Fault fault = Fault::kNone;
  if (!inspect_faults_.empty()) {
    fault = inspect_faults_.front();
    inspect_faults_.pop_front();
  }
  if (fault == Fault::kHang || fault == Fault::kApplyThenHang) return Answer{0, "", {}, true};
  if (fault == Fault::kServerError)
    return Error(500,
                 "rpc error: code = Unavailable desc = "
                 "the swarm does not have a leader");
  FakeService* s = Find(id);
  if (!s) return Error(404, "service " + id + " not found");
  Advance(*s);
  return Answer{200, ServiceJson(*s), {}, false};
}

FakeDockerEngine::Answer FakeDockerEngine::Update(const DockerRequest& r, const std::string& id) {
  std::lock_guard lock(mu_);
  FakeService* s = Find(id);
  if (!s) return Error(404, "service " + id + " not found");
  Fault fault = Fault::kNone;
  if (!update_faults_.empty()) {
    fault = update_faults_.front();
    update_faults_.pop_front();
  }
  if (fault == Fault::kHang) return Answer{0, "", {}, true};
  if (fault == Fault::kServerError) {
    return Error(500, "rpc error: code = Unavailable desc = the swarm does not have a leader");
  }
  if (fault == Fault::kConflict) return Error(409, kOutOfSequence);
  if (fault == Fault::kRace) s->version += 1;  // someone else wrote the service just before us

  auto version_it = r.query.find("version");
  std::uint64_t version = 0;
  if (version_it == r.query.end() ||
      std::from_chars(version_it->second.data(),
                      version_it->second.data() + version_it->second.size(), version)
              .ptr != version_it->second.data() + version_it->second.size()) {
    std::string given = version_it == r.query.end() ? "" : version_it->second;
    return Error(400, "invalid service version '" + given + "': strconv.ParseUint: parsing \"" +
                          given + "\": invalid syntax");
  }
  // The ServiceSpec body is read and checked even for a rollback, which then ignores it.
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  if (parser.parse(r.body).get(body) != simdjson::SUCCESS || !body.is_object()) {
    return Error(400, "invalid JSON: the body is not a ServiceSpec object");
  }
  if (version != s->version) return Error(conflict_status_, kOutOfSequence);

  auto rollback = r.query.find("rollback");
  bool is_rollback = rollback != r.query.end() && rollback->second == "previous";
  if (rollback != r.query.end() && !is_rollback) {
    return Error(400, "unrecognized rollback option " + rollback->second);
  }
  if (is_rollback) {
    if (s->previous_spec.empty()) {
      return Error(400, "rpc error: code = FailedPrecondition desc = service " + s->id +
                            " does not have a previous spec");
    }
    std::swap(s->spec, s->previous_spec);
    std::swap(s->image, s->previous_image);
    s->state = "rollback_started";
    s->message = "manually requested rollback";
  } else {
    std::string_view name, image;
    if (body["Name"].get(name) != simdjson::SUCCESS || name != s->name) {
      return Error(501,
                   "rpc error: code = Unimplemented desc = renaming services is not supported");
    }
    if (body.at_pointer("/TaskTemplate/ContainerSpec/Image").get(image) != simdjson::SUCCESS ||
        image.empty()) {
      return Error(400,
                   "rpc error: code = InvalidArgument desc = ContainerSpec: image reference "
                   "must be provided");
    }
    s->previous_spec = std::move(s->spec);
    s->previous_image = std::move(s->image);
    s->spec = simdjson::minify(body);
    s->image = std::string(image);
    s->state = "updating";
    s->message = "update in progress";
  }
  s->version += 1;
  s->updated_at = Now();
  s->inspects_left = rollout_inspects_;
  s->accepted_updates += 1;
  if (fault == Fault::kApplyThenHang) return Answer{0, "", {}, true};
  return Answer{200, "{\"Warnings\":null}\n", {}, false};
}

// An update in progress moves on by one GET; finishing it changes the service, so the index moves.
void FakeDockerEngine::Advance(FakeService& s) {
  if (s.state != "updating" && s.state != "rollback_started") return;
  if (s.inspects_left > 0) {
    --s.inspects_left;
    return;
  }
  if (s.state == "updating") {
    s.state = "completed";
    s.message = "update completed";
  } else if (rollback_pauses_) {
    s.state = "rollback_paused";
    s.message = "rollback paused due to failure or early termination of task " + s.id + ".1";
  } else {
    s.state = "rollback_completed";
    s.message = "rollback completed";
  }
  s.version += 1;
}

std::string FakeDockerEngine::ServiceJson(const FakeService& s) const {
  std::string out = "{\"ID\":" + core::JsonQuote(s.id) +
                    ",\"Version\":{\"Index\":" + std::to_string(s.version) +
                    "},\"CreatedAt\":" + core::JsonQuote(core::FormatRfc3339(s.created_at)) +
                    ",\"UpdatedAt\":" + core::JsonQuote(core::FormatRfc3339(s.updated_at)) +
                    ",\"Spec\":" + s.spec;
  if (!s.previous_spec.empty()) out += ",\"PreviousSpec\":" + s.previous_spec;
  out += ",\"Endpoint\":{\"Spec\":{\"Mode\":\"vip\"}}";
  if (!s.state.empty()) {
    out += ",\"UpdateStatus\":{\"State\":" + core::JsonQuote(s.state) +
           ",\"StartedAt\":" + core::JsonQuote(core::FormatRfc3339(s.updated_at));
    if (s.state == "completed" || s.state == "rollback_completed") {
      out += ",\"CompletedAt\":" + core::JsonQuote(core::FormatRfc3339(Now()));
    }
    out += ",\"Message\":" + core::JsonQuote(s.message) + "}";
  }
  return out + "}\n";
}

FakeService* FakeDockerEngine::Find(const std::string& name_or_id) {
  // Like the engine: a full ID first, then a name, then an ID prefix.
  for (FakeService& s : services_) {
    if (s.id == name_or_id) return &s;
  }
  for (FakeService& s : services_) {
    if (s.name == name_or_id) return &s;
  }
  for (FakeService& s : services_) {
    if (!name_or_id.empty() && s.id.starts_with(name_or_id)) return &s;
  }
  return nullptr;
}

std::string FakeDockerEngine::AddService(const std::string& name, const std::string& image,
                                         const std::string& stack, int replicas) {
  std::lock_guard lock(mu_);
  FakeService s;
  char id[32];
  std::snprintf(id, sizeof id, "%025d", next_id_++);
  s.id = id;
  s.name = name;
  s.version = 10 * next_id_ + 1;
  s.spec = MakeSpec(name, image, stack, replicas);
  s.image = image;
  s.created_at = s.updated_at = Now();
  services_.push_back(std::move(s));
  return services_.back().id;
}

void FakeDockerEngine::Deploy(const std::string& name, const std::string& image) {
  std::lock_guard lock(mu_);
  FakeService* s = Find(name);
  if (!s) return;
  std::string spec = s->spec;
  std::string from = "\"Image\":" + core::JsonQuote(s->image);
  if (std::size_t at = spec.find(from); at != std::string::npos) {
    spec.replace(at, from.size(), "\"Image\":" + core::JsonQuote(image));
  }
  s->previous_spec = std::exchange(s->spec, spec);
  s->previous_image = std::exchange(s->image, image);
  s->state = "completed";
  s->message = "update completed";
  s->version += 2;
  s->updated_at = Now();
}

std::optional<FakeService> FakeDockerEngine::service(const std::string& name_or_id) const {
  std::lock_guard lock(mu_);
  FakeService* s = const_cast<FakeDockerEngine*>(this)->Find(name_or_id);
  if (!s) return std::nullopt;
  return *s;
}

void FakeDockerEngine::SetApiVersions(std::string min, std::string max) {
  std::lock_guard lock(mu_);
  min_api_ = std::move(min);
  max_api_ = std::move(max);
}

void FakeDockerEngine::SetRolloutInspects(int n) {
  std::lock_guard lock(mu_);
  rollout_inspects_ = n;
}

void FakeDockerEngine::SetRollbackPauses(bool pauses) {
  std::lock_guard lock(mu_);
  rollback_pauses_ = pauses;
}

void FakeDockerEngine::SetConflictStatus(int status) {
  std::lock_guard lock(mu_);
  conflict_status_ = status;
}

void FakeDockerEngine::ScriptUpdates(std::vector<Fault> faults) {
  std::lock_guard lock(mu_);
  update_faults_.insert(update_faults_.end(), faults.begin(), faults.end());
}

void FakeDockerEngine::ScriptInspects(std::vector<Fault> faults) {
  std::lock_guard lock(mu_);
  inspect_faults_.insert(inspect_faults_.end(), faults.begin(), faults.end());
}

std::vector<DockerRequest> FakeDockerEngine::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<DockerRequest> FakeDockerEngine::requests(const std::string& method,
                                                      const std::string& prefix) const {
  std::vector<DockerRequest> out;
  for (DockerRequest& r : requests()) {
    if (r.method == method && r.path.starts_with(prefix)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace obsgate::fakes
