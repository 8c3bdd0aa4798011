#include "ingest/tail/checkpoint.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/json.hpp"
#include "ingest/tail/unique_fd.hpp"

namespace obsgate::ingest {
namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t FnvAdd(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

std::string Hex(std::uint64_t v) {
  std::array<char, 16> out;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kDigits[v & 0xF];
  return std::string(out.data(), out.size());
}

bool ParseHex(std::string_view s, std::uint64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string ErrnoText(int err) { return std::strerror(err); }

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::uint64_t FingerprintHash(std::string_view bytes) { return FnvAdd(kFnvOffset, bytes); }

std::optional<FingerprintCheck> ReadFingerprint(int fd, const Fingerprint* expected) {
  std::array<char, kFingerprintBytes> buf;
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  std::string_view bytes(buf.data(), got);
  FingerprintCheck check;
  check.now = Fingerprint{FingerprintHash(bytes), static_cast<std::uint32_t>(got)};
  if (expected != nullptr) {
    check.prefix_matches = expected->bytes <= got &&
                           FingerprintHash(bytes.substr(0, expected->bytes)) == expected->hash;
  }
  return check;
}

std::string FormatCheckpoint(const std::vector<CheckpointEntry>& entries) {
  std::string out = "{\"version\":1,\"files\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const CheckpointEntry& e = entries[i];
    if (i > 0) out += ',';
    out += "\n{\"path\":";
    out += core::JsonQuote(e.path);
    out += ",\"device\":" + std::to_string(e.device);
    out += ",\"inode\":" + std::to_string(e.inode);
    out += ",\"fingerprint\":\"" + Hex(e.fingerprint) + '"';
    out += ",\"fingerprint_bytes\":" + std::to_string(e.fingerprint_bytes);
    out += ",\"offset\":" + std::to_string(e.offset) + '}';
  }
  out += "\n]}\n";
  return out;
}

core::Result<std::vector<CheckpointEntry>> ParseCheckpoint(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) {
    return core::Error{"not JSON"};
  }
  simdjson::dom::array files;
  if (doc["files"].get(files) != simdjson::SUCCESS) return core::Error{"no \"files\" array"};
  std::vector<CheckpointEntry> entries;
  for (simdjson::dom::element f : files) {
    CheckpointEntry e;
    std::string_view path, fingerprint;
    std::uint64_t bytes = 0;
    if (f["path"].get(path) != simdjson::SUCCESS || f["device"].get(e.device) ||
        f["inode"].get(e.inode) || f["fingerprint"].get(fingerprint) ||
        f["fingerprint_bytes"].get(bytes) || f["offset"].get(e.offset) ||
        !ParseHex(fingerprint, e.fingerprint) || bytes > kFingerprintBytes) {
      return core::Error{
          "a file entry lacks path, device, inode, fingerprint, "
          "fingerprint_bytes or offset"};
    }
    e.path = std::string(path);
    e.fingerprint_bytes = static_cast<std::uint32_t>(bytes);
    entries.push_back(std::move(e));
  }
  return entries;
}

core::Result<std::vector<CheckpointEntry>> LoadCheckpoint(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::vector<CheckpointEntry>{};
    return core::Error{"cannot read checkpoint file " + path + ": " + ErrnoText(errno)};
  }
  std::string data;
  std::array<char, 64 * 1024> buf;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::Error{"cannot read checkpoint file " + path + ": " + ErrnoText(errno)};
    if (n == 0) break;
    data.append(buf.data(), static_cast<std::size_t>(n));
  }
  auto entries = ParseCheckpoint(data);
  if (!entries) {
    return core::Error{"checkpoint file " + path + " is corrupt (" + entries.error() +
                       "); move it away to start over"};
  }
  return entries;
}

core::Status SaveCheckpoint(const std::string& path, const std::vector<CheckpointEntry>& entries) {
  std::string tmp = path + ".tmp";
  auto fail = [&](std::string_view what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::Error{"cannot write checkpoint file " + path + " (" + std::string(what) + "): " +
                       ErrnoText(err) + "; check that its directory exists and is writable"};
  };
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return fail("create");
    if (!WriteAll(fd.get(), FormatCheckpoint(entries))) return fail("write");
    if (::fsync(fd.get()) != 0) return fail("fsync");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  // The rename itself is durable only once the directory is synced.
  std::string dir = std::filesystem::path(path).parent_path().string();
  UniqueFd dir_fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) ::fsync(dir_fd.get());
  return core::Ok{};
}

}  // namespace obsgate::ingest
