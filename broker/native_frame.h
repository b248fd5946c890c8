// SPDX-License-Identifier: Apache-2.0
// THE frame format of Sluice's native binary protocol: frame header, frame types, flags, error
// codes and size limits. Encoder, FrameDecoder, server and client all use these definitions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::broker::native {

// All integers are little-endian. The checksum is XXH3-64 (log/base/checksum.h).
//
//    0         4     5     6     7     8                         16                        24
//    +---------+-----+-----+-----+-----+-------------------------+-------------------------+---
//    | length  |magic| ver |type |flags| correlation_id          | header_checksum         |body
//    +---------+-----+-----+-----+-----+-------------------------+-------------------------+---
//
// `length` counts the whole frame, header included. Bytes [0, 6) keep this layout in every
// protocol version, so a receiver can always delimit a frame and read its version.
//
// Version rule: a server that meets a version it does not speak answers with an Error frame
// (in the highest version it speaks, correlation id 0) of code kUnsupportedVersion whose
// `max_version` is that highest version, then closes. Clients open with Hello and settle on
// min(client max, server max).
//
// Integrity: the header checksum covers bytes [0, 16) and catches desynchronised or garbage
// framing. The body carries no checksum of its own: the record batches inside Produce and
// Fetch carry their own XXH3-64 checksums (log/format.h) and are validated with
// log::RecordBatchView::Parse; the rest rides on TCP's integrity.
constexpr size_t kFrameLengthOffset = 0;       // u32  whole frame in bytes
constexpr size_t kFrameMagicOffset = 4;        // u8   kFrameMagic
constexpr size_t kFrameVersionOffset = 5;      // u8   protocol version
constexpr size_t kFrameTypeOffset = 6;         // u8   FrameType; bit 7 = safe to ignore
constexpr size_t kFrameFlagsOffset = 7;        // u8   kFlag*; other bits must be zero
constexpr size_t kFrameCorrelationOffset = 8;  // u64  echoed by the response(s)
constexpr size_t kFrameChecksumOffset = 16;    // u64  XXH3-64 of bytes [0, 16)
constexpr size_t kFrameHeaderSize = 4 + 1 + 1 + 1 + 1 + 8 + 8;
static_assert(kFrameChecksumOffset + 8 == kFrameHeaderSize);
constexpr size_t kFrameVersionInvariantBytes = kFrameVersionOffset + 1;  // length, magic, ver

constexpr uint8_t kFrameMagic = 0x5C;
constexpr uint8_t kProtocolVersion = 1;  // The highest (and only) version this build speaks.
constexpr uint8_t kMinProtocolVersion = 1;

// Largest body a receiver accepts unless configured otherwise (FrameDecoder).
constexpr size_t kDefaultMaxBodyBytes = 16u << 20;
constexpr size_t kDefaultMaxFrameBytes = kDefaultMaxBodyBytes + kFrameHeaderSize;

// Responses are the request type | kResponseBit. A receiver meeting an unknown type drops the
// frame when kTypeIgnoreIfUnknown is set, and answers kUnknownType when it is not.
constexpr uint8_t kResponseBit = 0x40;
constexpr uint8_t kTypeIgnoreIfUnknown = 0x80;
enum class FrameType : uint8_t {
  kHello = 0x01,
  kCreateStream = 0x02,
  kDeleteStream = 0x03,
  kListStreams = 0x04,
  kDescribeStream = 0x05,
  kProduce = 0x06,
  kFetch = 0x07,
  kGetShardIterator = 0x08,
  kSubscribe = 0x09,
  kSplitShard = 0x0A,
  kMergeShards = 0x0B,
  kUpdateShardCount = 0x0C,
  kHelloResponse = 0x41,
  kListStreamsResponse = 0x44,
  kDescribeStreamResponse = 0x45,
  kProduceResponse = 0x46,
  kFetchResponse = 0x47,  // Also each push of a Subscribe, with kFlagMore until the last.
  kGetShardIteratorResponse = 0x48,
  kAck = 0x60,    // Success without a body: Create/DeleteStream, resharding, Subscribe accepted.
  kError = 0x7F,  // ErrorResponse body; answers any request.
};
bool IsKnownFrameType(uint8_t type);

// Flags. Bits not defined here are reserved and must be zero (else kMalformedFrame).
constexpr uint8_t kFlagMore = 0x01;  // More response frames follow for this correlation id.
constexpr uint8_t kKnownFlags = kFlagMore;

// Error codes on the wire (u16). 0..9 mirror Status::Code one to one; 100+ are protocol errors.
enum class ErrorCode : uint16_t {
  kOk = 0,
  kNotFound = 1,
  kCorruption = 2,
  kTruncated = 3,
  kIOError = 4,
  kNoSpace = 5,
  kInvalidArgument = 6,
  kUnavailable = 7,
  kAborted = 8,
  kNotSupported = 9,
  kMalformedFrame = 100,      // Bad magic, header checksum, flags, length or body encoding.
  kUnsupportedVersion = 101,  // ErrorResponse::max_version says what the server speaks.
  kFrameTooLarge = 102,       // Length prefix above the receiver's limit.
  kUnknownType = 103,         // Must-understand frame type the receiver does not know.
};
bool IsKnownErrorCode(uint16_t code);
ErrorCode ErrorCodeFromStatus(const Status& status);
// The Status for a wire error: Status codes map back; protocol errors become Corruption
// (malformed), NotSupported (version, type) or InvalidArgument (too large).
Status StatusFromError(ErrorCode code, std::string_view message);

struct FrameHeader {
  uint32_t length = kFrameHeaderSize;
  uint8_t version = kProtocolVersion;
  FrameType type = FrameType::kHello;
  uint8_t flags = 0;
  uint64_t correlation_id = 0;
};

// One whole frame: the decoded header and its body bytes.
struct Frame {
  FrameHeader header;
  std::string body;
};

// Encodes a header for a body of `body_size` bytes (length, magic and checksum filled in).
std::array<std::byte, kFrameHeaderSize> EncodeFrameHeader(FrameType type, uint8_t flags,
                                                          uint64_t correlation_id,
                                                          size_t body_size);
// Header + body as one buffer.
std::string EncodeFrame(FrameType type, uint8_t flags, uint64_t correlation_id,
                        std::string_view body);

}  // namespace sluice::broker::native
