// SPDX-License-Identifier: Apache-2.0
// StreamMetadata: the binary image round-trips, and every kind of damage is reported.
#include "broker/stream_metadata.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

StreamMetadata Full() {
  StreamMetadata m = NewStreamMetadata("orders.v2_eu-west", StreamId(UINT64_MAX), 2, INT64_MAX);
  m.retention_hours = kMaxRetentionHours;
  m.status = StreamStatus::kUpdating;
  m.mode = StreamMode::kOnDemand;
  m.encryption_type = "KMS";
  m.key_id = "arn:aws:kms:us-east-1:000000000000:key/1234";
  m.tags = {{"team", "payments"}, {"empty", ""}, {std::string(128, 'k'), std::string(256, 'v')}};
  m.shards[0].ending_offset = SequenceNumber(UINT64_MAX);
  m.shards.push_back(ShardMetadata{.id = ShardId(2),
                                   .range = {HashKey(5), HashKey::Max()},
                                   .parent = ShardId(0),
                                   .generation = ShardGeneration(1)});
  m.shards.push_back(ShardMetadata{.id = ShardId(UINT32_MAX),
                                   .range = {HashKey::Max(), HashKey::Max()},
                                   .parent = ShardId(1),
                                   .adjacent_parent = ShardId(2),
                                   .generation = kMaxShardGeneration,
                                   .starting_offset = SequenceNumber(7),
                                   .ending_offset = SequenceNumber(9)});
  m.next_shard_id = ShardId(UINT32_MAX);
  return m;
}

StreamMetadata Random(std::mt19937_64& rng) {
  StreamMetadata m =
      NewStreamMetadata(std::string(1 + rng() % 128, 'a' + rng() % 26), StreamId(rng()),
                        1 + rng() % 20, static_cast<int64_t>(rng() >> 1));
  m.retention_hours = static_cast<int32_t>(kMinRetentionHours + rng() % 8737);
  m.status = static_cast<StreamStatus>(rng() % 4);
  m.mode = static_cast<StreamMode>(rng() % 2);
  for (uint64_t i = rng() % 5; i > 0; --i) m.tags[std::to_string(rng())] = std::to_string(rng());
  for (ShardMetadata& s : m.shards) {
    if (rng() % 2) s.parent = ShardId(static_cast<uint32_t>(rng()));
    if (rng() % 2) s.adjacent_parent = ShardId(static_cast<uint32_t>(rng()));
    if (rng() % 2) s.ending_offset = SequenceNumber(rng());
    s.generation = ShardGeneration(static_cast<uint32_t>(rng() % 1'000'000));
  }
  return m;
}

void ExpectRoundTrip(const StreamMetadata& m, const std::string& note = "") {
  Result<StreamMetadata> back = DecodeStreamMetadata(EncodeStreamMetadata(m));
  ASSERT_TRUE(back.ok()) << note << back.status().ToString();
  EXPECT_EQ(*back, m) << note;
}

// Re-frames a modified payload so that the checksum passes and only the payload is wrong.
std::string Reframe(const StreamMetadata& m, const std::function<void(std::string*)>& edit) {
  const std::string image = EncodeStreamMetadata(m);
  std::string payload(*UnframeImage(image, kStreamImageMagic, kStreamImageVersion, "t"));
  edit(&payload);
  return FrameImage(kStreamImageMagic, kStreamImageVersion, payload);
}

void ExpectCorruption(std::string_view image, std::string_view what) {
  Result<StreamMetadata> r = DecodeStreamMetadata(image);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_TRUE(r.status().IsCorruption()) << what << ": " << r.status().ToString();
  EXPECT_NE(r.status().message().find(what), std::string_view::npos) << r.status().ToString();
}

TEST(StreamMetadataTest, NewStreamHasEvenlySplitOpenShards) {
  const StreamMetadata m = NewStreamMetadata("s", StreamId(4), 3, 1000);
  EXPECT_EQ(m.status, StreamStatus::kCreating);
  EXPECT_EQ(m.retention_hours, 24);
  EXPECT_EQ(m.next_shard_id, ShardId(3));
  ASSERT_EQ(m.shards.size(), 3u);
  const std::vector<HashKeyRange> ranges = EvenSplit(3);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(m.shards[i].id, ShardId(i));
    EXPECT_EQ(m.shards[i].range, ranges[i]);
    EXPECT_TRUE(m.shards[i].open());
    EXPECT_EQ(m.shards[i].generation, ShardGeneration(0));
  }
  EXPECT_EQ(m.FindShard(ShardId(2)), &m.shards[2]);
  EXPECT_EQ(m.FindShard(ShardId(3)), nullptr);
}

