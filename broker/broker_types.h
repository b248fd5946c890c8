// SPDX-License-Identifier: Apache-2.0
// The Broker's limits, options, and request and result types (broker.h has the Broker itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/hash_key.h"
#include "broker/shard_iterator.h"
#include "broker/stream_metadata.h"
#include "log/base/clock.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/log_options.h"

namespace sluice::broker {

inline constexpr size_t kDefaultMaxRecordBytes = 1u << 20;  // Kinesis' classic 1 MiB.
inline constexpr size_t kMaxMaxRecordBytes = 10u << 20;     // MaxRecordSizeInKiB <= 10240.
inline constexpr size_t kMaxPartitionKeyLength = 256;
inline constexpr size_t kMaxPutRecordsEntries = 500;
inline constexpr uint32_t kMaxShardsPerStream = 10'000;
inline constexpr size_t kMaxGetRecordsLimit = 10'000;
inline constexpr size_t kMaxGetRecordsBytes = 10u << 20;

struct BrokerOptions {
  // Defaults for every shard log. The broker overrides: clock (= `clock`), log_append_time
  // (= true: ApproximateArrivalTimestamp is the append time) and retention_ms (= the stream's
  // retention hours).
  log::LogOptions log;
  Clock* clock = Clock::System();  // Must outlive the broker.
  std::string region = "us-east-1";
  std::string account = "000000000000";  // 12 digits, for ARNs and error messages.
  // At least kIteratorSecretBytes bytes. A new secret per process invalidates older tokens.
  std::string iterator_secret = IteratorCodec::NewSecret();
  // How long an iterator stays valid: Kinesis's 5 minutes. Tests shorten it.
  int64_t iterator_ttl_ms = kIteratorTtlMs;
  size_t max_record_bytes = kDefaultMaxRecordBytes;  // Data size limit, 1..kMaxMaxRecordBytes.
};

struct StreamSummary {
  std::string name;
  std::string arn;
  StreamStatus status = StreamStatus::kActive;
  StreamMode mode = StreamMode::kProvisioned;
  TimestampMs creation_time_ms = 0;
};

struct ShardDescription {
  ShardMetadata meta;
  std::string shard_id;                               // "shardId-000000000000"
  std::string starting_sequence_number;               // Of meta.starting_offset.
  std::optional<std::string> ending_sequence_number;  // Closed shards only.
};

struct StreamDescription {
  StreamMetadata meta;
  std::string arn;
  std::vector<ShardDescription> shards;  // Ascending ShardId, closed ones included.
};

struct PutRecordResult {
  std::string shard_id;
  std::string sequence_number;
};

// One PutRecords entry; the views are borrowed for the duration of the call.
struct PutRecordsEntry {
  std::string_view partition_key;
  std::string_view data;
  std::optional<std::string_view> explicit_hash_key;
};

// Either status is OK and shard_id/sequence_number are set, or it carries the entry's error
// (InvalidArgument for validation; IOError/NoSpace/Aborted from the shard log).
struct PutRecordsEntryResult {
  Status status;
  std::string shard_id;
  std::string sequence_number;
};

struct PutRecordsResult {
  std::vector<PutRecordsEntryResult> records;  // Request order and length.
  size_t failed_record_count = 0;
};

struct GetRecordsRecord {
  std::string sequence_number;
  std::string partition_key;
  std::string data;
  TimestampMs arrival_ms = 0;  // ApproximateArrivalTimestamp.
};

// One child of a closed shard, as GetRecords reports it (Kinesis ChildShard).
struct ChildShard {
  std::string shard_id;
  std::vector<std::string> parent_shards;  // ParentShardId, then AdjacentParentShardId if any.
  HashKeyRange hash_key_range;
  bool operator==(const ChildShard&) const = default;
};

struct GetRecordsResult {
  std::vector<GetRecordsRecord> records;
  // Absent once a closed shard is read to its end.
  std::optional<std::string> next_shard_iterator;
  // Set exactly when next_shard_iterator is absent: the shards that continue this one's hash
  // keys, ascending ShardId.
  std::vector<ChildShard> child_shards;
  // 0 when the response reaches the shard's visible end; otherwise now minus the arrival time
  // of the last record returned (clamped to >= 0): how old the data the reader has reached is.
  int64_t millis_behind_latest = 0;
};

enum class ScalingType : uint8_t { kUniformScaling };

struct UpdateShardCountResult {
  uint32_t current_shard_count = 0;  // Open shards before the call.
  uint32_t target_shard_count = 0;
};

}  // namespace sluice::broker
