// What replicas send each other (/api/v1/cluster/*): any body is refused with a reason or
// decoded; what decodes encodes again to the same thing; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ha/cluster_wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  obsgate::core::LocalCounts counts;
  obsgate::core::Status s = obsgate::ha::DecodeCounts(body, counts);
  if (!s && s.error().empty()) std::abort();  // every refusal says why
  if (s) {
    std::vector<std::pair<obsgate::core::SeriesKey, obsgate::core::Counts>> series;
    counts.Drain([&](const obsgate::core::SeriesKey& k, const obsgate::core::Counts& c) {
      series.emplace_back(k, c);
    });
    obsgate::core::LocalCounts again;
    if (!obsgate::ha::DecodeCounts(obsgate::ha::EncodeCounts(series), again)) std::abort();
    if (again.size() != series.size()) std::abort();
  }
  auto r = obsgate::ha::DecodeRollback(body);
  if (!r && r.error().empty()) std::abort();
  if (r) {
    auto again = obsgate::ha::DecodeRollback(obsgate::ha::EncodeRollback(*r));
    if (!again || again->candidate.target.deployment != r->candidate.target.deployment ||
        again->candidate.peers.size() != r->candidate.peers.size() ||
        again->values.size() != r->values.size()) {
      std::abort();
    }
  }
  return 0;
}
