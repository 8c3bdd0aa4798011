#include "tests/fakes/peer_server.hpp"

#include <strings.h>

#include <utility>

namespace obsgate::fakes {

std::string Received::Header(std::string_view name) const {
  for (const server::Header& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return h.value;
    }
  }
  return "";
}

PeerServer::PeerServer(std::string path, Judge judge, CannedAnswer canned, int threads)
    : path_(std::move(path)), judge_(std::move(judge)), canned_(std::move(canned)) {
  server::ServerOptions options;
  // Several threads, so one hung request does not hold up the others.
  options.threads = threads;
  server_ = std::make_unique<server::HttpServer>(options, registry_);
  server_->Route("POST", path_, "fake",
                 [this](const server::Request& request) { return Handle(request); });
}

PeerServer::~PeerServer() { Stop(); }

core::Status PeerServer::Start() { return server_->Start(); }

bool PeerServer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  return server_->Stop(std::chrono::seconds(5));
}

void PeerServer::Script(std::vector<Answer> answers) {
  std::lock_guard lock(mu_);
  for (Answer& a : answers) script_.push_back(std::move(a));
}

void PeerServer::SetDefault(Answer answer) {
  std::lock_guard lock(mu_);
  default_ = std::move(answer);
}

void PeerServer::SetHangLimit(std::chrono::milliseconds limit) {
  std::lock_guard lock(mu_);
  hang_limit_ = limit;
}

std::vector<Received> PeerServer::requests() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::size_t PeerServer::count() const {
  std::lock_guard lock(mu_);
  return received_.size();
}

bool PeerServer::WaitFor(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
}

std::uint16_t PeerServer::port() const { return server_->port(); }

std::string PeerServer::url() const { return "http://127.0.0.1:" + std::to_string(port()) + path_; }

server::Response PeerServer::Handle(const server::Request& request) {
  Answer answer;
  std::chrono::milliseconds hang_limit;
  {
    std::lock_guard lock(mu_);
    if (!script_.empty()) {
      answer = std::move(script_.front());
      script_.pop_front();
    } else {
      answer = default_;
    }
    hang_limit = hang_limit_;
  }
  const bool as_service = answer.status == 0 && !answer.hang;
  Verdict verdict = judge_(request, as_service);

  server::Response response;
  if (as_service) {
    response = std::move(verdict.response);
  } else if (!answer.hang) {
    response = canned_(answer.status);
    response.status = answer.status;
    if (!answer.body.empty()) response.body = answer.body;
    if (!answer.retry_after.empty()) {
      response.headers.push_back(server::Header{"Retry-After", answer.retry_after});
    }
  }

  Received r;
  r.path = request.path;
  r.body = request.body;
  r.valid = verdict.problems.empty();
  r.problems = std::move(verdict.problems);
  r.warnings = std::move(verdict.warnings);
  r.headers = request.headers;
  r.time = std::chrono::system_clock::now();
  r.status = answer.hang ? 0 : response.status;

  std::unique_lock lock(mu_);
  received_.push_back(std::move(r));
  changed_.notify_all();
  if (answer.hang) {
    changed_.wait_for(lock, hang_limit, [this] { return stopping_; });
    // The client was meant to see no answer; by now the server is closing the connection.
    return server::Response::Text(503, "fake stopped while holding the request\n");
  }
  return response;
}

}  // namespace obsgate::fakes
