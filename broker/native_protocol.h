// SPDX-License-Identifier: Apache-2.0
// Native protocol messages, part 1: session and stream administration (Hello, Error, Ack,
// CreateStream, DeleteStream, ListStreams, DescribeStream) and the typed frame helpers.
// Record traffic (Produce, Fetch, GetShardIterator, Subscribe) is in native_records.h.
// Body layouts are listed beside each struct as `field encoding`, in wire order (native_wire.h:
// str = varint length + bytes, var = varint, uN = fixed little-endian).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/native_frame.h"
#include "log/base/result.h"

namespace sluice::broker::native {

// Limits enforced on decode (beyond "fits in the frame").
constexpr size_t kMaxNameBytes = 256;      // Stream names, client and server ids, iterators' keys.
constexpr size_t kMaxMessageBytes = 4096;  // Error and per-item messages.
constexpr size_t kMaxHashKeyDigits = 39;   // Decimal 128-bit hash keys.

// Client's first frame: the versions it speaks. Answered by HelloResponse or Error.
struct Hello {  // min_version u8 | max_version u8 | client_id str
  static constexpr FrameType kType = FrameType::kHello;
  uint8_t min_version = kMinProtocolVersion;
  uint8_t max_version = kProtocolVersion;
  std::string client_id;
  bool operator==(const Hello&) const = default;
};
struct HelloResponse {  // version u8 | max_frame_bytes u32 | server_id str
  static constexpr FrameType kType = FrameType::kHelloResponse;
  uint8_t version = kProtocolVersion;  // Chosen: min(client max, server max).
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  std::string server_id;
  bool operator==(const HelloResponse&) const = default;
};
// Answers any request that failed, and any frame the server could not accept.
struct ErrorResponse {  // code u16 | max_version u8 | message str
  static constexpr FrameType kType = FrameType::kError;
  ErrorCode code = ErrorCode::kOk;         // Never kOk on the wire; unknown codes are malformed.
  uint8_t max_version = kProtocolVersion;  // Highest version the sender speaks.
  std::string message;
  bool operator==(const ErrorResponse&) const = default;
};
struct Ack {  // empty body
  static constexpr FrameType kType = FrameType::kAck;
  bool operator==(const Ack&) const = default;
};

struct CreateStreamRequest {  // stream str | shard_count var32 | retention_hours var32
  static constexpr FrameType kType = FrameType::kCreateStream;
  std::string stream;
  uint32_t shard_count = 1;
  uint32_t retention_hours = 24;
  bool operator==(const CreateStreamRequest&) const = default;
};
struct DeleteStreamRequest {  // stream str
  static constexpr FrameType kType = FrameType::kDeleteStream;
  std::string stream;
  bool operator==(const DeleteStreamRequest&) const = default;
};
struct ListStreamsRequest {  // exclusive_start str | limit var32
  static constexpr FrameType kType = FrameType::kListStreams;
  std::string exclusive_start;  // Empty: from the first stream.
  uint32_t limit = 100;
  bool operator==(const ListStreamsRequest&) const = default;
};
struct ListStreamsResponse {  // count var | count × name str | has_more u8
  static constexpr FrameType kType = FrameType::kListStreamsResponse;
  std::vector<std::string> streams;
  bool has_more = false;
  bool operator==(const ListStreamsResponse&) const = default;
};
struct DescribeStreamRequest {  // stream str
  static constexpr FrameType kType = FrameType::kDescribeStream;
  std::string stream;
  bool operator==(const DescribeStreamRequest&) const = default;
};
// shard_id var32 | parents count var + var32 each | start_hash str | end_hash str |
// start_seq str | end_seq str
struct ShardDescription {
  uint32_t shard_id = 0;
  std::vector<uint32_t> parent_shards;  // 0 (original), 1 (split) or 2 (merge).
  std::string starting_hash_key;        // Decimal 128-bit bounds, inclusive.
  std::string ending_hash_key;
  std::string starting_sequence;  // Kinesis-style sequence number strings.
  std::string ending_sequence;    // Empty while the shard is open.
  bool operator==(const ShardDescription&) const = default;
};
enum class StreamStatus : uint8_t { kCreating = 0, kActive = 1, kDeleting = 2, kUpdating = 3 };
// stream str | status u8 | retention_hours var32 | count var | count × ShardDescription
struct DescribeStreamResponse {
  static constexpr FrameType kType = FrameType::kDescribeStreamResponse;
  std::string stream;
  StreamStatus status = StreamStatus::kActive;
  uint32_t retention_hours = 24;
  std::vector<ShardDescription> shards;
  bool operator==(const DescribeStreamResponse&) const = default;
};

// Resharding; each answered by Ack (or Error with the broker's message).
struct SplitShardRequest {  // stream str | shard_id var32 | new_starting_hash_key str
  static constexpr FrameType kType = FrameType::kSplitShard;
  std::string stream;
  uint32_t shard_id = 0;
  std::string new_starting_hash_key;  // Decimal 128-bit value.
  bool operator==(const SplitShardRequest&) const = default;
};
struct MergeShardsRequest {  // stream str | shard_id var32 | adjacent_shard_id var32
  static constexpr FrameType kType = FrameType::kMergeShards;
  std::string stream;
  uint32_t shard_id = 0;
  uint32_t adjacent_shard_id = 0;
  bool operator==(const MergeShardsRequest&) const = default;
};
struct UpdateShardCountRequest {  // stream str | target_shard_count var32
  static constexpr FrameType kType = FrameType::kUpdateShardCount;
  std::string stream;
  uint32_t target_shard_count = 1;
  bool operator==(const UpdateShardCountRequest&) const = default;
};

// EncodeBody gives the body bytes; DecodeBody parses a whole body strictly (Corruption on any
// malformed, truncated or trailing input) into `*out`.
#define SLUICE_NATIVE_BODY_CODEC(M)   \
  std::string EncodeBody(const M& m); \
  Status DecodeBody(std::string_view body, M* out)
SLUICE_NATIVE_BODY_CODEC(Hello);
SLUICE_NATIVE_BODY_CODEC(HelloResponse);
SLUICE_NATIVE_BODY_CODEC(ErrorResponse);
SLUICE_NATIVE_BODY_CODEC(Ack);
SLUICE_NATIVE_BODY_CODEC(CreateStreamRequest);
SLUICE_NATIVE_BODY_CODEC(DeleteStreamRequest);
SLUICE_NATIVE_BODY_CODEC(ListStreamsRequest);
SLUICE_NATIVE_BODY_CODEC(ListStreamsResponse);
SLUICE_NATIVE_BODY_CODEC(DescribeStreamRequest);
SLUICE_NATIVE_BODY_CODEC(DescribeStreamResponse);
SLUICE_NATIVE_BODY_CODEC(SplitShardRequest);
SLUICE_NATIVE_BODY_CODEC(MergeShardsRequest);
SLUICE_NATIVE_BODY_CODEC(UpdateShardCountRequest);

// A whole frame carrying `m`.
template <typename M>
std::string EncodeMessage(const M& m, uint64_t correlation_id, uint8_t flags = 0) {
  return EncodeFrame(M::kType, flags, correlation_id, EncodeBody(m));
}
// The message in `frame`: InvalidArgument when the frame has another type, else DecodeBody.
template <typename M>
Result<M> DecodeMessage(const Frame& frame) {
  if (frame.header.type != M::kType) return Status::InvalidArgument("unexpected frame type");
  M m;
  SLUICE_TRY(DecodeBody(frame.body, &m));
  return m;
}

}  // namespace sluice::broker::native
