// SPDX-License-Identifier: Apache-2.0
// FrameDecoder: turns the byte stream of one connection into whole native frames
// (native_frame.h), whatever chunking the socket reads produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "broker/native_frame.h"
#include "log/base/result.h"

namespace sluice::broker::native {

// One per connection; not thread-safe (callers serialize, as a connection's reads are).
//
// Memory is bounded: the decoder buffers at most one partial frame, and never more than
// `max_frame_bytes` for it, because the length prefix is checked against the limit as soon as
// its 4 bytes arrive, before any body byte is buffered. Header fields are checked as early as
// they are known: length (4 bytes), magic and version (6 bytes), then checksum, type-independent
// flags (24 bytes). Frame types are not checked here: a well-delimited frame of an unknown type
// leaves the stream usable (see IsKnownFrameType and kTypeIgnoreIfUnknown).
//
// Errors are sticky: after one, every call returns it again. The server answers with an Error
// frame of error_code() (with max_version kProtocolVersion for kUnsupportedVersion) and closes.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes = kDefaultMaxFrameBytes);
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Takes bytes from the front of `*in`, advancing it, until one frame is complete or `*in` is
  // empty. Returns the frame (and `*in` holds the bytes after it), nullopt when every byte was
  // taken and the frame is still incomplete, or an error: Corruption (kMalformedFrame),
  // NotSupported (kUnsupportedVersion) or InvalidArgument (kFrameTooLarge). Never reads outside
  // `*in`. Call again with the rest of `*in` to get pipelined frames.
  Result<std::optional<Frame>> Decode(std::span<const std::byte>* in);

  // The wire code of the sticky error; kOk while healthy.
  ErrorCode error_code() const { return error_code_; }
  // Version byte of the frame that caused kUnsupportedVersion (0 otherwise).
  uint8_t peer_version() const { return peer_version_; }
  // Bytes of the current partial frame held (0 between frames).
  size_t buffered_bytes() const { return buffer_.size(); }
  size_t max_frame_bytes() const { return max_frame_bytes_; }

 private:
  Status Fail(ErrorCode code, std::string msg);
  // Validates whatever part of the header `buffer_` holds; called as it grows.
  Status CheckPartialHeader();

  const size_t max_frame_bytes_;
  std::string buffer_;           // The current partial frame, header first.
  uint32_t frame_length_ = 0;    // Known once 4 bytes are buffered.
  bool header_checked_ = false;  // Whole header validated.
  ErrorCode error_code_ = ErrorCode::kOk;
  Status error_;
  uint8_t peer_version_ = 0;
};

}  // namespace sluice::broker::native
