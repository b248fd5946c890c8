// SPDX-License-Identifier: Apache-2.0
#include "broker/shard_name.h"

#include <cstdint>
#include <limits>

namespace sluice::broker {

std::string ShardName(ShardId id) {
  std::string out(kShardNameSize, '0');
  out.replace(0, kShardNamePrefix.size(), kShardNamePrefix);
  uint32_t v = id.value();
  for (size_t i = kShardNameSize; v != 0; v /= 10) out[--i] = static_cast<char>('0' + v % 10);
  return out;
}

std::optional<ShardId> ParseShardName(std::string_view name) {
  if (name.size() != kShardNameSize || !name.starts_with(kShardNamePrefix)) return std::nullopt;
  uint64_t v = 0;  // 12 digits cannot overflow 64 bits.
  for (char c : name.substr(kShardNamePrefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return ShardId(static_cast<uint32_t>(v));
}

}  // namespace sluice::broker
