// SPDX-License-Identifier: Apache-2.0
// Kinesis shard ids: "shardId-" followed by the ShardId as 12 zero-padded decimal digits
// ("shardId-000000000007"). See /work/shared/reference/kinesis-api.md §6.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "log/base/types.h"

namespace sluice::broker {

inline constexpr std::string_view kShardNamePrefix = "shardId-";
inline constexpr size_t kShardNameDigits = 12;
inline constexpr size_t kShardNameSize = kShardNamePrefix.size() + kShardNameDigits;  // 20

// "shardId-" + 12 zero-padded digits. Every ShardId (uint32) fits in 12 digits.
std::string ShardName(ShardId id);

// Strict inverse of ShardName: exactly "shardId-" + 12 ASCII digits whose value fits a
// ShardId. nullopt for anything else (other lengths, signs, spaces, lower-case prefixes,
// values above 4294967295). Callers word their own error: Kinesis answers an unknown or
// malformed shard id with ResourceNotFoundException "Could not find shard <id> in stream ...".
std::optional<ShardId> ParseShardName(std::string_view name);

}  // namespace sluice::broker
