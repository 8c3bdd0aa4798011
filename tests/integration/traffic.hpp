#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/support/http_client.hpp"

namespace obsgate::testing {

// One second of shop/<deployment> traffic at `version`, pushed as NDJSON: n requests, the first
// e failing.
inline void PushSecond(std::uint16_t port, const std::string& version, int n, int e,
                       const std::string& deployment = "auth") {
  std::string body;
  for (int i = 0; i < n; ++i) body += i < e ? "{\"status\":503}\n" : "{\"status\":200}\n";
  HttpReply r = Post(
      port, "/api/v1/logs?namespace=shop&deployment=" + deployment + "&version=" + version, body);
  ASSERT_EQ(r.status, 200) << r.body;
}

// What the replica tests' configurations share: HTTP push, the rollback rule over 10s windows,
// the fake Kubernetes API (its kubeconfig) as orchestrator, and a short Lease held as `identity`.
inline std::string ReplicaConfig(const std::string& kubeconfig, const std::string& identity) {
  return R"(sources: [{http: {}}]
rules:
  - name: ErrorRateAbove1Percent
    expr: error_rate(10s) > 1% and requests(10s) >= 100 and worse_than_baseline(10s, 0.01)
    actions: [notify, rollback]
orchestrator:
  kubernetes: {kubeconfig: )" +
         kubeconfig + R"(}
rollback: {only_within: 30m, cooldown: 10m}
leader_election:
  lease: {name: obsgate}
  identity: )" +
         identity + R"(
  lease_duration: 3s
  renew_deadline: 2s
  retry_period: 500ms
)";
}

}  // namespace obsgate::testing
