// SPDX-License-Identifier: Apache-2.0
#include "broker/client/shard_router.h"

#include <algorithm>
#include <string>

namespace sluice::client {

Result<ShardRouter> ShardRouter::FromDescription(const StreamDescription& description) {
  ShardRouter router;
  for (const ShardDescription& s : description.shards) {
    if (IsClosed(s)) continue;
    auto start = broker::HashKey::FromDecimal(s.starting_hash_key);
    auto end = broker::HashKey::FromDecimal(s.ending_hash_key);
    if (!start || !end || *end < *start) {
      return Status::Corruption("stream " + description.stream + " shard " +
                                std::to_string(s.shard_id) + " has a bad hash key range");
    }
    router.ranges_.push_back({{*start, *end}, ShardId(s.shard_id)});
  }
  std::sort(router.ranges_.begin(), router.ranges_.end(),
            [](const Range& a, const Range& b) { return a.keys.start < b.keys.start; });
  return router;
}

std::optional<ShardId> ShardRouter::Route(broker::HashKey key) const {
  // The last range starting at or below `key`.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), key,
                             [](broker::HashKey k, const Range& r) { return k < r.keys.start; });
  if (it == ranges_.begin()) return std::nullopt;
  --it;
  if (!it->keys.Contains(key)) return std::nullopt;
  return it->shard;
}

Result<ShardId> ShardRouter::Route(std::string_view partition_key,
                                   std::optional<std::string_view> explicit_hash_key) const {
  broker::HashKey key;
  if (explicit_hash_key) {
    SLUICE_ASSIGN_OR_RETURN(key, broker::ParseExplicitHashKey(*explicit_hash_key));
  } else {
    key = broker::HashKeyFromPartitionKey(partition_key);
  }
  auto shard = Route(key);
  if (!shard) return Status::Unavailable("no open shard owns hash key " + key.ToString());
  return *shard;
}

bool ShardRouter::IsOpen(ShardId shard) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [shard](const Range& r) { return r.shard == shard; });
}

}  // namespace sluice::client
