#pragma once

#include <string_view>

namespace obsgate {

// Baked in at build time from CMake's project version and `git rev-parse`.
std::string_view Version();
std::string_view Revision();

}  // namespace obsgate
