// SPDX-License-Identifier: Apache-2.0
// Sequence numbers: the 56-digit layout, round trips, ordering within and across generations,
// strict parsing, the client grammar, and big-integer comparison.
#include "broker/sequence_number.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

SequenceNumberParts Parts(uint32_t gen, uint32_t shard, uint64_t offset) {
  return {ShardGeneration(gen), ShardId(shard), SequenceNumber(offset)};
}

TEST(SequenceNumberTest, LayoutPlacesEachFieldInItsDigits) {
  EXPECT_EQ(FormatSequenceNumber(Parts(0, 0, 0)), "4" + std::string(55, '0'));
  EXPECT_EQ(FormatSequenceNumber(Parts(3, 7, 42)),
            "4"
            "000003"
            "000000000007"
            "00000000000000000"
            "00000000000000000042");
}

TEST(SequenceNumberTest, RoundTripsAtMinMaxAndRandom) {
  for (const SequenceNumberParts& p :
       {Parts(0, 0, 0), Parts(999'999, UINT32_MAX, UINT64_MAX), Parts(1, 1, 1)}) {
    const std::string s = FormatSequenceNumber(p);
    EXPECT_EQ(s.size(), kSequenceNumberDigits);
    EXPECT_EQ(*ParseSequenceNumber(s), p) << s;
  }
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 10000; ++i) {
    const SequenceNumberParts p = Parts(static_cast<uint32_t>(rng() % 1'000'000),
                                        static_cast<uint32_t>(rng()), rng() >> (rng() % 64));
    const std::string s = FormatSequenceNumber(p);
    ASSERT_EQ(s.size(), kSequenceNumberDigits) << "seed " << seed;
    Result<SequenceNumberParts> back = ParseSequenceNumber(s);
    ASSERT_TRUE(back.ok()) << "seed " << seed << ": " << back.status().ToString();
    ASSERT_EQ(*back, p) << "seed " << seed << " " << s;
  }
}

TEST(SequenceNumberTest, IncreasesStrictlyWithTheOffsetWithinAShard) {
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  for (uint64_t offset : {uint64_t{0}, uint64_t{9}, uint64_t{99}, UINT64_MAX - 1, rng() >> 1}) {
    const std::string a = FormatSequenceNumber(Parts(5, 9, offset));
    const std::string b = FormatSequenceNumber(Parts(5, 9, offset + 1));
    EXPECT_EQ(CompareSequenceNumbers(a, b), std::strong_ordering::less) << "seed " << seed;
    EXPECT_LT(a, b);
  }
}

TEST(SequenceNumberTest, EveryChildNumberExceedsEveryParentNumber) {
  // Split: one parent at its highest possible number vs the child's lowest.
  const ShardGeneration child = ChildGeneration(ShardGeneration(4));
  EXPECT_EQ(child, ShardGeneration(5));
  EXPECT_EQ(CompareSequenceNumbers(FormatSequenceNumber({ShardGeneration(4), ShardId(UINT32_MAX),
                                                         SequenceNumber(UINT64_MAX)}),
                                   FormatSequenceNumber({child, ShardId(0), SequenceNumber(0)})),
            std::strong_ordering::less);
  // Merge: the child outranks both parents, whatever their generations.
  const ShardGeneration merged = ChildGeneration(ShardGeneration(2), ShardGeneration(7));
  EXPECT_EQ(merged, ShardGeneration(8));
  EXPECT_EQ(ChildGeneration(ShardGeneration(7), ShardGeneration(2)), merged);
  for (uint32_t parent_gen : {2u, 7u}) {
    EXPECT_LT(FormatSequenceNumber(Parts(parent_gen, UINT32_MAX, UINT64_MAX)),
              FormatSequenceNumber({merged, ShardId(0), SequenceNumber(0)}));
  }
}

TEST(SequenceNumberTest, ParseRejectsMalformedValuesNamingThem) {
  const std::string good = FormatSequenceNumber(Parts(1, 2, 3));
  std::string lead = good;
  lead[0] = '5';
  std::string reserved = good;
  reserved[30] = '1';
  std::string letter = good;
  letter[50] = 'x';
  const std::string big_shard = "4000001004294967296" + std::string(17, '0') + std::string(20, '0');
  const std::string big_offset =
      "4000001000000000001" + std::string(17, '0') + "18446744073709551616";
  for (const std::string& bad : {std::string(), good.substr(1), good + "0", lead, reserved, letter,
                                 big_shard, big_offset, std::string("-") + good.substr(1)}) {
    Result<SequenceNumberParts> r = ParseSequenceNumber(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_NE(r.status().message().find(bad), std::string_view::npos) << r.status().ToString();
  }
}

TEST(SequenceNumberTest, ClientGrammarAcceptsKinesisNumbersAndSaysWhetherTheyAreOurs) {
  const SequenceNumberParts p = Parts(2, 11, 12345);
  Result<std::optional<SequenceNumberParts>> ours =
      ParseClientSequenceNumber(FormatSequenceNumber(p));
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(*ours, p);
  for (const std::string& foreign :
       {std::string("0"), std::string("1"), std::string(129, '9'),
        std::string("49590338271490256608559692538361571095921575989136588898")}) {
    Result<std::optional<SequenceNumberParts>> r = ParseClientSequenceNumber(foreign);
    ASSERT_TRUE(r.ok()) << foreign;
    EXPECT_FALSE(r->has_value()) << foreign;
  }
}

TEST(SequenceNumberTest, ClientGrammarRejectsEverythingElse) {
  for (const std::string& bad :
       {std::string(), std::string("01"), std::string("00"), std::string("-1"), std::string("+1"),
        std::string("1 "), std::string("abc"), std::string("1") + std::string(129, '0')}) {
    Result<std::optional<SequenceNumberParts>> r = ParseClientSequenceNumber(bad);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << "'" << bad << "'";
  }
}

TEST(SequenceNumberTest, ComparesAsBigIntegers) {
  EXPECT_EQ(CompareSequenceNumbers("9", "10"), std::strong_ordering::less);
  EXPECT_EQ(CompareSequenceNumbers("10", "9"), std::strong_ordering::greater);
  EXPECT_EQ(CompareSequenceNumbers("123", "123"), std::strong_ordering::equal);
  EXPECT_EQ(CompareSequenceNumbers("0", "0"), std::strong_ordering::equal);
  EXPECT_EQ(CompareSequenceNumbers("007", "7"), std::strong_ordering::equal);
  EXPECT_EQ(CompareSequenceNumbers(std::string(129, '9'), "1" + std::string(128, '0')),
            std::strong_ordering::greater);
  EXPECT_EQ(CompareSequenceNumbers("49590338271490256608559692538361571095921575989136588898",
                                   "49590338271490256608559692538361571095921575989136588899"),
            std::strong_ordering::less);
}

TEST(SequenceNumberDeathTest, GenerationAboveTheLayoutAborts) {
  EXPECT_DEATH((void)FormatSequenceNumber(Parts(1'000'000, 0, 0)), "generation");
  EXPECT_DEATH((void)ChildGeneration(kMaxShardGeneration), "generation");
}

}  // namespace
}  // namespace sluice::broker
