#include "ingest/attribution.hpp"

namespace obsgate::ingest {
namespace {

// The alphabet of Kubernetes' rand.SafeEncodeString: no vowels and no look-alike digits, so
// generated suffixes never spell words.
bool IsSafeEncoded(std::string_view s) {
  constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  for (char c : s) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool AllHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Splits s at '_' into exactly three non-empty parts.
bool SplitThree(std::string_view s, std::string_view& a, std::string_view& b, std::string_view& c) {
  const std::size_t first = s.find('_');
  if (first == std::string_view::npos) return false;
  const std::size_t second = s.find('_', first + 1);
  if (second == std::string_view::npos || s.find('_', second + 1) != std::string_view::npos) {
    return false;
  }
  a = s.substr(0, first);
  b = s.substr(first + 1, second - first - 1);
  c = s.substr(second + 1);
  return !a.empty() && !b.empty() && !c.empty();
}

constexpr std::string_view kLogSuffix = ".log";
constexpr std::size_t kContainerIdLength = 64;

}  // namespace

std::optional<PodRef> ParseKubernetesLogPath(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base.size() <= kLogSuffix.size() || !base.ends_with(kLogSuffix)) return std::nullopt;
  const std::string_view stem = base.substr(0, base.size() - kLogSuffix.size());

  if (AllDigits(stem)) {
    // .../pods/<namespace>_<pod>_<uid>/<container>/<n>.log
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view dirs = path.substr(0, slash);
    const std::size_t s1 = dirs.rfind('/');
    if (s1 == std::string_view::npos) return std::nullopt;
    const std::string_view container = dirs.substr(s1 + 1);
    const std::string_view up = dirs.substr(0, s1);
    const std::size_t s2 = up.rfind('/');
    const std::string_view pod_dir = s2 == std::string_view::npos ? up : up.substr(s2 + 1);
    PodRef ref;
    std::string_view uid;
    if (container.empty() || !SplitThree(pod_dir, ref.ns, ref.pod, uid)) return std::nullopt;
    ref.container = container;
    return ref;
  }

  // .../containers/<pod>_<namespace>_<container>-<64 hex>.log
  PodRef ref;
  std::string_view container_id;
  if (!SplitThree(stem, ref.pod, ref.ns, container_id)) return std::nullopt;
  if (container_id.size() < kContainerIdLength + 2) return std::nullopt;
  const std::size_t dash = container_id.size() - kContainerIdLength - 1;
  if (container_id[dash] != '-' || !AllHex(container_id.substr(dash + 1))) return std::nullopt;
  ref.container = container_id.substr(0, dash);
  return ref;
}

Workload WorkloadFromPod(std::string_view pod) {
  const std::size_t last = pod.rfind('-');
  if (last == std::string_view::npos || last == 0) return {pod, {}};
  const std::string_view suffix = pod.substr(last + 1);
  const std::string_view head = pod.substr(0, last);

  const bool generated = suffix.size() == 5 && IsSafeEncoded(suffix);
  const std::size_t prev = head.rfind('-');
  if (generated && prev != std::string_view::npos && prev > 0) {
    const std::string_view middle = head.substr(prev + 1);
    const std::string_view name = head.substr(0, prev);
    // A CronJob's Job is named after its scheduled minute since the epoch; keeping that in the
    // name would make a new series per run.
    if (middle.size() >= 8 && AllDigits(middle)) return {name, {}};
    if (!middle.empty() && middle.size() <= 10 && IsSafeEncoded(middle)) return {name, middle};
  }
  if (AllDigits(suffix)) return {head, {}};  // StatefulSet ordinal
  if (!generated) return {pod, {}};
  return {head, {}};  // DaemonSet or Job
}

}  // namespace obsgate::ingest
