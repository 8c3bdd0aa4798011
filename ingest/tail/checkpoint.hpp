#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace obsgate::ingest {

// How far one file was read and delivered, and how to know it is the same file after a restart:
// an inode number alone can be reused by a new file, so the first bytes are hashed too.
struct CheckpointEntry {
  std::string path;  // where the file was last seen; informative, files are matched by inode
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t fingerprint = 0;        // hash of the first fingerprint_bytes bytes
  std::uint32_t fingerprint_bytes = 0;  // up to kFingerprintBytes; fewer for a shorter file
  std::uint64_t offset = 0;             // the end of the last line whose counts were delivered

  bool operator==(const CheckpointEntry&) const = default;
};

inline constexpr std::size_t kFingerprintBytes = 1024;

struct Fingerprint {
  std::uint64_t hash = 0;
  std::uint32_t bytes = 0;

  bool operator==(const Fingerprint&) const = default;
};

// FNV-1a 64 of `bytes`.
std::uint64_t FingerprintHash(std::string_view bytes);

// The fingerprint of the file's first min(size, kFingerprintBytes) bytes, and, when `prefix_bytes`
// is given, whether the hash of the first prefix_bytes still equals `prefix_hash` (a truncated
// and rewritten file, or a reused inode, has other first bytes). nullopt on a read error.
struct FingerprintCheck {
  Fingerprint now;
  bool prefix_matches = true;
};
std::optional<FingerprintCheck> ReadFingerprint(int fd, const Fingerprint* expected = nullptr);

std::string FormatCheckpoint(const std::vector<CheckpointEntry>& entries);
core::Result<std::vector<CheckpointEntry>> ParseCheckpoint(std::string_view json);

// A missing file is an empty checkpoint (first start); an unreadable or corrupt one is an error.
core::Result<std::vector<CheckpointEntry>> LoadCheckpoint(const std::string& path);
// Writes `path` atomically: a temporary file beside it, fsync, rename, fsync of the directory, so
// a crash leaves either the old or the new checkpoint, never a torn one.
core::Status SaveCheckpoint(const std::string& path, const std::vector<CheckpointEntry>& entries);

}  // namespace obsgate::ingest
