#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/line_cutter.hpp"
#include "ingest/pipeline.hpp"
#include "ingest/tail/checkpoint.hpp"
#include "ingest/tail/unique_fd.hpp"

namespace obsgate::ingest {

// A file's identity while it is open: a rename keeps it, a new file at the same path has another.
struct FileId {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;

  auto operator<=>(const FileId&) const = default;
};

// One followed file: reads bytes from an offset, cuts them into lines, feeds whole lines to its
// LogStream. A last line without "\n" waits for the rest. Owned by the tail source's reader
// thread.
class TailedFile {
 public:
  // `max_line_bytes` bounds one physical line; longer ones are cut there, the cut part counted
  // once and the rest of the line skipped.
  TailedFile(UniqueFd fd, FileId id, std::string path, std::uint64_t offset, Format format,
             SourceLabels labels, std::size_t max_message_bytes, std::size_t max_line_bytes);

  enum class ReadResult { kData, kEnd, kError };
  // One read of up to buffer.size() bytes at the current offset; whole lines go to `counter`.
  // kError leaves errno set.
  ReadResult Read(LineCounter& counter, std::vector<char>& buffer);
  // Cuts `data` (the bytes at the current offset) into lines. Exposed for tests.
  void Consume(std::string_view data, LineCounter& counter);

  // The file ended for good (rotated away and drained, or deleted): counts a last line without
  // "\n" and a half-joined message.
  void Finish(LineCounter& counter);
  // The file was truncated in place (copytruncate): what was pending is counted as ended, then
  // reading starts again at byte 0.
  void Restart(LineCounter& counter);

  // The counts of every line up to line_end() have been delivered: checkpoints may cover them.
  void MarkDelivered() { delivered_ = line_end_; }

  int fd() const { return fd_.get(); }
  const FileId& id() const { return id_; }
  const std::string& path() const { return path_; }
  void set_path(std::string path) { path_ = std::move(path); }
  std::uint64_t read_offset() const { return read_offset_; }
  std::uint64_t line_end() const { return line_end_; }
  std::uint64_t delivered() const { return delivered_; }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  void set_fingerprint(Fingerprint f) { fingerprint_ = f; }

  // Set by the reader: renamed or deleted, read until it stays idle, then closed.
  bool rotated = false;
  std::chrono::steady_clock::time_point last_data = std::chrono::steady_clock::now();

 private:
  void FeedLine(std::string_view line, LineCounter& counter);

  UniqueFd fd_;
  FileId id_;
  std::string path_;
  Format format_;
  SourceLabels labels_;
  std::size_t max_message_bytes_;
  LineCutter lines_;
  LogStream stream_;
  std::uint64_t read_offset_ = 0;
  std::uint64_t line_end_ = 0;   // just after the last "\n" read
  std::uint64_t delivered_ = 0;  // line_end_ as of the last delivery
  Fingerprint fingerprint_;
};

}  // namespace obsgate::ingest
