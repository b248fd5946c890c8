// SPDX-License-Identifier: Apache-2.0
#include "broker/native_frame_decoder.h"

#include <algorithm>
#include <utility>

#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::broker::native {

FrameDecoder::FrameDecoder(size_t max_frame_bytes)
    : max_frame_bytes_(std::max(max_frame_bytes, kFrameHeaderSize)) {}

Status FrameDecoder::Fail(ErrorCode code, std::string msg) {
  error_code_ = code;
  error_ = StatusFromError(code, "native frame: " + msg);
  buffer_.clear();
  buffer_.shrink_to_fit();
  return error_;
}

Status FrameDecoder::CheckPartialHeader() {
  const auto* b = reinterpret_cast<const std::byte*>(buffer_.data());
  const size_t n = buffer_.size();
  if (n >= kFrameMagicOffset && frame_length_ == 0) {
    const uint32_t length = DecodeFixed<uint32_t>(b + kFrameLengthOffset);
    if (length < kFrameHeaderSize) {
      return Fail(ErrorCode::kMalformedFrame,
                  "length " + std::to_string(length) + " is shorter than the frame header");
    }
    if (length > max_frame_bytes_) {
      return Fail(ErrorCode::kFrameTooLarge, "length " + std::to_string(length) +
                                                 " exceeds the limit of " +
                                                 std::to_string(max_frame_bytes_));
    }
    frame_length_ = length;
  }
  if (n == kFrameVersionInvariantBytes) {
    if (DecodeFixed<uint8_t>(b + kFrameMagicOffset) != kFrameMagic) {
      return Fail(ErrorCode::kMalformedFrame, "bad magic");
    }
    const uint8_t version = DecodeFixed<uint8_t>(b + kFrameVersionOffset);
    if (version < kMinProtocolVersion || version > kProtocolVersion) {
      peer_version_ = version;
      return Fail(ErrorCode::kUnsupportedVersion,
                  "unsupported protocol version " + std::to_string(version) +
                      "; highest supported is " + std::to_string(kProtocolVersion));
    }
  }
  if (n == kFrameHeaderSize && !header_checked_) {
    const uint64_t stored = DecodeFixed<uint64_t>(b + kFrameChecksumOffset);
    if (stored != Checksum(std::span<const std::byte>(b, kFrameChecksumOffset))) {
      return Fail(ErrorCode::kMalformedFrame, "header checksum mismatch");
    }
    if ((DecodeFixed<uint8_t>(b + kFrameFlagsOffset) & ~kKnownFlags) != 0) {
      return Fail(ErrorCode::kMalformedFrame, "reserved flag bits set");
    }
    header_checked_ = true;
    buffer_.reserve(frame_length_);  // <= max_frame_bytes_, checked above.
  }
  return Status::OK();
}

Result<std::optional<Frame>> FrameDecoder::Decode(std::span<const std::byte>* in) {
  if (!error_.ok()) return error_;
  // Invariant: buffer_ holds the first buffer_.size() bytes of one frame; once it holds the
  // 4-byte prefix, frame_length_ is that frame's validated length.
  while (!in->empty()) {
    size_t want;
    if (!header_checked_) {
      // Step through the header boundaries at which CheckPartialHeader learns something.
      const size_t n = buffer_.size();
      want = n < kFrameMagicOffset             ? kFrameMagicOffset - n
             : n < kFrameVersionInvariantBytes ? kFrameVersionInvariantBytes - n
                                               : kFrameHeaderSize - n;
    } else {
      want = frame_length_ - buffer_.size();
    }
    const size_t take = std::min(want, in->size());
    buffer_.append(reinterpret_cast<const char*>(in->data()), take);
    *in = in->subspan(take);
    if (!header_checked_) {
      SLUICE_TRY(CheckPartialHeader());
    }
    if (header_checked_ && buffer_.size() == frame_length_) {
      const auto* b = reinterpret_cast<const std::byte*>(buffer_.data());
      Frame frame;
      frame.header.length = frame_length_;
      frame.header.version = DecodeFixed<uint8_t>(b + kFrameVersionOffset);
      frame.header.type = static_cast<FrameType>(DecodeFixed<uint8_t>(b + kFrameTypeOffset));
      frame.header.flags = DecodeFixed<uint8_t>(b + kFrameFlagsOffset);
      frame.header.correlation_id = DecodeFixed<uint64_t>(b + kFrameCorrelationOffset);
      frame.body = buffer_.substr(kFrameHeaderSize);
      buffer_.clear();
      if (buffer_.capacity() > 2 * kFrameHeaderSize + 4096) buffer_.shrink_to_fit();
      frame_length_ = 0;
      header_checked_ = false;
      return std::optional<Frame>(std::move(frame));
    }
  }
  return std::optional<Frame>();
}

}  // namespace sluice::broker::native
