#include "ingest/tail/tailed_file.hpp"

#include <unistd.h>

#include <cerrno>

namespace obsgate::ingest {

TailedFile::TailedFile(UniqueFd fd, FileId id, std::string path, std::uint64_t offset,
                       Format format, SourceLabels labels, std::size_t max_message_bytes,
                       std::size_t max_line_bytes)
    : fd_(std::move(fd)),
      id_(id),
      path_(std::move(path)),
      format_(format),
      labels_(std::move(labels)),
      max_message_bytes_(max_message_bytes),
      max_line_bytes_(max_line_bytes > 0 ? max_line_bytes : 1),
      stream_(format, path_, labels_, max_message_bytes),
      read_offset_(offset),
      line_end_(offset),
      delivered_(offset) {}

TailedFile::ReadResult TailedFile::Read(LineCounter& counter, std::vector<char>& buffer) {
  ssize_t n;
  do {
    n = ::pread(fd_.get(), buffer.data(), buffer.size(), static_cast<off_t>(read_offset_));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ReadResult::kError;
  if (n == 0) return ReadResult::kEnd;
  Consume(std::string_view(buffer.data(), static_cast<std::size_t>(n)), counter);
  last_data = std::chrono::steady_clock::now();
  return ReadResult::kData;
}

void TailedFile::Consume(std::string_view data, LineCounter& counter) {
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    bool complete = nl != std::string_view::npos;
    std::string_view piece = data.substr(0, complete ? nl : data.size());
    std::size_t used = complete ? nl + 1 : data.size();
    data.remove_prefix(used);
    read_offset_ += used;
    if (complete) line_end_ = read_offset_;

    if (skipping_) {
      skipping_ = !complete;
      continue;
    }
    if (partial_.empty() && complete && piece.size() <= max_line_bytes_) {
      FeedLine(piece, counter);  // the common case: no copy
      continue;
    }
    std::size_t room = max_line_bytes_ - partial_.size();
    if (piece.size() > room) {
      // Bounded memory for a line that never ends: count what fits, drop the rest of it.
      partial_.append(piece.substr(0, room));
      FeedLine(partial_, counter);
      // Longer than a message may be, the joiner cuts it again and counts it itself.
      if (partial_.size() <= max_message_bytes_) ++counter.stats().truncated;
      partial_.clear();
      skipping_ = !complete;
      continue;
    }
    partial_.append(piece);
    if (complete) {
      FeedLine(partial_, counter);
      partial_.clear();
    }
  }
}

void TailedFile::FeedLine(std::string_view line, LineCounter& counter) {
  stream_.Feed(line, counter);
}

void TailedFile::Finish(LineCounter& counter) {
  if (!partial_.empty() && !skipping_) FeedLine(partial_, counter);
  partial_.clear();
  skipping_ = false;
  stream_.Finish(counter);
  line_end_ = read_offset_;
}

void TailedFile::Restart(LineCounter& counter) {
  Finish(counter);
  // A fresh stream: the framing state of the old content says nothing about the new.
  stream_ = LogStream(format_, path_, labels_, max_message_bytes_);
  read_offset_ = 0;
  line_end_ = 0;
  delivered_ = 0;
}

}  // namespace obsgate::ingest
