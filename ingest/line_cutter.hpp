#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "ingest/pipeline.hpp"

namespace obsgate::ingest {

// The longest physical line kept for messages of up to `max_message_bytes`: framed formats (docker,
// CRI) carry the message plus its framing and JSON escapes on one line.
inline std::size_t MaxLineBytes(Format format, std::size_t max_message_bytes) {
  constexpr std::size_t kFramingAllowance = 64 * 1024;
  return format == Format::kRaw ? max_message_bytes : max_message_bytes * 2 + kFramingAllowance;
}

// Cuts bytes read from a file or a stream into lines, however the reads fall: a line begun in one
// read waits for its "\n" in the next. A line longer than `max_line_bytes` is cut there: the cut
// part is handed on once (and counted as truncated when it is no longer than a message may be, as
// the joiner counts longer ones itself), the rest of the line skipped, so memory stays bounded
// however long a line runs. Owned by the one thread reading the input.
class LineCutter {
 public:
  LineCutter(std::size_t max_line_bytes, std::size_t max_message_bytes)
      : max_line_bytes_(max_line_bytes > 0 ? max_line_bytes : 1),
        max_message_bytes_(max_message_bytes) {}

  // Hands every line of `data` that ends in it to `line(std::string_view)`, without its "\n".
  // Returns the bytes of `data` up to and including its last "\n"; 0 when it holds none.
  template <typename LineFn>
  std::size_t Consume(std::string_view data, IngestStats& stats, LineFn&& line) {
    std::size_t ended = 0;
    std::size_t pos = 0;
    while (pos < data.size()) {
      const void* found = std::memchr(data.data() + pos, '\n', data.size() - pos);
      const bool complete = found != nullptr;
      const std::size_t len =
          complete ? static_cast<std::size_t>(static_cast<const char*>(found) - data.data()) - pos
                   : data.size() - pos;
      const std::string_view piece = data.substr(pos, len);
      pos += complete ? len + 1 : len;
      if (complete) ended = pos;

      if (skipping_) {
        skipping_ = !complete;
        continue;
      }
      if (partial_.empty() && complete && piece.size() <= max_line_bytes_) {
        line(piece);  // the common case: no copy
        continue;
      }
      const std::size_t room = max_line_bytes_ - partial_.size();
      if (piece.size() > room) {
        partial_.append(piece.substr(0, room));
        line(std::string_view(partial_));
        if (partial_.size() <= max_message_bytes_) ++stats.truncated;
        partial_.clear();
        skipping_ = !complete;
        continue;
      }
      partial_.append(piece);
      if (complete) {
        line(std::string_view(partial_));
        partial_.clear();
      }
    }
    return ended;
  }

  // The input ended for good: hands on a last line without "\n".
  template <typename LineFn>
  void Finish(LineFn&& line) {
    if (!partial_.empty() && !skipping_) line(std::string_view(partial_));
    partial_.clear();
    skipping_ = false;
  }

 private:
  std::size_t max_line_bytes_;
  std::size_t max_message_bytes_;
  std::string partial_;    // a line read in part, waiting for its "\n"
  bool skipping_ = false;  // the rest of a line already cut at max_line_bytes_
};

}  // namespace obsgate::ingest
