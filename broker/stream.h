// SPDX-License-Identifier: Apache-2.0
// Stream: a snapshot of one stream's metadata together with its open shard objects, and the
// partition-key routing rule (kinesis-api.md §6).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "broker/hash_key.h"
#include "broker/shard.h"
#include "broker/stream_metadata.h"
#include "log/base/result.h"

namespace sluice::broker {

// Immutable after construction: the broker publishes it as shared_ptr<const Stream> and a
// metadata change (resharding, later) publishes a new Stream that shares the Shard objects.
// Thread-safe. Shards are shared so that a request holding a snapshot keeps them alive while
// DeleteStream closes them.
class Stream {
 public:
  using ShardMap = std::map<ShardId, std::shared_ptr<Shard>>;

  Stream(StreamMetadata meta, ShardMap shards)
      : meta_(std::move(meta)), shards_(std::move(shards)) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  const StreamMetadata& meta() const { return meta_; }
  const ShardMap& shards() const { return shards_; }
  // nullptr when the stream has no such shard.
  Shard* FindShard(ShardId id) const;

  // The open shard whose hash-key range contains `key`. Open shards' ranges partition the key
  // space, so this finds exactly one; NotFound only if the metadata is inconsistent.
  Result<Shard*> Route(HashKey key) const;

 private:
  const StreamMetadata meta_;
  const ShardMap shards_;
};

}  // namespace sluice::broker
