#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/compression.hpp"
#include "core/result.hpp"

namespace obsgate::ingest {

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
};

// A stream's labels as Loki's protobuf push carries them: {app="auth", namespace="shop"}, values
// with Go escapes (\" \\ \n \t \uXXXX ...). Names are [a-zA-Z_][a-zA-Z0-9_]*.
core::Result<std::vector<Label>> ParseLabelSelector(std::string_view text);

// What a push holds, handed over stream by stream.
class PushVisitor {
 public:
  virtual ~PushVisitor() = default;
  // A stream begins; its entries follow until the next Stream call.
  virtual void Stream(const std::vector<Label>& labels) = 0;
  virtual void Entry(std::string_view line) = 0;
  // `lines` entries could not be read, for the reason given; the rest of the push goes on.
  virtual void Rejected(std::uint64_t lines, std::string_view why) = 0;
};

// The JSON push: {"streams":[{"stream":{...},"values":[["<ns>","line"(,{meta})],...]}]}.
// An error means the body as a whole is unreadable; a bad stream or entry is Rejected and the
// good ones are kept.
core::Status DecodeLokiJson(std::string_view body, PushVisitor& visitor);
// The protobuf push, already uncompressed.
core::Status DecodeLokiProtobuf(std::string_view body, PushVisitor& visitor);

// Bounded decompression: an error when the input is corrupt or inflates past max_bytes. Gunzip
// lives in core/compression.hpp.
core::Result<std::string> SnappyUncompress(std::string_view body, std::size_t max_bytes);

}  // namespace obsgate::ingest
