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
      lines_(max_line_bytes, max_message_bytes),
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
  const std::size_t ended = lines_.Consume(data, counter.stats(),
                                           [&](std::string_view line) { FeedLine(line, counter); });
  if (ended > 0) line_end_ = read_offset_ + ended;
  read_offset_ += data.size();
}

void TailedFile::FeedLine(std::string_view line, LineCounter& counter) {
  stream_.Feed(line, counter);
}

void TailedFile::Finish(LineCounter& counter) {
  lines_.Finish([&](std::string_view line) { FeedLine(line, counter); });
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
