// SPDX-License-Identifier: Apache-2.0
#include "broker/stream.h"

#include <string>

namespace sluice::broker {

Shard* Stream::FindShard(ShardId id) const {
  auto it = shards_.find(id);
  return it == shards_.end() ? nullptr : it->second.get();
}

Result<Shard*> Stream::Route(HashKey key) const {
  for (const ShardMetadata& s : meta_.shards) {
    if (!s.open() || !s.range.Contains(key)) continue;
    if (Shard* shard = FindShard(s.id)) return shard;
  }
  return Status::NotFound("no open shard of stream " + meta_.name + " owns hash key " +
                          key.ToString());
}

}  // namespace sluice::broker
