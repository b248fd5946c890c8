// SPDX-License-Identifier: Apache-2.0
// Iterator types and IteratorCodec: round trips at min/max/random, a test per kind of damage
// (bit flips, truncation, garbage, foreign secret), expiry at the 300000 ms boundary.
#include "broker/shard_iterator.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/stream_name.h"
#include "log/base/clock.h"

namespace sluice::broker {
namespace {

using iterator_internal::Base64Decode;
using iterator_internal::Base64Encode;
using iterator_internal::FormatKinesisTime;

constexpr TimestampMs kStartMs = 1'700'000'000'000;  // Tue Nov 14 22:13:20 UTC 2023

IteratorPosition MinPosition() { return {"a", ShardId(0), 0, SequenceNumber(0)}; }

IteratorPosition MaxPosition() {
  return {std::string(kMaxStreamNameLength, 'Z'), ShardId(std::numeric_limits<uint32_t>::max()),
          std::numeric_limits<uint64_t>::max(),
          SequenceNumber(std::numeric_limits<uint64_t>::max())};
}

class IteratorCodecTest : public ::testing::Test {
 protected:
  void ExpectInvalid(std::string_view token) {
    const auto r = codec_.Decode(token);
    ASSERT_FALSE(r.ok()) << "accepted: " << token;
    EXPECT_TRUE(IsInvalidIterator(r.status())) << r.status().ToString();
    EXPECT_FALSE(IsExpiredIterator(r.status()));
    EXPECT_EQ(r.status().message(), "Invalid ShardIterator.");
  }
  void ExpectDecodesTo(std::string_view token, const IteratorPosition& want) {
    const auto r = codec_.Decode(token);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, want);
  }

