// SPDX-License-Identifier: Apache-2.0
// Hash keys: decimal round trips, ExplicitHashKey errors, MD5 routing, even split, split/merge.
#include "broker/hash_key.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

constexpr std::string_view kMax = "340282366920938463463374607431768211455";  // 2^128-1
const ReshardContext kCtx{.stream = "s", .account = "000000000000"};

HashKey Dec(std::string_view text) {
  std::optional<HashKey> k = HashKey::FromDecimal(text);
  EXPECT_TRUE(k.has_value()) << text;
  return k.value_or(HashKey());
}

TEST(HashKeyTest, DecimalRoundTripsAtMinMaxAndRandom) {
  EXPECT_EQ(HashKey::Min().ToString(), "0");
  EXPECT_EQ(HashKey::Max().ToString(), kMax);
  EXPECT_EQ(Dec("0"), HashKey::Min());
  EXPECT_EQ(Dec(kMax), HashKey::Max());
  EXPECT_EQ(Dec("1"), HashKey(1));
  EXPECT_EQ(Dec("18446744073709551616"), HashKey::FromParts(1, 0));  // 2^64
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 10000; ++i) {
    const HashKey k = HashKey::FromParts(rng() >> (rng() % 64), rng() >> (rng() % 64));
    ASSERT_EQ(Dec(k.ToString()), k) << "seed " << seed << " value " << k.ToString();
  }
}

