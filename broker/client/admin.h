// SPDX-License-Identifier: Apache-2.0
// Admin: stream administration over a native-protocol Connection (create, delete, list,
// describe, shard iterators, resharding).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/client/connection.h"
#include "broker/native_protocol.h"
#include "broker/native_records.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"

namespace sluice::client {

// A stream as DescribeStream reports it (shards ascending, closed ones included).
using StreamDescription = native::DescribeStreamResponse;
using ShardDescription = native::ShardDescription;
using StartingPosition = native::StartingPosition;

// Thread-safe as its Connection is; holds no state of its own. Errors are the server's
// (native::StatusFromError): NotFound (no such stream or shard), InvalidArgument (validation),
// Aborted (stream in use / already exists), or Unavailable when the connection fails.
class Admin {
 public:
  // `*connection` must outlive the Admin.
  explicit Admin(Connection* connection) : conn_(connection) {}

  Status CreateStream(std::string_view stream, uint32_t shard_count, uint32_t retention_hours = 24);
  Status DeleteStream(std::string_view stream);
  // Every stream name, following the server's pages.
  Result<std::vector<std::string>> ListStreams();
  Result<StreamDescription> DescribeStream(std::string_view stream);
  Result<std::string> GetShardIterator(std::string_view stream, ShardId shard,
                                       const StartingPosition& from);

  // --- Resharding (the broker's rules: broker/broker.h) -----------------------------------
  // Splits open `shard` at `new_starting_hash_key` (decimal) into two children.
  Status SplitShard(std::string_view stream, ShardId shard, std::string_view new_starting_hash_key);
  // Merges two open shards with adjacent hash key ranges into one child.
  Status MergeShards(std::string_view stream, ShardId shard, ShardId adjacent_shard);
  // Reshapes the open shards into `target_shard_count` even ranges (splits, then merges).
  Status UpdateShardCount(std::string_view stream, uint32_t target_shard_count);

 private:
  Status ExpectAck(native::FrameType type, std::string body);

  Connection* const conn_;
};

// True when the shard is closed (it has an ending sequence number).
inline bool IsClosed(const ShardDescription& shard) { return !shard.ending_sequence.empty(); }

}  // namespace sluice::client