  ManualClock clock_{kStartMs};
  IteratorCodec codec_{std::string(kIteratorSecretBytes, 'k'), &clock_};
};

TEST(IteratorTypeTest, WireNamesRoundTrip) {
  for (IteratorType t :
       {IteratorType::kTrimHorizon, IteratorType::kLatest, IteratorType::kAtSequenceNumber,
        IteratorType::kAfterSequenceNumber, IteratorType::kAtTimestamp}) {
    const auto parsed = ParseIteratorType(IteratorTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_EQ(IteratorTypeName(IteratorType::kTrimHorizon), "TRIM_HORIZON");
  EXPECT_EQ(IteratorTypeName(IteratorType::kLatest), "LATEST");
  EXPECT_EQ(IteratorTypeName(IteratorType::kAtSequenceNumber), "AT_SEQUENCE_NUMBER");
  EXPECT_EQ(IteratorTypeName(IteratorType::kAfterSequenceNumber), "AFTER_SEQUENCE_NUMBER");
  EXPECT_EQ(IteratorTypeName(IteratorType::kAtTimestamp), "AT_TIMESTAMP");
}

TEST(IteratorTypeTest, UnknownNameGetsTheEnumValidationMessage) {
  const auto parsed = ParseIteratorType("latest");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.status().IsInvalidArgument());
  EXPECT_EQ(parsed.status().message(),
            "1 validation error detected: Value 'latest' at 'shardIteratorType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
            "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]");
  EXPECT_FALSE(ParseIteratorType("").ok());
  EXPECT_FALSE(ParseIteratorType("LATEST ").ok());
}

TEST_F(IteratorCodecTest, RoundTripsMinimumFields) {
  ExpectDecodesTo(codec_.Issue(MinPosition()), MinPosition());
}

TEST_F(IteratorCodecTest, RoundTripsMaximumFields) {
  ExpectDecodesTo(codec_.Issue(MaxPosition()), MaxPosition());
}

TEST_F(IteratorCodecTest, RoundTripsRandomPositions) {
  std::mt19937_64 rng(42);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
  for (int i = 0; i < 500; ++i) {
    IteratorPosition pos;
    pos.stream.resize(1 + rng() % kMaxStreamNameLength);
    for (char& c : pos.stream) c = alphabet[rng() % alphabet.size()];
    pos.shard = ShardId(static_cast<uint32_t>(rng()));
    pos.incarnation = rng();
    pos.offset = SequenceNumber(rng());
    ExpectDecodesTo(codec_.Issue(pos), pos);
  }
}

TEST_F(IteratorCodecTest, LongestTokenIsAtMost512StandardBase64Characters) {
  const std::string token = codec_.Issue(MaxPosition());
  EXPECT_LE(token.size(), kMaxIteratorTokenLength);
  EXPECT_EQ(token.size(), 232u);  // 174 bytes.
  for (char c : token) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')
        << c;
  }
}

TEST_F(IteratorCodecTest, TokensIssuedAtDifferentTimesDiffer) {
  const std::string first = codec_.Issue(MinPosition());
  clock_.AdvanceMs(1);
  EXPECT_NE(codec_.Issue(MinPosition()), first);
}

TEST_F(IteratorCodecTest, EveryBitFlipOfPayloadOrSignatureIsInvalid) {
  for (const IteratorPosition& pos : {MinPosition(), MaxPosition()}) {
    const std::optional<std::string> bytes = Base64Decode(codec_.Issue(pos));
    ASSERT_TRUE(bytes.has_value());
    for (size_t bit = 0; bit < bytes->size() * 8; ++bit) {
      std::string damaged = *bytes;
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
      SCOPED_TRACE(bit);
      ExpectInvalid(Base64Encode(damaged));
    }
  }
}

TEST_F(IteratorCodecTest, TruncatedTokensAreInvalid) {
  const std::string token = codec_.Issue(MaxPosition());
  for (size_t len = 0; len < token.size(); ++len) {
    SCOPED_TRACE(len);
    ExpectInvalid(std::string_view(token).substr(0, len));
  }
  const std::string bytes = *Base64Decode(token);
  for (size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    ExpectInvalid(Base64Encode(bytes.substr(0, len)));
  }
}

TEST_F(IteratorCodecTest, ExtendedTokensAreInvalid) {
  const std::string bytes = *Base64Decode(codec_.Issue(MinPosition()));
  ExpectInvalid(Base64Encode(bytes + '\0'));
  ExpectInvalid(Base64Encode(bytes + bytes));
}

TEST_F(IteratorCodecTest, GarbageIsInvalid) {
  const std::string token = codec_.Issue(MinPosition());
  std::vector<std::string> garbage = {
      "",
      "garbage",
      "AAAA",
      "====",
      "!!!!",
      std::string(512, 'A'),
      std::string(513, 'A'),
      std::string(1 << 16, 'A'),
      " " + token,
      token + " ",
      token + "\n",
      token + "=",
      "=" + token,
      token.substr(0, 8) + "\n" + token.substr(8),
      // kinesalite's iterator layout: a version prefix then AES ciphertext.
      "AAAAAAAAAAGOtCR+S3/9eQO3AhmzhZ9SALA2KyafhPdTbmQfhH4FoL+VlqimWeEGt3h4w85pnfr7zV2K6ISQ"
      "qVQBZpu/Tsv7uv0/MA2UnzwPgOsW/X+3jvDmbeJTqHLc2rPqN0U3n9ODUzS0IBjAy0X8JpJCmt8GddJ6/hbT",
  };
  std::mt19937_64 rng(7);
  for (size_t len : {16u, 45u, 46u, 60u, 174u, 200u, 384u}) {
    std::string random(len, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    garbage.push_back(Base64Encode(random));
  }
  for (const std::string& g : garbage) {
    SCOPED_TRACE(g.substr(0, 80));
    ExpectInvalid(g);
  }
}

TEST_F(IteratorCodecTest, UrlSafeAlphabetIsInvalid) {
  // Find a token with '+' or '/' and spell it in the URL-safe alphabet.
  for (uint64_t offset = 0;; ++offset) {
    std::string token = codec_.Issue({"s", ShardId(1), 1, SequenceNumber(offset)});
    if (token.find_first_of("+/") == std::string::npos) continue;
    for (char& c : token) c = c == '+' ? '-' : c == '/' ? '_' : c;
    ExpectInvalid(token);
    return;
  }
}

TEST_F(IteratorCodecTest, TokenFromAnotherSecretIsInvalidNotExpired) {
  IteratorCodec other(IteratorCodec::NewSecret(), &clock_);
  const std::string foreign = other.Issue(MinPosition());
  ExpectInvalid(foreign);
  clock_.AdvanceMs(10 * kIteratorTtlMs);
  ExpectInvalid(foreign);
}

TEST_F(IteratorCodecTest, NewSecretIs32RandomBytes) {
  const std::string a = IteratorCodec::NewSecret();
  const std::string b = IteratorCodec::NewSecret();
  EXPECT_EQ(a.size(), kIteratorSecretBytes);
  EXPECT_NE(a, b);
}

TEST_F(IteratorCodecTest, ValidUntilExactlyTtlAfterIssue) {
  const std::string token = codec_.Issue(MaxPosition());
  clock_.AdvanceMs(299'999);
  ExpectDecodesTo(token, MaxPosition());
  clock_.AdvanceMs(1);  // Exactly 300000 ms: still valid (expiry is "> 300000").
  ExpectDecodesTo(token, MaxPosition());
  clock_.AdvanceMs(1);  // 300001 ms.
  const auto r = codec_.Decode(token);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsExpiredIterator(r.status()));
  EXPECT_FALSE(IsInvalidIterator(r.status()));
  EXPECT_EQ(r.status().code(), Status::Code::kAborted);
}

TEST_F(IteratorCodecTest, ExpiredMessageMatchesKinesis) {
  const std::string token = codec_.Issue(MinPosition());
  clock_.AdvanceMs(300'001);
  const auto r = codec_.Decode(token);
  ASSERT_TRUE(IsExpiredIterator(r.status())) << r.status().ToString();
  EXPECT_EQ(r.status().message(),
            "Iterator expired. The iterator was created at time Tue Nov 14 22:13:20 UTC 2023 "
            "while right now it is Tue Nov 14 22:18:20 UTC 2023 which is further in the future "
            "than the tolerated delay of 300000 milliseconds.");
}

TEST_F(IteratorCodecTest, TtlIsConfigurable) {
  IteratorCodec short_lived(std::string(kIteratorSecretBytes, 'k'), &clock_, 1'000);
  const std::string token = short_lived.Issue(MinPosition());
  clock_.AdvanceMs(1'000);
  EXPECT_TRUE(short_lived.Decode(token).ok());
  clock_.AdvanceMs(1);
  const auto r = short_lived.Decode(token);
  ASSERT_TRUE(IsExpiredIterator(r.status()));
  EXPECT_TRUE(r.status().message().ends_with("tolerated delay of 1000 milliseconds."));
}

TEST_F(IteratorCodecTest, IssuedInTheFutureBeyondSkewIsInvalid) {
  const std::string token = codec_.Issue(MinPosition());
  clock_.SetNowMs(kStartMs - kIteratorMaxFutureSkewMs);  // Clock stepped back within the skew.
  ExpectDecodesTo(token, MinPosition());
  clock_.SetNowMs(kStartMs - kIteratorMaxFutureSkewMs - 1);
  ExpectInvalid(token);
}

TEST_F(IteratorCodecTest, ExtremeClockValuesDoNotOverflow) {
  clock_.SetNowMs(std::numeric_limits<int64_t>::min());
  const std::string token = codec_.Issue(MinPosition());
  clock_.SetNowMs(std::numeric_limits<int64_t>::max());
  const auto r = codec_.Decode(token);
  EXPECT_FALSE(r.ok());
}

TEST(IteratorCodecDeathTest, IssueRejectsAnInvalidStreamName) {
  ManualClock clock;
  IteratorCodec codec(std::string(kIteratorSecretBytes, 'k'), &clock);
  EXPECT_DEATH((void)codec.Issue({"a/b", ShardId(0), 0, SequenceNumber(0)}), "stream name");
}

TEST(IteratorCodecDeathTest, ShortSecretAborts) {
  ManualClock clock;
  EXPECT_DEATH(IteratorCodec(std::string(kIteratorSecretBytes - 1, 'k'), &clock), "secret");
}

TEST(KinesisTimeTest, FormatsLikeJavaDateInUtc) {
  EXPECT_EQ(FormatKinesisTime(0), "Thu Jan 01 00:00:00 UTC 1970");
  EXPECT_EQ(FormatKinesisTime(-1), "Wed Dec 31 23:59:59 UTC 1969");
  EXPECT_EQ(FormatKinesisTime(1'421'889'722'999), "Thu Jan 22 01:22:02 UTC 2015");
  EXPECT_EQ(FormatKinesisTime(kStartMs), "Tue Nov 14 22:13:20 UTC 2023");
}

TEST(Base64Test, IsStrictStandardBase64WithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("A"), "QQ==");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64Decode("QQ=="), "A");
  EXPECT_EQ(Base64Decode("+/8="), "\xfb\xff");
  EXPECT_EQ(Base64Decode(""), "");
  for (const char* bad :
       {"QQ", "QQ=", "QR==", "Q===", "QQ==\n", " QQ==", "QQ==QQ==", "-_8=", "Q Q=", "QQ=A"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sluice::broker
