#pragma once

#include <string>

#include "rules/window_store.hpp"

namespace obsgate::app {

// GET /api/v1/deployments: every series with its totals and its counts and rates over 1m, 5m and
// 15m. Rates are null where there was no traffic ("no data"), never NaN.
std::string DeploymentsJson(const rules::WindowStore& store);

}  // namespace obsgate::app
