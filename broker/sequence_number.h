// SPDX-License-Identifier: Apache-2.0
// Kinesis-style sequence numbers: the 56-digit decimal strings the broker hands to clients,
// built from (shard generation, ShardId, log offset). See kinesis-api.md §6.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "log/base/result.h"
#include "log/base/types.h"

namespace sluice::broker {

// Layout: every sequence number Sluice issues has exactly 56 decimal digits.
//
//   digit  0    1 ........ 6   7 ............ 18   19 ............ 35   36 ............. 55
//        +---+---------------+-------------------+--------------------+--------------------+
//        | 4 | generation(6) |   shard id (12)   | reserved zeros(17) |    offset (20)     |
//        +---+---------------+-------------------+--------------------+--------------------+
//
// Fields are zero-padded, so comparing two of our strings (same length) as big integers
// compares (generation, shard id, offset) lexicographically. Hence:
//  * within a shard, sequence numbers increase strictly with the log offset;
//  * a child shard (split or merge) gets generation max(parent generations) + 1, so each of
//    its sequence numbers exceeds each of its parents', as Kinesis promises for resharding.
// The leading "4" keeps the width fixed at 56 digits (real Kinesis numbers start with 4 too)
// and leaves room to change the layout with another leading digit. The 17 reserved digits
// must be zero; they may later carry a timestamp or epoch.
inline constexpr size_t kSequenceNumberDigits = 56;
inline constexpr char kSequenceNumberLeadDigit = '4';
inline constexpr size_t kGenerationDigits = 6;
inline constexpr size_t kShardIdDigits = 12;
inline constexpr size_t kReservedDigits = 17;
inline constexpr size_t kOffsetDigits = 20;
static_assert(1 + kGenerationDigits + kShardIdDigits + kReservedDigits + kOffsetDigits ==
              kSequenceNumberDigits);

// How many reshardings separate a shard from the stream's original shards (which have 0).
using ShardGeneration = StrongId<struct ShardGenerationTag, uint32_t>;
inline constexpr ShardGeneration kMaxShardGeneration{999'999};  // Fits 6 digits.

// The child of a split (one parent) or merge (two parents): max(parent generations) + 1.
// Aborts when that would exceed kMaxShardGeneration (a million reshardings of one lineage).
ShardGeneration ChildGeneration(ShardGeneration parent,
                                std::optional<ShardGeneration> adjacent_parent = std::nullopt);

// What a sequence number of ours encodes. `offset` is the record's position in its shard log.
struct SequenceNumberParts {
  ShardGeneration generation;
  ShardId shard;
  SequenceNumber offset;
  bool operator==(const SequenceNumberParts&) const = default;
};

// The 56-digit string. Aborts if generation > kMaxShardGeneration (a broken invariant: the
// broker never creates such a shard). ShardId and offset always fit.
std::string FormatSequenceNumber(const SequenceNumberParts& parts);

// Strict inverse of FormatSequenceNumber: exactly 56 digits, leading "4", reserved digits
// zero, shard id <= 2^32-1, offset <= 2^64-1. Anything else fails with InvalidArgument whose
// message names the value and the reason.
Result<SequenceNumberParts> ParseSequenceNumber(std::string_view text);

// A sequence number from a client (StartingSequenceNumber, SequenceNumberForOrdering,
// ExclusiveStartSequenceNumber...). Kinesis accepts `0|([1-9]\d{0,128})`; text outside that
// grammar fails with InvalidArgument naming the value. Otherwise the result says whether it is
// one of ours (and for which shard, generation and offset) or merely well-formed (nullopt).
Result<std::optional<SequenceNumberParts>> ParseClientSequenceNumber(std::string_view text);

// Compares two decimal strings as unsigned big integers (leading zeros ignored), as clients
// compare sequence numbers. Precondition: both are non-empty strings of ASCII digits (e.g. they
// passed ParseClientSequenceNumber); other characters give an unspecified order.
std::strong_ordering CompareSequenceNumbers(std::string_view a, std::string_view b);

}  // namespace sluice::broker
