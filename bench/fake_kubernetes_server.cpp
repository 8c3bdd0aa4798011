// The fake Kubernetes API (tests/fakes/kubernetes.hpp) as a process, for bench/rollback_race.sh:
// Deployment shop/auth with revisions v1 and v2 (v2 current), bearer token required. Prints
//   url http://127.0.0.1:PORT
// once it listens, then, when the rollback arrives,
//   patch UNIX_MS PATH STATUS
// for each PATCH (system clock, milliseconds; seen by polling every 2 ms).
// Usage: fake_kubernetes_server TOKEN   (runs until SIGTERM or SIGINT)
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "tests/fakes/kubernetes.hpp"

namespace {

volatile sig_atomic_t stop_requested = 0;

void RequestStop(int) { stop_requested = 1; }

long long UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fake_kubernetes_server TOKEN\n");
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = RequestStop;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  obsgate::fakes::FakeKubernetes k8s;
  k8s.AddDeployment(
      {.ns = "shop", .name = "auth", .image = "registry.example.com/shop/auth", .revisions = 2});
  k8s.RequireToken(argv[1]);
  if (obsgate::core::Status started = k8s.Start(); !started) {
    std::fprintf(stderr, "fake Kubernetes API did not start: %s\n", started.error().c_str());
    return 1;
  }
  std::printf("url %s\n", k8s.url().c_str());
  std::fflush(stdout);

  // The fake keeps no callback; polling its request log is within 2 ms of the arrival.
  std::size_t seen = 0;
  while (!stop_requested) {
    std::vector<obsgate::fakes::FakeKubernetes::Request> patches = k8s.Requests("PATCH");
    for (; seen < patches.size(); ++seen) {
      std::printf("patch %lld %s %d\n", UnixMillis(), patches[seen].path.c_str(),
                  patches[seen].status);
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  k8s.Stop();
  return 0;
}
