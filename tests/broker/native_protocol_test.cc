// SPDX-License-Identifier: Apache-2.0
// Native protocol codec: message round trips at min/max/random values, the streaming
// FrameDecoder under every chunking, early rejection, version errors, bit flips and garbage.
#include "broker/native_protocol.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/native_frame_decoder.h"
#include "broker/native_records.h"
#include "log/record_batch.h"

namespace sluice::broker::native {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return log::AsBytes(s); }

std::string Batch(uint32_t records, std::string_view tag = "v") {
  log::RecordBatchBuilder b;
  for (uint32_t i = 0; i < records; ++i) {
    b.Add("k" + std::to_string(i), std::string(tag) + std::to_string(i), 1000 + i);
  }
  Result<std::string> out = b.Finish();
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return std::move(out).value();
}

// Decodes every frame in `wire`, fed in the given chunk sizes (cycled); fails on error.
std::vector<Frame> DecodeAll(std::string_view wire, const std::vector<size_t>& chunks) {
  FrameDecoder d;
  std::vector<Frame> frames;
  size_t pos = 0;
  for (size_t i = 0; pos < wire.size(); ++i) {
    const size_t n = std::min(chunks[i % chunks.size()], wire.size() - pos);
    std::span<const std::byte> in = Bytes(wire.substr(pos, n));
    pos += n;
    while (!in.empty()) {
      Result<std::optional<Frame>> f = d.Decode(&in);
      EXPECT_TRUE(f.ok()) << f.status().ToString();
      if (!f.ok()) return frames;
      if (*f) frames.push_back(std::move(**f));
    }
  }
  EXPECT_EQ(d.buffered_bytes(), 0u);
  return frames;
}

// Encodes `m` as a frame, decodes it through a FrameDecoder and DecodeMessage, compares.
template <typename M>
void ExpectRoundTrip(const M& m, uint64_t correlation_id = 7) {
  std::string wire = EncodeMessage(m, correlation_id);
  std::vector<Frame> frames = DecodeAll(wire, {wire.size()});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.correlation_id, correlation_id);
  EXPECT_EQ(frames[0].header.type, M::kType);
  Result<M> back = DecodeMessage<M>(frames[0]);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == m) << "type " << static_cast<int>(M::kType);
}

class NativeProtocolTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kMax32 = std::numeric_limits<uint32_t>::max();
  static constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

  ProduceRequest SmallProduce() {
    ProduceRequest p;
    p.stream = "s";
    p.selector.kind = ShardSelector::Kind::kPartitionKey;
    p.selector.partition_key = "pk";
    p.producer = ProducerStamp{3, 4};
    p.batches = {Batch(2)};
    return p;
  }
};

TEST_F(NativeProtocolTest, HeaderSizeIsPinned) {
  static_assert(kFrameHeaderSize == 24);
  std::string wire = EncodeFrame(FrameType::kAck, 0, 1, "");
  EXPECT_EQ(wire.size(), kFrameHeaderSize);
}

TEST_F(NativeProtocolTest, ControlMessagesRoundTripAtMinAndMax) {
  const std::string big_name(kMaxNameBytes, 'n');
  for (uint64_t corr : {uint64_t{0}, kMax64}) {
    ExpectRoundTrip(Hello{}, corr);
    ExpectRoundTrip(Hello{0, 255, big_name}, corr);
    ExpectRoundTrip(HelloResponse{0, kFrameHeaderSize, ""}, corr);
    ExpectRoundTrip(HelloResponse{255, kMax32, big_name}, corr);
    ExpectRoundTrip(ErrorResponse{ErrorCode::kNotFound, 0, ""}, corr);
    ExpectRoundTrip(ErrorResponse{ErrorCode::kUnknownType, 255, std::string(4096, 'm')}, corr);
    ExpectRoundTrip(Ack{}, corr);
    ExpectRoundTrip(CreateStreamRequest{"", 0, 0}, corr);
    ExpectRoundTrip(CreateStreamRequest{big_name, kMax32, kMax32}, corr);
    ExpectRoundTrip(DeleteStreamRequest{big_name}, corr);
    ExpectRoundTrip(ListStreamsRequest{"", 0}, corr);
    ExpectRoundTrip(ListStreamsRequest{big_name, kMax32}, corr);
    ExpectRoundTrip(ListStreamsResponse{}, corr);
    ExpectRoundTrip(ListStreamsResponse{{"a", big_name, ""}, true}, corr);
    ExpectRoundTrip(DescribeStreamRequest{""}, corr);
    ExpectRoundTrip(DescribeStreamResponse{}, corr);
    ShardDescription shard{kMax32, {0, kMax32}, "0", std::string(39, '9'), "4", ""};
    ExpectRoundTrip(DescribeStreamResponse{big_name, StreamStatus::kUpdating, kMax32, {shard, {}}},
                    corr);
    ExpectRoundTrip(SplitShardRequest{"", 0, ""}, corr);
    ExpectRoundTrip(SplitShardRequest{big_name, kMax32, std::string(39, '9')}, corr);
    ExpectRoundTrip(MergeShardsRequest{big_name, kMax32, 0}, corr);
    ExpectRoundTrip(UpdateShardCountRequest{big_name, kMax32}, corr);
  }
}

