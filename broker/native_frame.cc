// SPDX-License-Identifier: Apache-2.0
#include "broker/native_frame.h"

#include <cstring>

#include "log/base/check.h"
#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::broker::native {

bool IsKnownFrameType(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello:
    case FrameType::kCreateStream:
    case FrameType::kDeleteStream:
    case FrameType::kListStreams:
    case FrameType::kDescribeStream:
    case FrameType::kProduce:
    case FrameType::kFetch:
    case FrameType::kSplitShard:
    case FrameType::kMergeShards:
    case FrameType::kUpdateShardCount:
    case FrameType::kGetShardIterator:
    case FrameType::kSubscribe:
    case FrameType::kHelloResponse:
    case FrameType::kListStreamsResponse:
    case FrameType::kDescribeStreamResponse:
    case FrameType::kProduceResponse:
    case FrameType::kFetchResponse:
    case FrameType::kGetShardIteratorResponse:
    case FrameType::kAck:
    case FrameType::kError:
      return true;
  }
  return false;
}

bool IsKnownErrorCode(uint16_t code) {
  return code <= static_cast<uint16_t>(ErrorCode::kNotSupported) ||
         (code >= static_cast<uint16_t>(ErrorCode::kMalformedFrame) &&
          code <= static_cast<uint16_t>(ErrorCode::kUnknownType));
}

// Status::Code and ErrorCode 0..9 are the same numbers; these pin the mirror.
static_assert(static_cast<uint16_t>(Status::Code::kNotFound) ==
              static_cast<uint16_t>(ErrorCode::kNotFound));
static_assert(static_cast<uint16_t>(Status::Code::kNotSupported) ==
              static_cast<uint16_t>(ErrorCode::kNotSupported));

ErrorCode ErrorCodeFromStatus(const Status& status) {
  return static_cast<ErrorCode>(static_cast<uint16_t>(status.code()));
}

Status StatusFromError(ErrorCode code, std::string_view message) {
  switch (code) {
    case ErrorCode::kOk:
      return Status::OK();
    case ErrorCode::kNotFound:
      return Status::NotFound(message);
    case ErrorCode::kCorruption:
      return Status::Corruption(message);
    case ErrorCode::kTruncated:
      return Status::Truncated(message);
    case ErrorCode::kIOError:
      return Status::IOError(message);
    case ErrorCode::kNoSpace:
      return Status::NoSpace(message);
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kFrameTooLarge:
      return Status::InvalidArgument(message);
    case ErrorCode::kUnavailable:
      return Status::Unavailable(message);
    case ErrorCode::kAborted:
      return Status::Aborted(message);
    case ErrorCode::kNotSupported:
    case ErrorCode::kUnsupportedVersion:
    case ErrorCode::kUnknownType:
      return Status::NotSupported(message);
    case ErrorCode::kMalformedFrame:
      return Status::Corruption(message);
  }
  return Status::Corruption(message);
}

std::array<std::byte, kFrameHeaderSize> EncodeFrameHeader(FrameType type, uint8_t flags,
                                                          uint64_t correlation_id,
                                                          size_t body_size) {
  SLUICE_CHECK(body_size <= UINT32_MAX - kFrameHeaderSize, "native frame body too large");
  std::array<std::byte, kFrameHeaderSize> h{};
  EncodeFixed<uint32_t>(&h[kFrameLengthOffset],
                        static_cast<uint32_t>(kFrameHeaderSize + body_size));
  EncodeFixed<uint8_t>(&h[kFrameMagicOffset], kFrameMagic);
  EncodeFixed<uint8_t>(&h[kFrameVersionOffset], kProtocolVersion);
  EncodeFixed<uint8_t>(&h[kFrameTypeOffset], static_cast<uint8_t>(type));
  EncodeFixed<uint8_t>(&h[kFrameFlagsOffset], flags);
  EncodeFixed<uint64_t>(&h[kFrameCorrelationOffset], correlation_id);
  EncodeFixed<uint64_t>(&h[kFrameChecksumOffset],
                        Checksum(std::span<const std::byte>(h.data(), kFrameChecksumOffset)));
  return h;
}

std::string EncodeFrame(FrameType type, uint8_t flags, uint64_t correlation_id,
                        std::string_view body) {
  auto h = EncodeFrameHeader(type, flags, correlation_id, body.size());
  std::string out;
  out.reserve(kFrameHeaderSize + body.size());
  out.append(reinterpret_cast<const char*>(h.data()), h.size());
  out.append(body);
  return out;
}

}  // namespace sluice::broker::native
