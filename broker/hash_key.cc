// SPDX-License-Identifier: Apache-2.0
#include "broker/hash_key.h"

#include <algorithm>
#include <openssl/evp.h>
#include <string>

#include "log/base/check.h"

namespace sluice::broker {

namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

}  // namespace

std::string HashKey::ToString() const {
  if (v_ == 0) return "0";
  char buf[40];  // 2^128-1 has 39 digits.
  size_t n = 0;
  for (Uint128 v = v_; v != 0; v /= 10)
    buf[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
  std::reverse(buf, buf + n);
  return std::string(buf, n);
}

std::optional<HashKey> HashKey::FromDecimal(std::string_view text) {
  if (text.empty() || text.size() > 39) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  Uint128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<Uint128>(c - '0');
    // v * 10 + digit <= Max  <=>  v <= (Max - digit) / 10.
    if (v > (HashKey::Max().value() - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return HashKey(v);
}

Result<HashKey> ParseExplicitHashKey(std::string_view text) {
  std::optional<HashKey> key = HashKey::FromDecimal(text);
  if (!key) {
    return Status::InvalidArgument(
        Join({"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
              "Specified value was ",
              text}));
  }
  return *key;
}

HashKey HashKeyFromPartitionKey(std::string_view partition_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const int ok =
      EVP_Digest(partition_key.data(), partition_key.size(), digest, &len, EVP_md5(), nullptr);
  SLUICE_CHECK(ok == 1 && len == 16, "OpenSSL MD5 failed");
  Uint128 v = 0;
  for (unsigned int i = 0; i < 16; ++i) v = (v << 8) | digest[i];  // Big-endian.
  return HashKey(v);
}

std::vector<HashKeyRange> EvenSplit(uint32_t n) {
  SLUICE_CHECK(n >= 1, "EvenSplit needs at least one shard");
  // floor(2^128 / n) without 2^128: for n >= 2, (2^128-1)/n differs from it only when n divides
  // 2^128, i.e. n is a power of two; then 2^128/n = ((2^128-1)/n) + 1.
  std::vector<HashKeyRange> out;
  out.reserve(n);
  if (n == 1) {
    out.push_back({HashKey::Min(), HashKey::Max()});
    return out;
  }
  Uint128 step = HashKey::Max().value() / n;
  if ((n & (n - 1)) == 0) step += 1;
  for (uint32_t i = 0; i < n; ++i) {
    const Uint128 start = step * i;
    const Uint128 end = i + 1 == n ? HashKey::Max().value() : step * (i + 1) - 1;
    out.push_back({HashKey(start), HashKey(end)});
  }
  return out;
}

Result<std::pair<HashKeyRange, HashKeyRange>> SplitHashKeyRange(const HashKeyRange& parent,
                                                                HashKey new_start,
                                                                std::string_view shard_id,
                                                                const ReshardContext& ctx) {
  // new_start > start + 1 written so that start + 1 cannot overflow at 2^128-1.
  const bool above_start = new_start > parent.start && new_start.value() - parent.start.value() > 1;
  if (!above_start || new_start >= parent.end) {
    return Status::InvalidArgument(Join(
        {"NewStartingHashKey ", new_start.ToString(), " used in SplitShard() on shard ", shard_id,
         " in stream ", ctx.stream, " under account ", ctx.account,
         " is not both greater than one plus the shard's StartingHashKey ", parent.start.ToString(),
         " and less than the shard's EndingHashKey ", parent.end.ToString(), "."}));
  }
  return std::pair{HashKeyRange{parent.start, HashKey(new_start.value() - 1)},
                   HashKeyRange{new_start, parent.end}};
}

Result<HashKeyRange> MergeHashKeyRanges(const HashKeyRange& shard, std::string_view shard_id,
                                        const HashKeyRange& adjacent, std::string_view adjacent_id,
                                        const ReshardContext& ctx) {
  const HashKeyRange& low = shard.start <= adjacent.start ? shard : adjacent;
  const HashKeyRange& high = shard.start <= adjacent.start ? adjacent : shard;
  // low.end + 1 == high.start, written so that low.end + 1 cannot overflow.
  const bool adjacent_pair = low.end < high.start && high.start.value() - low.end.value() == 1;
  if (!adjacent_pair) {
    return Status::InvalidArgument(Join({"Shards ", shard_id, " and ", adjacent_id, " in stream ",
                                         ctx.stream, " under account ", ctx.account,
                                         " are not an adjacent pair of shards eligible for "
                                         "merging"}));
  }
  return HashKeyRange{low.start, high.end};
}

}  // namespace sluice::broker