TEST_F(NativeProtocolTest, SplitShardRefusesAnOverlongHashKey) {
  SplitShardRequest m{"s", 1, std::string(40, '1')};
  SplitShardRequest out;
  EXPECT_TRUE(DecodeBody(EncodeBody(m), &out).IsCorruption());
}

TEST_F(NativeProtocolTest, RecordMessagesRoundTripAtMinAndMax) {
  ProduceRequest p;
  p.batches = {Batch(1)};
  ExpectRoundTrip(p);
  p = SmallProduce();
  p.selector.explicit_hash_key = std::string(39, '9');
  p.producer = ProducerStamp{kMax64, kMax64};
  p.batches = {Batch(1), Batch(100, std::string(300, 'x')), Batch(3)};
  ExpectRoundTrip(p);
  ExpectRoundTrip(ProduceResponse{});
  ExpectRoundTrip(ProduceResponse{
      {{ErrorCode::kOk, kMax32, "1", "2", ""}, {ErrorCode::kFrameTooLarge, 0, "", "", "too big"}}});
  ExpectRoundTrip(FetchRequest{});
  ExpectRoundTrip(
      FetchRequest{"s", kMax32, FetchRequest::From::kOffset, "", kMax64, kMax32, kMax32});
  ExpectRoundTrip(FetchResponse{});
  ExpectRoundTrip(FetchResponse{Batch(5) + Batch(1), "it", kMax64, {1, kMax32}});
  ExpectRoundTrip(GetShardIteratorRequest{});
  StartingPosition at{StartingPosition::Type::kAtTimestamp, "",
                      std::numeric_limits<int64_t>::min()};
  ExpectRoundTrip(GetShardIteratorRequest{"s", kMax32, at});
  at.timestamp_ms = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip(SubscribeRequest{"s", 1, at, kMax32});
  ExpectRoundTrip(GetShardIteratorResponse{std::string(4096, 'i')});
}

TEST_F(NativeProtocolTest, MessagesRoundTripAtRandomValues) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("NativeProtocolTest random seed: %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto str = [&](size_t max) {
    std::string s(rng() % (max + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  auto u32 = [&] { return static_cast<uint32_t>(rng() >> (rng() % 33)); };
  for (int i = 0; i < 200; ++i) {
    ExpectRoundTrip(Hello{uint8_t(rng() % 3), uint8_t(3 + rng() % 200), str(kMaxNameBytes)}, rng());
    ExpectRoundTrip(CreateStreamRequest{str(kMaxNameBytes), u32(), u32()}, rng());
    ProduceRequest p;
    p.stream = str(kMaxNameBytes);
    if (rng() % 2) {
      p.selector = {ShardSelector::Kind::kShardId, u32(), "", ""};
    } else {
      p.selector = {ShardSelector::Kind::kPartitionKey, 0, "k" + str(200), str(39)};
    }
    if (rng() % 2) p.producer = ProducerStamp{rng(), rng()};
    for (size_t b = 0; b <= rng() % 4; ++b) p.batches.push_back(Batch(1 + rng() % 20, str(30)));
    ExpectRoundTrip(p, rng());
    ExpectRoundTrip(FetchResponse{Batch(1 + rng() % 9), str(100), rng(), {u32()}}, rng());
    ExpectRoundTrip(
        FetchRequest{str(20), u32(), FetchRequest::From::kIterator, str(500), 0, u32(), u32()},
        rng());
    StartingPosition pos{StartingPosition::Type(rng() % 5), str(56), static_cast<int64_t>(rng())};
    ExpectRoundTrip(SubscribeRequest{str(20), u32(), pos, u32()}, rng());
  }
}

}  // namespace
}  // namespace sluice::broker::native
