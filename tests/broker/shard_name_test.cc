// SPDX-License-Identifier: Apache-2.0
// Shard ids: "shardId-" + 12 zero-padded digits, parsed strictly.
#include "broker/shard_name.h"

#include <cstdint>
#include <random>

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

TEST(ShardNameTest, FormatsTwelveZeroPaddedDigits) {
  EXPECT_EQ(ShardName(ShardId(0)), "shardId-000000000000");
  EXPECT_EQ(ShardName(ShardId(7)), "shardId-000000000007");
  EXPECT_EQ(ShardName(ShardId(123456)), "shardId-000000123456");
  EXPECT_EQ(ShardName(ShardId(UINT32_MAX)), "shardId-004294967295");
}

TEST(ShardNameTest, RoundTripsAtMinMaxAndRandom) {
  EXPECT_EQ(ParseShardName(ShardName(ShardId(0))), ShardId(0));
  EXPECT_EQ(ParseShardName(ShardName(ShardId(UINT32_MAX))), ShardId(UINT32_MAX));
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (int i = 0; i < 10000; ++i) {
    const ShardId id(static_cast<uint32_t>(rng()) >> (rng() % 32));
    ASSERT_EQ(ParseShardName(ShardName(id)), id) << "seed " << seed;
  }
}

TEST(ShardNameTest, ParseRejectsAnythingElse) {
  for (std::string_view bad :
       {"", "shardId-", "shardId-0", "shardId-00000000000",  // 11
        "shardId-0000000000000",                             // 13
        "ShardId-000000000000", "shardid-000000000000", "shardId_000000000000",
        "shardId-00000000000a", "shardId--00000000001", "shardId-+00000000001",
        "shardId- 00000000001", " shardId-000000000001",
        "shardId-004294967296",  // 2^32
        "shardId-999999999999", "000000000001"}) {
    EXPECT_FALSE(ParseShardName(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace sluice::broker
