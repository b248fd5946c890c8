// SPDX-License-Identifier: Apache-2.0
// Native protocol messages, part 2: record traffic. Produce carries client-built record batches
// in the on-disk format (log/format.h) and Fetch returns stored batches as they are, so the
// batch checksums protect the payload end to end. Layout notation as in native_protocol.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/native_protocol.h"

namespace sluice::broker::native {

// Where Produce sends its batches: kind u8, then kShardId: shard_id var32;
// kPartitionKey: partition_key str (1..256 bytes) | explicit_hash_key str (empty = MD5 of key).
struct ShardSelector {
  enum class Kind : uint8_t { kShardId = 0, kPartitionKey = 1 };
  Kind kind = Kind::kShardId;
  uint32_t shard_id = 0;
  std::string partition_key;
  std::string explicit_hash_key;  // Decimal 128-bit value, at most 39 digits.
  bool operator==(const ShardSelector&) const = default;
};
struct ProducerStamp {
  uint64_t producer_id = 0;
  uint64_t sequence = 0;
  bool operator==(const ProducerStamp&) const = default;
};

// stream str | ShardSelector | has_producer u8 [producer_id var | sequence var] |
// count var (>= 1) | count × batch str (one whole record batch each)
// Decode validates every batch with log::RecordBatchView::Parse and requires its length field to
// equal the blob size: one corrupt batch makes the whole frame invalid (Corruption).
struct ProduceRequest {
  static constexpr FrameType kType = FrameType::kProduce;
  std::string stream;
  ShardSelector selector;
  std::optional<ProducerStamp> producer;
  std::vector<std::string> batches;
  bool operator==(const ProduceRequest&) const = default;
};
// Per batch, in request order: code u16 | shard_id var32 | first_seq str | last_seq str |
// message str. Sequence strings are empty when code != kOk.
struct ProduceResult {
  ErrorCode code = ErrorCode::kOk;
  uint32_t shard_id = 0;
  std::string first_sequence;
  std::string last_sequence;
  std::string message;
  bool operator==(const ProduceResult&) const = default;
};
struct ProduceResponse {  // count var | count × ProduceResult
  static constexpr FrameType kType = FrameType::kProduceResponse;
  std::vector<ProduceResult> results;
  bool operator==(const ProduceResponse&) const = default;
};

// stream str | shard_id var32 | kind u8 | kIterator: iterator str; kOffset: offset var |
// max_bytes var32 | max_wait_ms var32 (0 = answer at once; else long-poll up to this long)
struct FetchRequest {
  enum class From : uint8_t { kIterator = 0, kOffset = 1 };
  static constexpr FrameType kType = FrameType::kFetch;
  std::string stream;
  uint32_t shard_id = 0;
  From from = From::kIterator;
  std::string iterator;
  uint64_t offset = 0;
  uint32_t max_bytes = 1u << 20;
  uint32_t max_wait_ms = 0;
  bool operator==(const FetchRequest&) const = default;
};
// batches str (zero or more whole stored batches, as stored) | next_iterator str (empty: shard
// closed and drained) | millis_behind_latest var | count var | count × child shard_id var32.
// Decode does not parse the batches; clients call ValidateBatches before using them. Batches
// are never split: the first one may hold records before the requested position (a start at
// or after a sequence number inside a batch); readers skip records below it.
struct FetchResponse {
  static constexpr FrameType kType = FrameType::kFetchResponse;
  std::string batches;
  std::string next_iterator;
  uint64_t millis_behind_latest = 0;
  std::vector<uint32_t> child_shards;
  bool operator==(const FetchResponse&) const = default;
};
// OK when `batches` is a sequence of zero or more whole valid record batches; otherwise the
// first batch's error (Corruption, Truncated or NotSupported from RecordBatchView::Parse).
Status ValidateBatches(std::string_view batches);

// type u8 | sequence str (kAt/AfterSequence) | timestamp_ms zigzag var (kAtTimestamp)
struct StartingPosition {
  enum class Type : uint8_t {
    kTrimHorizon = 0,
    kLatest = 1,
    kAtSequence = 2,
    kAfterSequence = 3,
    kAtTimestamp = 4,
  };
  Type type = Type::kTrimHorizon;
  std::string sequence;
  int64_t timestamp_ms = 0;
  bool operator==(const StartingPosition&) const = default;
};
struct GetShardIteratorRequest {  // stream str | shard_id var32 | StartingPosition
  static constexpr FrameType kType = FrameType::kGetShardIterator;
  std::string stream;
  uint32_t shard_id = 0;
  StartingPosition position;
  bool operator==(const GetShardIteratorRequest&) const = default;
};
struct GetShardIteratorResponse {  // iterator str
  static constexpr FrameType kType = FrameType::kGetShardIteratorResponse;
  std::string iterator;
  bool operator==(const GetShardIteratorResponse&) const = default;
};
// stream str | shard_id var32 | StartingPosition | max_bytes_per_push var32.
// Answered by Ack, then FetchResponse pushes with the same correlation id, each but the last
// flagged kFlagMore.
struct SubscribeRequest {
  static constexpr FrameType kType = FrameType::kSubscribe;
  std::string stream;
  uint32_t shard_id = 0;
  StartingPosition position;
  uint32_t max_bytes_per_push = 1u << 20;
  bool operator==(const SubscribeRequest&) const = default;
};

SLUICE_NATIVE_BODY_CODEC(ProduceRequest);
SLUICE_NATIVE_BODY_CODEC(ProduceResponse);
SLUICE_NATIVE_BODY_CODEC(FetchRequest);
SLUICE_NATIVE_BODY_CODEC(FetchResponse);
SLUICE_NATIVE_BODY_CODEC(GetShardIteratorRequest);
SLUICE_NATIVE_BODY_CODEC(GetShardIteratorResponse);
SLUICE_NATIVE_BODY_CODEC(SubscribeRequest);

}  // namespace sluice::broker::native