TEST(HashKeyTest, FromDecimalIsStrict) {
  for (std::string_view bad :
       {"", "-1", "+1", "01", "00", " 1", "1 ", "1a", "0x10", "1.0", "1e5",
        "340282366920938463463374607431768211456",  // 2^128
        "999999999999999999999999999999999999999",  // 39 digits, above 2^128-1
        "1000000000000000000000000000000000000000"}) {
    EXPECT_FALSE(HashKey::FromDecimal(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(HashKeyTest, ExplicitHashKeyErrorUsesKinesisMessage) {
  Result<HashKey> r = ParseExplicitHashKey("340282366920938463463374607431768211456");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_EQ(r.status().message(),
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
            "Specified value was 340282366920938463463374607431768211456");
  EXPECT_EQ(*ParseExplicitHashKey("42"), HashKey(42));
}

TEST(HashKeyTest, PartitionKeyMapsToBigEndianMd5) {
  EXPECT_EQ(HashKeyFromPartitionKey(""),
            HashKey::FromParts(0xd41d8cd98f00b204, 0xe9800998ecf8427e));
  EXPECT_EQ(HashKeyFromPartitionKey("").ToString(), "281949768489412648962353822266799178366");
  EXPECT_EQ(HashKeyFromPartitionKey("a"),
            HashKey::FromParts(0x0cc175b9c0f1b6a8, 0x31c399e269772661));
  EXPECT_EQ(HashKeyFromPartitionKey("abc").ToString(), "191415658344158766168031473277922803570");
  EXPECT_EQ(HashKeyFromPartitionKey("\xc3\xbc").ToString(),  // "ü" in UTF-8
            "255482112228542481294366945247899473731");
}

TEST(HashKeyTest, RangeContainsItsEndsOnly) {
  const HashKeyRange r{HashKey(10), HashKey(20)};
  EXPECT_FALSE(r.Contains(HashKey(9)));
  EXPECT_TRUE(r.Contains(HashKey(10)));
  EXPECT_TRUE(r.Contains(HashKey(20)));
  EXPECT_FALSE(r.Contains(HashKey(21)));
}

TEST(HashKeyTest, EvenSplitMatchesKinesaliteForThreeShards) {
  const std::vector<HashKeyRange> r = EvenSplit(3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].start.ToString(), "0");
  EXPECT_EQ(r[0].end.ToString(), "113427455640312821154458202477256070484");
  EXPECT_EQ(r[1].start.ToString(), "113427455640312821154458202477256070485");
  EXPECT_EQ(r[2].start.ToString(), "226854911280625642308916404954512140970");
  EXPECT_EQ(r[2].end.ToString(), kMax);
}

TEST(HashKeyTest, EvenSplitOfPowersOfTwoIsExact) {
  EXPECT_EQ(EvenSplit(1), (std::vector<HashKeyRange>{{HashKey::Min(), HashKey::Max()}}));
  const std::vector<HashKeyRange> two = EvenSplit(2);
  EXPECT_EQ(two[0].end, HashKey::FromParts(0x7fffffffffffffff, ~uint64_t{0}));
  EXPECT_EQ(two[1].start, HashKey::FromParts(0x8000000000000000, 0));
  const std::vector<HashKeyRange> four = EvenSplit(4);
  EXPECT_EQ(four[3].start, HashKey::FromParts(0xc000000000000000, 0));
}

TEST(HashKeyTest, EvenSplitCoversTheSpaceWithoutGaps) {
  for (uint32_t n : {1u, 2u, 3u, 5u, 7u, 8u, 10u, 33u, 64u, 100u, 1000u, 10000u}) {
    const std::vector<HashKeyRange> r = EvenSplit(n);
    ASSERT_EQ(r.size(), n);
    EXPECT_EQ(r.front().start, HashKey::Min()) << n;
    EXPECT_EQ(r.back().end, HashKey::Max()) << n;
    for (uint32_t i = 0; i + 1 < n; ++i) {
      ASSERT_LE(r[i].start, r[i].end) << n;
      ASSERT_EQ(r[i].end.value() + 1, r[i + 1].start.value()) << n << " shard " << i;
    }
  }
}

TEST(HashKeyTest, SplitNeedsKeyAboveStartPlusOneAndBelowEnd) {
  const HashKeyRange parent{HashKey(100), HashKey(200)};
  EXPECT_FALSE(SplitHashKeyRange(parent, HashKey(100), "shardId-000000000000", kCtx).ok());
  EXPECT_FALSE(SplitHashKeyRange(parent, HashKey(101), "shardId-000000000000", kCtx).ok());
  EXPECT_FALSE(SplitHashKeyRange(parent, HashKey(200), "shardId-000000000000", kCtx).ok());
  EXPECT_FALSE(SplitHashKeyRange(parent, HashKey(5), "shardId-000000000000", kCtx).ok());
  auto low = SplitHashKeyRange(parent, HashKey(102), "shardId-000000000000", kCtx);
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low->first, (HashKeyRange{HashKey(100), HashKey(101)}));
  EXPECT_EQ(low->second, (HashKeyRange{HashKey(102), HashKey(200)}));
  auto high = SplitHashKeyRange(parent, HashKey(199), "shardId-000000000000", kCtx);
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->second, (HashKeyRange{HashKey(199), HashKey(200)}));
}

TEST(HashKeyTest, SplitErrorUsesKinesisMessage) {
  const HashKeyRange parent{HashKey(0), HashKey(10)};
  Result<std::pair<HashKeyRange, HashKeyRange>> r =
      SplitHashKeyRange(parent, HashKey(1), "shardId-000000000001", kCtx);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_EQ(r.status().message(),
            "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000001 in stream s "
            "under account 000000000000 is not both greater than one plus the shard's "
            "StartingHashKey 0 and less than the shard's EndingHashKey 10.");
}

TEST(HashKeyTest, SplitAtTheTopOfTheSpaceDoesNotOverflow) {
  const HashKeyRange top{HashKey::Max(), HashKey::Max()};
  EXPECT_FALSE(SplitHashKeyRange(top, HashKey::Max(), "shardId-000000000000", kCtx).ok());
  const HashKeyRange whole{HashKey::Min(), HashKey::Max()};
  auto r = SplitHashKeyRange(whole, HashKey(HashKey::Max().value() - 1), "x", kCtx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->second.end, HashKey::Max());
}

TEST(HashKeyTest, MergeAcceptsAdjacentRangesInEitherOrder) {
  const HashKeyRange a{HashKey(0), HashKey(9)};
  const HashKeyRange b{HashKey(10), HashKey::Max()};
  EXPECT_EQ(*MergeHashKeyRanges(a, "a", b, "b", kCtx), (HashKeyRange{HashKey(0), HashKey::Max()}));
  EXPECT_EQ(*MergeHashKeyRanges(b, "b", a, "a", kCtx), (HashKeyRange{HashKey(0), HashKey::Max()}));
}

TEST(HashKeyTest, MergeRejectsGapsOverlapsAndItself) {
  const HashKeyRange a{HashKey(0), HashKey(9)};
  EXPECT_FALSE(MergeHashKeyRanges(a, "a", {HashKey(11), HashKey(20)}, "b", kCtx).ok());
  EXPECT_FALSE(MergeHashKeyRanges(a, "a", {HashKey(9), HashKey(20)}, "b", kCtx).ok());
  EXPECT_FALSE(MergeHashKeyRanges(a, "a", a, "a", kCtx).ok());
  const HashKeyRange top{HashKey::Max(), HashKey::Max()};
  EXPECT_FALSE(MergeHashKeyRanges(top, "a", top, "b", kCtx).ok());
  Result<HashKeyRange> r = MergeHashKeyRanges(a, "shardId-000000000000", {HashKey(20), HashKey(30)},
                                              "shardId-000000000002", kCtx);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_EQ(r.status().message(),
            "Shards shardId-000000000000 and shardId-000000000002 in stream s under account "
            "000000000000 are not an adjacent pair of shards eligible for merging");
}

}  // namespace
}  // namespace sluice::broker
