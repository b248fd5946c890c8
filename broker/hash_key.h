// SPDX-License-Identifier: Apache-2.0
// Kinesis hash keys: unsigned 128-bit numbers written in decimal, the MD5 mapping from partition
// keys, shard hash-key ranges, CreateStream's even split and the split/merge range rules.
// See /work/shared/reference/kinesis-api.md §6.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/base/result.h"

namespace sluice::broker {

// `__extension__` keeps -Wpedantic quiet about the GCC/Clang 128-bit integer.
__extension__ using Uint128 = unsigned __int128;

// A point in the Kinesis hash-key space [0, 2^128-1]. Every value of the type is valid.
class HashKey {
 public:
  constexpr HashKey() = default;
  constexpr explicit HashKey(Uint128 v) : v_(v) {}
  static constexpr HashKey FromParts(uint64_t hi, uint64_t lo) {
    return HashKey((static_cast<Uint128>(hi) << 64) | lo);
  }
  static constexpr HashKey Min() { return HashKey(0); }
  static constexpr HashKey Max() { return HashKey(~Uint128{0}); }

  constexpr Uint128 value() const { return v_; }
  constexpr uint64_t hi() const { return static_cast<uint64_t>(v_ >> 64); }
  constexpr uint64_t lo() const { return static_cast<uint64_t>(v_); }
  constexpr auto operator<=>(const HashKey&) const = default;

  // Canonical decimal: no sign, no leading zeros ("0" for zero), 1..39 digits.
  std::string ToString() const;
  // Strict inverse of ToString: `0|([1-9]\d{0,38})` and at most 2^128-1. nullopt otherwise.
  static std::optional<HashKey> FromDecimal(std::string_view text);

 private:
  Uint128 v_ = 0;
};

// Parses a client's ExplicitHashKey. Any malformed or out-of-range value fails with
// InvalidArgument and Kinesis's message: "Invalid ExplicitHashKey. ExplicitHashKey must be in
// the range: [0, 2^128-1]. Specified value was <text>".
Result<HashKey> ParseExplicitHashKey(std::string_view text);

// MD5 of the key's bytes (UTF-8 as given), read as a big-endian 128-bit number: the hash key
// Kinesis routes a record by. MD5("") = d41d8cd98f00b204e9800998ecf8427e.
HashKey HashKeyFromPartitionKey(std::string_view partition_key);

// An inclusive range [start, end] of hash keys owned by one shard. start <= end.
struct HashKeyRange {
  HashKey start;
  HashKey end;

  bool Contains(HashKey key) const { return start <= key && key <= end; }
  bool operator==(const HashKeyRange&) const = default;
};

// The ranges CreateStream gives `n` shards (n >= 1; aborts on 0), as Kinesis and kinesalite:
// shard i = [floor(2^128/n)*i, floor(2^128/n)*(i+1)-1], the last ending at 2^128-1.
std::vector<HashKeyRange> EvenSplit(uint32_t n);

// Names Kinesis puts in resharding error messages. Borrowed for the duration of the call.
struct ReshardContext {
  std::string_view stream;
  std::string_view account;
};

// SplitShard's range rule: new_start must be > parent.start + 1 and < parent.end. Returns the
// two children, [parent.start, new_start-1] and [new_start, parent.end], or InvalidArgument
// with Kinesis's message ("NewStartingHashKey <k> used in SplitShard() on shard <id> in stream
// <s> under account <a> is not both greater than one plus the shard's StartingHashKey <start>
// and less than the shard's EndingHashKey <end>.").
Result<std::pair<HashKeyRange, HashKeyRange>> SplitHashKeyRange(const HashKeyRange& parent,
                                                                HashKey new_start,
                                                                std::string_view shard_id,
                                                                const ReshardContext& ctx);

// MergeShards' adjacency rule: the union of the two ranges must be contiguous without overlap
// (either order). Returns the merged range, or InvalidArgument with Kinesis's message ("Shards
// <a> and <b> in stream <s> under account <acct> are not an adjacent pair of shards eligible
// for merging").
Result<HashKeyRange> MergeHashKeyRanges(const HashKeyRange& shard, std::string_view shard_id,
                                        const HashKeyRange& adjacent, std::string_view adjacent_id,
                                        const ReshardContext& ctx);

}  // namespace sluice::broker
