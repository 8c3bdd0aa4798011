// Serves one exposition file at /metrics on loopback, from memory, as text 0.0.4: the target that
// obsgate and Prometheus both scrape in bench/scrape_bench.sh, so neither pays for the other's
// server. Usage: serve_exposition FILE PORT   (runs until killed)
#include <prometheus/registry.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "server/http_server.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: serve_exposition FILE PORT\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  const std::string body = text.str();
  // Blocked before the server's threads start, so they inherit it and sigwait gets the signal.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  prometheus::Registry registry;
  obsgate::server::ServerOptions options;
  options.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  obsgate::server::HttpServer server(options, registry);
  server.Route("GET", "/metrics", "metrics", [&body](const obsgate::server::Request&) {
    obsgate::server::Response r = obsgate::server::Response::Text(200, body);
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  if (obsgate::core::Status s = server.Start(); !s) {
    std::fprintf(stderr, "%s\n", s.error().c_str());
    return 1;
  }
  std::printf("serving %zu bytes at http://127.0.0.1:%u/metrics\n", body.size(), server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server.Stop(std::chrono::seconds(1));
  return 0;
}
