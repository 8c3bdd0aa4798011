#pragma once

#include <string>

#include "ingest/source.hpp"
#include "rules/window_store.hpp"

namespace obsgate::app {

// GET /api/v1/deployments: every series with its totals and its counts and rates over 1m, 5m and
// 15m. Rates are null where there was no traffic ("no data"), never NaN. A deployment this
// replica took over from another (`handovers`) says so: rebuilt from the log, or with windows
// that start at the handover.
std::string DeploymentsJson(const rules::WindowStore& store,
                            const ingest::Handovers& handovers = {});

// GET /api/v1/deployments/history: for each series, its requests and errors in each of the last
// 15 minutes (oldest first, ending at the last tick), and its baseline (the previous version)
// compared over 5m as worse_than_baseline(5m, ...) compares them: the baseline's error rate and
// requests, and the p-value. What the status page draws its sparklines and p-values from.
std::string DeploymentHistoryJson(const rules::WindowStore& store);

}  // namespace obsgate::app
