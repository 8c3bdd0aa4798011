#pragma once

#include <optional>
#include <string_view>

namespace obsgate::ingest {

// The pod a container log file belongs to. Views into the path given.
struct PodRef {
  std::string_view ns, pod, container;
};

// Reads the kubelet's log path layouts, under any directory prefix:
//   ".../containers/<pod>_<namespace>_<container>-<64 hex>.log"
//   ".../pods/<namespace>_<pod>_<uid>/<container>/<n>.log"
// Rotated files ("0.log.20240101-120000", "0.log.20240101-120000.gz") are not current logs and
// give nullopt, as does anything else that does not have one of these shapes.
std::optional<PodRef> ParseKubernetesLogPath(std::string_view path);

// The workload a pod belongs to, guessed from its generated name. Views into the pod name.
struct Workload {
  std::string_view deployment;
  std::string_view version;  // empty when the name carries none
};

// Deployment pod "auth-7d9c8b6f5-x2k4q" -> {"auth", "7d9c8b6f5"} (pod-template-hash: 1..10 chars
// of [bcdfghjklmnpqrstvwxz2456789], suffix exactly 5 chars of the same alphabet);
// CronJob pod "backup-28391234-x2k4q" -> {"backup", ""}; StatefulSet "db-0" -> {"db", ""};
// DaemonSet/Job "agent-x2k4q" -> {"agent", ""}; anything else -> {pod, ""}.
Workload WorkloadFromPod(std::string_view pod);

}  // namespace obsgate::ingest
