// SPDX-License-Identifier: Apache-2.0
// Stream-name validation (with Kinesis's ValidationException text) and stream ARNs.
#include "broker/stream_name.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

std::string PatternError(const std::string& v) {
  return "Value '" + v +
         "' at 'streamName' failed to satisfy constraint: Member must satisfy regular "
         "expression pattern: [a-zA-Z0-9_.-]+";
}

TEST(StreamNameTest, AcceptsEveryAllowedCharacter) {
  EXPECT_TRUE(ValidateStreamName("a").ok());
  EXPECT_TRUE(ValidateStreamName("Orders_2024.v1-eu").ok());
  EXPECT_TRUE(
      ValidateStreamName("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-").ok());
}

TEST(StreamNameTest, AcceptsExactly128Characters) {
  EXPECT_TRUE(ValidateStreamName(std::string(128, 'x')).ok());
}

TEST(StreamNameTest, DotNamesAreValidSoNamesAreNeverRawPaths) {
  // Kinesis allows these; the metadata store must encode names before using them on disk.
  EXPECT_TRUE(ValidateStreamName(".").ok());
  EXPECT_TRUE(ValidateStreamName("..").ok());
}

TEST(StreamNameTest, EmptyViolatesPatternAndMinimumLength) {
  const Status s = ValidateStreamName("");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "2 validation errors detected: " + PatternError("") +
                "; Value '' at 'streamName' failed to satisfy constraint: Member must have "
                "length greater than or equal to 1");
}

TEST(StreamNameTest, Rejects129CharactersWithTheLengthMessage) {
  const std::string name(129, 'a');
  const Status s = ValidateStreamName(name);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(), "1 validation error detected: Value '" + name +
                             "' at 'streamName' failed to satisfy constraint: Member must have "
                             "length less than or equal to 128");
}

TEST(StreamNameTest, TooLongAndBadCharacterReportsBothErrors) {
  const std::string name = std::string(128, 'a') + "/";
  const Status s = ValidateStreamName(name);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(), "2 validation errors detected: " + PatternError(name) + "; Value '" +
                             name +
                             "' at 'streamName' failed to satisfy constraint: Member must have "
                             "length less than or equal to 128");
}

TEST(StreamNameTest, RejectsCharactersOutsideThePattern) {
  for (const std::string& name :
       std::vector<std::string>{"a/b", "/", "../etc", "a b", " a", "a\n", "caf\xc3\xa9",
                                "\xe6\xb5\x81", "a:b", "a*", std::string("a\0b", 3)}) {
    const Status s = ValidateStreamName(name);
    ASSERT_TRUE(s.IsInvalidArgument()) << name;
    EXPECT_EQ(s.message(), "1 validation error detected: " + PatternError(name)) << name;
  }
}

TEST(StreamArnTest, BuildsTheKinesisForm) {
  EXPECT_EQ(StreamArn("us-east-1", "000000000000", "orders"),
            "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
}

TEST(StreamArnTest, RoundTripsThroughParse) {
  for (const std::string& name :
       std::vector<std::string>{std::string("a"), std::string("my.stream-1_x"),
                                std::string(128, 'z'), std::string("..")}) {
    const auto parsed = ParseStreamArn(StreamArn("eu-west-2", "123456789012", name));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, name);
  }
}

TEST(StreamArnTest, AcceptsOtherPartitions) {
  const auto parsed = ParseStreamArn("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, "s");
}

TEST(StreamArnTest, RejectsMalformedArnsWithThePatternMessage) {
  for (const std::string& arn : std::vector<std::string>{
           "",
           "orders",
           "arn:aws:kinesis:us-east-1:000000000000:stream/",
           "arn:aws:kinesis:us-east-1:000000000000:stream",
           "arn:aws:sqs:us-east-1:000000000000:stream/orders",
           "arn:awsx:kinesis:us-east-1:000000000000:stream/orders",
           "arn:aws-:kinesis:us-east-1:000000000000:stream/orders",
           "arn:aws:kinesis::000000000000:stream/orders",
           "arn:aws:kinesis:US-EAST-1:000000000000:stream/orders",
           "arn:aws:kinesis:us-east-1:00000000000:stream/orders",
           "arn:aws:kinesis:us-east-1:0000000000000:stream/orders",
           "arn:aws:kinesis:us-east-1:00000000000a:stream/orders",
           "arn:aws:kinesis:us-east-1:000000000000:table/orders",
           "arn:aws:kinesis:us-east-1:000000000000:stream/ord ers",
           " arn:aws:kinesis:us-east-1:000000000000:stream/orders",
       }) {
    const auto parsed = ParseStreamArn(arn);
    ASSERT_FALSE(parsed.ok()) << arn;
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << arn;
    EXPECT_EQ(parsed.status().message(),
              "1 validation error detected: Value '" + arn +
                  "' at 'streamARN' failed to satisfy constraint: Member must satisfy regular "
                  "expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+")
        << arn;
  }
}

TEST(StreamArnTest, RejectsAnInvalidNamePart) {
  for (const std::string& arn : std::vector<std::string>{
           "arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/c:1700000000",
           "arn:aws:kinesis:us-east-1:000000000000:stream/a:b",
           "arn:aws:kinesis:us-east-1:000000000000:stream/" + std::string(129, 'a'),
           "arn:aws:kinesis:us-east-1:000000000000:stream/caf\xc3\xa9",
       }) {
    const auto parsed = ParseStreamArn(arn);
    ASSERT_FALSE(parsed.ok()) << arn;
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << arn;
    EXPECT_TRUE(parsed.status().message().starts_with("Invalid StreamARN '" + arn + "': "))
        << parsed.status().ToString();
  }
}

}  // namespace
}  // namespace sluice::broker
