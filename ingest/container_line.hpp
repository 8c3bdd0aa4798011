#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace obsgate::ingest {

enum class Stream : uint8_t { kStdout, kStderr };

// One line as the container runtime wrote it. Views are valid until the next call on the parser.
struct ContainerLine {
  std::string_view message;  // the application's bytes, without the trailing "\n" docker adds
  std::string_view time;     // as written (RFC3339Nano), not parsed
  Stream stream = Stream::kStdout;
  bool partial = false;  // true: more pieces of this message follow on the same stream
};

enum class FrameError : uint8_t {
  kNone,
  kEmpty,
  kNotJson,
  kTruncated,
  kMissingLog,
  kBadField,
  kBadEscape,
  kBadCri
};

// A stable snake_case name for e, used as a metric label ("none", "empty", "not_json", ...).
const char* FrameErrorName(FrameError e);

// Docker json-file: {"log":"...\n","stream":"stdout","time":"2024-..Z"}; key order may vary and
// extra keys ("attrs") are skipped. Docker splits messages over 16 KiB into several entries and
// only the last piece's log ends in "\n", so the others come out with partial=true.
class DockerParser {  // owned by one ingest thread
 public:
  DockerParser();
  // Parses one line (a trailing "\n" or "\r\n" is tolerated). `out` views `line` or this parser's
  // scratch, so it is valid until the next Parse() and while `line` lives.
  FrameError Parse(std::string_view line, ContainerLine& out);

 private:
  // {"log":"...","stream":"stdout|stderr","time":"..."} exactly as docker writes it (trailing
  // space trimmed): its result, the same the general parse would give; nullopt for any other
  // shape, which the general parse reads.
  std::optional<FrameError> ParseAsWritten(std::string_view line, ContainerLine& out);

  std::string scratch_;  // the unescaped log value; grows to the largest message seen
};

// The end of a docker json-file line exactly as docker writes it, from the closing quote of its log
// value: `","stream":"stdout|stderr","time":"<time>"}` (trailing blanks trimmed by the caller).
// Sets out.stream and out.time (viewing `rest`); false for any other spelling.
bool ParseDockerTail(std::string_view rest, ContainerLine& out);

// CRI (containerd writes "Z", CRI-O writes "+00:00" offsets):
// "<RFC3339Nano time> <stdout|stderr> <P|F> <message>"; P = partial. A line that ends right after
// the tag is an empty message; a trailing "\r" or "\n" is tolerated. `out` views `line`.
FrameError ParseCri(std::string_view line, ContainerLine& out);

// Joins partial pieces per stream (docker and CRI) into whole messages, bounded: a message longer
// than max_bytes is cut at max_bytes (the rest of its pieces is dropped until the final piece) and
// counted in truncated().
class PartialJoiner {  // owned by one ingest thread; one per source file/stream origin
 public:
  explicit PartialJoiner(std::size_t max_bytes = 1 << 20);
  // Returns true when `line` completes a message; `whole` then views it (valid until the next Add
  // and, for a message that was never split, while the bytes `line` views live).
  bool Add(const ContainerLine& line, std::string_view& whole);
  // Messages that were cut at max_bytes.
  std::uint64_t truncated() const { return truncated_; }
  // A message is half-joined on some stream.
  bool HasPending() const { return pending_[0].open || pending_[1].open; }
  // Hands out a half-joined message as if its final piece had come (a container that exited
  // mid-line, a rotated file). Returns false when nothing is pending; call until it does.
  bool Flush(std::string_view& whole);

 private:
  static constexpr std::size_t kKeptCapacity = 64 * 1024;
  struct Pending {
    std::string bytes;
    bool open = false;  // a partial piece arrived and the final one has not
    bool cut = false;   // bytes reached max_bytes_ and later pieces were dropped
  };
  void ReleaseHandedOut();

  std::size_t max_bytes_;
  std::array<Pending, 2> pending_;  // indexed by Stream
  int handed_out_ = -1;             // the stream whose joined bytes `whole` views until next Add
  std::uint64_t truncated_ = 0;
};

enum class Format : uint8_t { kDocker, kCri, kRaw, kAuto };

// Frames lines of one configured format. kAuto decides per line: starts with '{' -> docker,
// starts with a digit and parses as CRI -> CRI, else raw. A '{' line that is no docker frame at all
// (no "log" key, or not JSON) is an application's own line in a plain file, so kAuto reads it raw;
// a docker frame that is torn or has bad fields stays an error.
class LineFramer {  // owned by one ingest thread
 public:
  explicit LineFramer(Format format) : format_(format) {}
  // Views in `out` are valid until the next Parse() and while `line` lives.
  FrameError Parse(std::string_view line, ContainerLine& out);
  Format format() const { return format_; }

 private:
  Format format_;
  DockerParser docker_;
};

// A raw line: the whole line without its trailing "\r\n" is the message, on stdout, never partial.
FrameError ParseRaw(std::string_view line, ContainerLine& out);

}  // namespace obsgate::ingest