TEST(StreamMetadataTest, EnumNamesAreKinesisSpellings) {
  EXPECT_EQ(StreamStatusName(StreamStatus::kDeleting), "DELETING");
  EXPECT_EQ(ParseStreamStatus("ACTIVE"), StreamStatus::kActive);
  EXPECT_EQ(ParseStreamStatus("active"), std::nullopt);
  EXPECT_EQ(StreamModeName(StreamMode::kOnDemand), "ON_DEMAND");
  EXPECT_EQ(ParseStreamMode("PROVISIONED"), StreamMode::kProvisioned);
  EXPECT_FALSE(ValidRetentionHours(23));
  EXPECT_TRUE(ValidRetentionHours(24));
  EXPECT_TRUE(ValidRetentionHours(8760));
  EXPECT_FALSE(ValidRetentionHours(8761));
}

TEST(StreamMetadataTest, RoundTripsAtMinMaxAndRandom) {
  ExpectRoundTrip(StreamMetadata{});
  ExpectRoundTrip(NewStreamMetadata("s", StreamId(0), 1, 0));
  ExpectRoundTrip(Full());
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 500; ++i) ExpectRoundTrip(Random(rng), "seed " + std::to_string(seed));
}

TEST(StreamMetadataTest, EveryFlippedBitIsDetected) {
  const std::string image = EncodeStreamMetadata(Full());
  for (size_t i = 0; i < image.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = image;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      Result<StreamMetadata> r = DecodeStreamMetadata(bad);
      ASSERT_TRUE(r.status().IsCorruption()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(StreamMetadataTest, EveryTruncationAndExtensionIsDetected) {
  const std::string image = EncodeStreamMetadata(Full());
  for (size_t n = 0; n < image.size(); ++n) {
    ASSERT_TRUE(DecodeStreamMetadata(image.substr(0, n)).status().IsCorruption()) << n;
  }
  EXPECT_TRUE(DecodeStreamMetadata(image + '\0').status().IsCorruption());
}

TEST(StreamMetadataTest, FrameErrorsAreNamed) {
  const std::string image = EncodeStreamMetadata(Full());
  ExpectCorruption("", "shorter than its frame");
  std::string magic = image;
  magic[0] = 'X';
  ExpectCorruption(magic, "bad magic");
  std::string sum = image;
  sum[image.size() / 2] ^= 1;
  ExpectCorruption(sum, "checksum mismatch");
  ExpectCorruption(image + "x", "length does not match");
}

TEST(StreamMetadataTest, ChecksummedButInvalidPayloadsAreCorruption) {
  const StreamMetadata one = NewStreamMetadata("s", StreamId(1), 1, 0);
  // Payload offsets for this stream: name 0..1, id 2..9, time 10..17, retention 18..21,
  // status 22, mode 23, next shard 24..27, "NONE" 28..32, key id 33, tags 34, shards 35,
  // shard id 36..39, start 40..55, end 56..71, flags 72.
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[22] = 4; }), "unknown stream status");
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[23] = 2; }), "unknown stream mode");
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[72] = 8; }), "unknown shard flags");
  ExpectCorruption(Reframe(one, [](std::string* p) { p->push_back('x'); }), "trailing bytes");
  ExpectCorruption(Reframe(one, [](std::string* p) { p->pop_back(); }), "shard count");
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[72] = 4; }),  // Closed, no offset.
                   "truncated shard ending offset");
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[35] = 0x7f; }), "shard count");
  ExpectCorruption(Reframe(one, [](std::string* p) { (*p)[0] = 0x7f; }), "truncated stream");
  StreamMetadata inverted = one;
  inverted.shards[0].range = {HashKey(2), HashKey(1)};
  ExpectCorruption(EncodeStreamMetadata(inverted), "start > end");
  StreamMetadata dup_tags = one;
  dup_tags.tags = {{"a", "1"}, {"b", "2"}};
  ExpectCorruption(Reframe(dup_tags,
                           [](std::string* p) {
                             const size_t b = p->find(
                                 "\x01"
                                 "b\x01"
                                 "2");
                             ASSERT_NE(b, std::string::npos);
                             (*p)[b + 1] = 'a';
                           }),
                   "duplicate tag key");
}

TEST(StreamMetadataTest, NewerVersionIsNotSupportedRatherThanCorrupt) {
  const std::string image = EncodeStreamMetadata(Full());
  std::string payload(*UnframeImage(image, kStreamImageMagic, kStreamImageVersion, "t"));
  Result<StreamMetadata> r =
      DecodeStreamMetadata(FrameImage(kStreamImageMagic, kStreamImageVersion + 1, payload));
  EXPECT_EQ(r.status().code(), Status::Code::kNotSupported) << r.status().ToString();
}

}  // namespace
}  // namespace sluice::broker
