#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/counts.hpp"
#include "core/result.hpp"
#include "rollback/audit.hpp"
#include "rollback/guard.hpp"

namespace obsgate::ha {

// What replicas of one cluster send each other, as JSON: the counts a replica took for
// deployments another owns, and the rollbacks a standby's rules decided, for the leader.

// {"series":[["ns","deployment","version",requests,errors,log_lines,error_lines],...]}
std::string EncodeCounts(const std::vector<std::pair<core::SeriesKey, core::Counts>>& series);
// Adds the series of `body` to `out`; on an error (which names what is wrong) `out` may hold the
// series before it.
core::Status DecodeCounts(std::string_view body, core::LocalCounts& out);

// A rollback a standby's rule decided: what the guard needs to judge it, and what the alert
// showed.
struct ForwardedRollback {
  std::string from;  // the replica whose rule fired
  std::string rule;
  rollback::Candidate candidate;
  std::vector<std::pair<std::string, double>> values;
};
std::string EncodeRollback(const ForwardedRollback& r);
core::Result<ForwardedRollback> DecodeRollback(std::string_view body);

}  // namespace obsgate::ha
