// SPDX-License-Identifier: Apache-2.0
#include "broker/sequence_number.h"

#include <algorithm>
#include <limits>

#include "log/base/check.h"

namespace sluice::broker {

namespace {

constexpr size_t kGenerationPos = 1;
constexpr size_t kShardIdPos = kGenerationPos + kGenerationDigits;
constexpr size_t kReservedPos = kShardIdPos + kShardIdDigits;
constexpr size_t kOffsetPos = kReservedPos + kReservedDigits;
static_assert(kOffsetPos + kOffsetDigits == kSequenceNumberDigits);

// The longest client sequence number Kinesis accepts: `[1-9]\d{0,128}`.
constexpr size_t kMaxClientDigits = 129;

// Writes `v` right-aligned into out[pos, pos + width), which must already hold '0's.
void PutDigits(std::string* out, size_t pos, size_t width, uint64_t v) {
  for (size_t i = pos + width; v != 0; v /= 10) {
    SLUICE_CHECK(i > pos, "sequence number field overflow");
    (*out)[--i] = static_cast<char>('0' + v % 10);
  }
}

// Reads `digits` (ASCII digits only) as a number; nullopt when above `max`.
std::optional<uint64_t> GetDigits(std::string_view digits, uint64_t max) {
  uint64_t v = 0;
  for (char c : digits) {
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status Invalid(std::string_view text, std::string_view reason) {
  std::string msg = "Invalid sequence number ";
  msg.append(text.substr(0, kMaxClientDigits + 1));  // Bounded: clients send anything.
  if (text.size() > kMaxClientDigits + 1) msg.append("...");
  msg.append(": ").append(reason);
  return Status::InvalidArgument(msg);
}

}  // namespace

ShardGeneration ChildGeneration(ShardGeneration parent,
                                std::optional<ShardGeneration> adjacent_parent) {
  const ShardGeneration top = std::max(parent, adjacent_parent.value_or(parent));
  SLUICE_CHECK(top < kMaxShardGeneration, "shard generation exhausted");
  return top.Next();
}

std::string FormatSequenceNumber(const SequenceNumberParts& parts) {
  SLUICE_CHECK(parts.generation <= kMaxShardGeneration, "shard generation above 999999");
  std::string out(kSequenceNumberDigits, '0');
  out[0] = kSequenceNumberLeadDigit;
  PutDigits(&out, kGenerationPos, kGenerationDigits, parts.generation.value());
  PutDigits(&out, kShardIdPos, kShardIdDigits, parts.shard.value());
  PutDigits(&out, kOffsetPos, kOffsetDigits, parts.offset.value());
  return out;
}

Result<SequenceNumberParts> ParseSequenceNumber(std::string_view text) {
  if (text.size() != kSequenceNumberDigits) return Invalid(text, "not 56 digits");
  if (!AllDigits(text)) return Invalid(text, "not a decimal number");
  if (text[0] != kSequenceNumberLeadDigit) return Invalid(text, "unknown layout digit");
  const std::string_view reserved = text.substr(kReservedPos, kReservedDigits);
  if (reserved.find_first_not_of('0') != std::string_view::npos) {
    return Invalid(text, "reserved digits are not zero");
  }
  // Six digits never exceed kMaxShardGeneration.
  const auto generation =
      GetDigits(text.substr(kGenerationPos, kGenerationDigits), kMaxShardGeneration.value());
  const auto shard = GetDigits(text.substr(kShardIdPos, kShardIdDigits),
                               std::numeric_limits<ShardId::rep_type>::max());
  if (!shard) return Invalid(text, "shard id out of range");
  const auto offset = GetDigits(text.substr(kOffsetPos, kOffsetDigits),
                                std::numeric_limits<SequenceNumber::rep_type>::max());
  if (!offset) return Invalid(text, "offset out of range");
  return SequenceNumberParts{ShardGeneration(static_cast<uint32_t>(*generation)),
                             ShardId(static_cast<uint32_t>(*shard)), SequenceNumber(*offset)};
}

Result<std::optional<SequenceNumberParts>> ParseClientSequenceNumber(std::string_view text) {
  if (text.empty() || text.size() > kMaxClientDigits || !AllDigits(text) ||
      (text.size() > 1 && text[0] == '0')) {
    return Invalid(text, "must match 0|([1-9]\\d{0,128})");
  }
  Result<SequenceNumberParts> ours = ParseSequenceNumber(text);
  if (!ours.ok()) return std::optional<SequenceNumberParts>();
  return std::optional<SequenceNumberParts>(*ours);
}

std::strong_ordering CompareSequenceNumbers(std::string_view a, std::string_view b) {
  a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
  b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
  if (a.size() != b.size()) return a.size() <=> b.size();
  const int c = a.compare(b);
  return c < 0 ? std::strong_ordering::less
               : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
}

}  // namespace sluice::broker
