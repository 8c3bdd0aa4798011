#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace obsgate::core {

// Writes `content` to `path` through a temporary file beside it, fsync and rename, then syncs
// the directory: a crash leaves the old file or the new one, never a torn one.
Status WriteFileAtomically(const std::string& path, std::string_view content);
// Creates the directory and its parents when missing; the error names it.
Status MakeDirectories(const std::string& path);
// The whole file, or an error naming it.
Result<std::string> ReadWholeFile(const std::string& path);

}  // namespace obsgate::core
