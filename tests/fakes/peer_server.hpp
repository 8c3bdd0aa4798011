#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "server/http.hpp"
#include "server/http_server.hpp"

namespace obsgate::fakes {

// What a fake answers to one request. Status 0 means "as the real service would": its success
// answer when the request is valid, its own 400 when not. Any other status is sent as is.
struct Answer {
  int status = 0;
  std::string retry_after;  // sent as Retry-After when not empty
  std::string body;         // empty: the body the real service sends with that status
  bool hang = false;        // hold the request until the fake stops or the hang limit passes

  static Answer Ok() { return {}; }
  static Answer BadRequest(std::string body = "") { return {400, "", std::move(body), false}; }
  static Answer TooMany(std::string retry_after) {
    return {429, std::move(retry_after), "", false};
  }
  static Answer ServerError(int status = 500) { return {status, "", "", false}; }
  static Answer Hang() { return {0, "", "", true}; }
};

// One request as the fake saw it, with what the real service would have made of it.
struct Received {
  std::string path;
  std::string body;
  std::vector<std::string> problems;  // every rule of the published API the request breaks
  bool valid = false;                 // problems.empty()
  // What the service accepts but changes silently (Slack truncates text past 40,000 characters).
  std::vector<std::string> warnings;
  std::vector<server::Header> headers;
  std::chrono::system_clock::time_point time;
  int status = 0;  // the status the fake answered; 0 while (or because) it hung

  std::string Header(std::string_view name) const;  // first header of that name, any case
};

// The real service's view of one request.
struct Verdict {
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
  server::Response response;  // its answer; only read when the fake answers as the service
};

// The HTTP side every fake shares: one POST route, a script of answers, a record of requests.
// Thread-safe; handlers run on the server's I/O threads, Start and Stop on the test's thread.
// A fake that derives from it and keeps state of its own calls Stop() in its destructor, so no
// handler runs on a half-destroyed fake.
class PeerServer {
 public:
  // `process` is true when the fake answers as the service, so the request may change the fake's
  // state (open an incident); false when a scripted answer stands in and the request only counts.
  using Judge = std::function<Verdict(const server::Request&, bool process)>;
  // The service's answer for a scripted status whose body the script left empty.
  using CannedAnswer = std::function<server::Response(int status)>;

  PeerServer(std::string path, Judge judge, CannedAnswer canned, int threads = 4);
  ~PeerServer();
  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  // Serves on 127.0.0.1 at a free port.
  core::Status Start();
  // Releases hung requests, then stops the server; true when every request finished in time.
  bool Stop();

  // Answers for the next requests, in order, before the default takes over again.
  void Script(std::vector<Answer> answers);
  void SetDefault(Answer answer);
  // How long a hung request is held when nobody stops the fake.
  void SetHangLimit(std::chrono::milliseconds limit);

  std::vector<Received> requests() const;
  std::size_t count() const;
  // True once at least n requests arrived, false when the timeout passed first.
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout) const;
  std::uint16_t port() const;
  std::string url() const;  // http://127.0.0.1:<port><path>

 private:
  server::Response Handle(const server::Request& request);

  const std::string path_;
  const Judge judge_;
  const CannedAnswer canned_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<Answer> script_;
  Answer default_;
  std::chrono::milliseconds hang_limit_{120'000};
  bool stopping_ = false;
  std::vector<Received> received_;
  prometheus::Registry registry_;
  std::unique_ptr<server::HttpServer> server_;
};

}  // namespace obsgate::fakes
