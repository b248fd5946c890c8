// SPDX-License-Identifier: Apache-2.0
// ShardRouter: which open shard of a described stream owns a partition key or hash key, the
// routing Kinesis does with MD5 (broker/hash_key.h), done on the client so that a producer can
// batch per shard.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "broker/client/admin.h"
#include "broker/hash_key.h"
#include "log/base/result.h"
#include "log/base/types.h"

namespace sluice::client {

// Immutable after construction; safe to share between threads.
class ShardRouter {
 public:
  // From a description: its open shards' ranges. Corruption when a hash key does not parse.
  static Result<ShardRouter> FromDescription(const StreamDescription& description);

  // The open shard owning `key`; nullopt when no open shard covers it (a stream mid-change).
  std::optional<ShardId> Route(broker::HashKey key) const;
  // By explicit hash key when given (InvalidArgument when malformed), else MD5(partition key).
  Result<ShardId> Route(std::string_view partition_key,
                        std::optional<std::string_view> explicit_hash_key) const;
  bool IsOpen(ShardId shard) const;
  size_t open_shard_count() const { return ranges_.size(); }

 private:
  struct Range {
    broker::HashKeyRange keys;
    ShardId shard;
  };
  std::vector<Range> ranges_;  // Open shards, ascending start key.
};

}  // namespace sluice::client
