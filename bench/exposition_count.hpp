#pragma once

#include <cstddef>

#include "ingest/scrape/exposition.hpp"

namespace obsgate::bench {

// Counts the samples a parse hands on and sums their values, so that the parse cannot be skipped.
// Owned by the bench thread.
class CountSamples final : public ingest::ExpositionVisitor {
 public:
  void OnFamily(const ingest::ExpositionFamily&) override {}
  bool OnSample(const ingest::ExpositionFamily&, const ingest::ExpositionSample& s) override {
    ++samples;
    sum += s.value;
    return true;
  }
  std::size_t samples = 0;
  double sum = 0;
};

}  // namespace obsgate::bench
