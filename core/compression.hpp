#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace obsgate::core {

// Inflates a gzip (or zlib) body, bounded: an error when it is corrupt, truncated, or inflates
// past max_bytes. Used for pushed bodies and scraped responses alike.
core::Result<std::string> Gunzip(std::string_view body, std::size_t max_bytes);

}  // namespace obsgate::core
