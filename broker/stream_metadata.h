// SPDX-License-Identifier: Apache-2.0
// StreamMetadata: the persisted description of one stream (shards, hash-key ranges, lineage,
// retention, tags, encryption, mode), and its versioned, checksummed binary image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/hash_key.h"
#include "broker/sequence_number.h"
#include "log/base/result.h"
#include "log/base/types.h"

namespace sluice::broker {

enum class StreamStatus : uint8_t { kCreating = 0, kActive = 1, kUpdating = 2, kDeleting = 3 };
enum class StreamMode : uint8_t { kProvisioned = 0, kOnDemand = 1 };
// Kinesis spellings: "CREATING".."DELETING", "PROVISIONED" / "ON_DEMAND". Parse is exact.
std::string_view StreamStatusName(StreamStatus status);
std::optional<StreamStatus> ParseStreamStatus(std::string_view name);
std::string_view StreamModeName(StreamMode mode);
std::optional<StreamMode> ParseStreamMode(std::string_view name);

inline constexpr int32_t kDefaultRetentionHours = 24;
inline constexpr int32_t kMinRetentionHours = 24;
inline constexpr int32_t kMaxRetentionHours = 8760;
inline constexpr bool ValidRetentionHours(int32_t h) {
  return h >= kMinRetentionHours && h <= kMaxRetentionHours;
}

struct ShardMetadata {
  ShardId id;
  HashKeyRange range;
  std::optional<ShardId> parent;           // Split or merge source (Kinesis ParentShardId).
  std::optional<ShardId> adjacent_parent;  // Second merge source (AdjacentParentShardId).
  ShardGeneration generation;              // 0 for CreateStream shards; see sequence_number.h.
  SequenceNumber starting_offset{0};       // First offset of the shard log.
  // Set when the shard is closed (split or merged): the exclusive end of its log, i.e. the
  // offset its next record would have had. Open shards accept writes; closed ones only reads.
  std::optional<SequenceNumber> ending_offset;

  bool open() const { return !ending_offset.has_value(); }
  bool operator==(const ShardMetadata&) const = default;
};

// Plain value; copy freely. Not validated on construction: Decode checks only what the
// format can express (enum values, flags, start <= end); API rules live in the broker.
struct StreamMetadata {
  std::string name;  // Kinesis StreamName: 1-128 of [a-zA-Z0-9_.-] (checked by the API).
  StreamId id;       // Unique for the life of a MetadataStore; names files and logs.
  TimestampMs creation_time_ms = 0;
  int32_t retention_hours = kDefaultRetentionHours;
  StreamStatus status = StreamStatus::kCreating;
  StreamMode mode = StreamMode::kProvisioned;
  std::vector<ShardMetadata> shards;  // Ascending ShardId; closed shards stay until expiry.
  ShardId next_shard_id;              // The id the next created shard gets.
  std::map<std::string, std::string> tags;
  std::string encryption_type = "NONE";  // "NONE" or "KMS".
  std::string key_id;                    // KMS key id; empty with "NONE".

  // nullptr when absent. The pointer is valid until `shards` changes.
  const ShardMetadata* FindShard(ShardId shard) const;
  ShardMetadata* FindShard(ShardId shard);
  bool operator==(const StreamMetadata&) const = default;
};

// A CREATING stream of `shard_count` (>= 1) open generation-0 shards with EvenSplit ranges.
StreamMetadata NewStreamMetadata(std::string name, StreamId id, uint32_t shard_count,
                                 TimestampMs now_ms);

// Every metadata image (one stream here, the whole store in metadata_store.h) is framed:
//
//   +-----------+-------------+------------+--------------------+-------------+
//   | magic (4) | version (2) | length (4) | payload (length)   | xxh3-64 (8) |
//   +-----------+-------------+------------+--------------------+-------------+
//
// Little-endian; the XXH3-64 covers magic through payload. Payloads use LEB128 varints for
// counts and string lengths and fixed little-endian integers otherwise (log/base/coding.h).
inline constexpr size_t kFrameHeaderSize = 4 /* magic */ + 2 /* version */ + 4 /* length */;
inline constexpr size_t kFrameTrailerSize = 8;  // XXH3-64 checksum.
inline constexpr size_t kFrameOverhead = kFrameHeaderSize + kFrameTrailerSize;
static_assert(kFrameOverhead == 18);

std::string FrameImage(uint32_t magic, uint16_t version, std::string_view payload);
// The payload of a frame holding exactly `image`. Corruption (naming `what`) on a short image,
// wrong magic, wrong length or checksum mismatch; NotSupported for a correctly checksummed
// frame whose version is not `version` (written by a newer Sluice).
Result<std::string_view> UnframeImage(std::string_view image, uint32_t magic, uint16_t version,
                                      std::string_view what);

// Stream image: magic "SLSM", version 1. Payload (v1), in order:
//   name(str) id(u64) creation_time_ms(i64) retention_hours(i32) status(u8) mode(u8)
//   next_shard_id(u32) encryption_type(str) key_id(str) tags(varint n, n x key(str) value(str))
//   shards(varint n, n x shard); str = varint length + bytes; shard =
//   id(u32) start(u64 hi, u64 lo) end(u64 hi, u64 lo) flags(u8: 1 parent, 2 adjacent parent,
//   4 closed) [parent(u32)] [adjacent(u32)] generation(u32) starting_offset(u64)
//   [ending_offset(u64) when closed].
inline constexpr uint32_t kStreamImageMagic = 0x4D534C53;  // "SLSM" in file byte order.
inline constexpr uint16_t kStreamImageVersion = 1;

std::string EncodeStreamMetadata(const StreamMetadata& meta);
// Corruption with a clear message on any damage: frame errors, truncated or trailing payload
// bytes, unknown enum values or flags, a range with start > end.
Result<StreamMetadata> DecodeStreamMetadata(std::string_view image);

}  // namespace sluice::broker
