// The whole line path: the first input line is a log file path, the rest are lines of that file.
// auto format -> partial joiner -> classify -> attribution from the path and the JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/attribution.hpp"
#include "ingest/classify.hpp"
#include "ingest/container_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  static Classifier* classifier = std::move(Classifier::Create({})).value().release();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nl = input.find('\n');
  const std::string_view path = input.substr(0, nl);
  input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  if (const auto ref = ParseKubernetesLogPath(path)) {
    if (ref->ns.empty() || ref->pod.empty() || ref->container.empty()) std::abort();
    const Workload w = WorkloadFromPod(ref->pod);
    if (w.deployment.size() > ref->pod.size()) std::abort();
    if (w.version.size() > 10) std::abort();
  }

  LineFramer framer(Format::kAuto);
  PartialJoiner joiner(2048);  // small, so that fuzzing reaches the cut
  while (!input.empty()) {
    nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    ContainerLine cl;
    if (framer.Parse(line, cl) != FrameError::kNone) continue;
    std::string_view whole;
    if (!joiner.Add(cl, whole)) continue;
    if (whole.size() > 2048) std::abort();
    const LineFacts f = classifier->Classify(whole);
    if (f.status != 0 && (f.status < 100 || f.status > 599)) std::abort();
    if (!f.deployment.empty()) {
      // JSON attribution names the series; a pod name in it is read like one from a path.
      const Workload w = WorkloadFromPod(f.deployment);
      if (w.deployment.empty() || w.deployment.size() > f.deployment.size()) std::abort();
    }
  }
  std::string_view rest;
  while (joiner.Flush(rest)) {
    if (rest.size() > 2048) std::abort();
  }
  if (joiner.HasPending()) std::abort();
  return 0;
}
