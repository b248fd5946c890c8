// SPDX-License-Identifier: Apache-2.0
// FrameDecoder: every chunking, pipelining, early rejection, version errors, truncation, single
// bit flips and random garbage.
#include "broker/native_frame_decoder.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/native_protocol.h"
#include "broker/native_records.h"
#include "log/base/coding.h"
#include "log/record_batch.h"

namespace sluice::broker::native {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return log::AsBytes(s); }

std::string SmallBatch() {
  log::RecordBatchBuilder b;
  b.Add("k", "value", 1000);
  return std::move(b.Finish()).value();
}

ProduceRequest SmallProduce() {
  ProduceRequest p;
  p.stream = "s";
  p.selector.kind = ShardSelector::Kind::kPartitionKey;
  p.selector.partition_key = "pk";
  p.producer = ProducerStamp{3, 4};
  p.batches = {SmallBatch()};
  return p;
}

// Feeds all of `wire` in one call per frame; returns frames until the first error.
struct Fed {
  std::vector<Frame> frames;
  Status error;
  size_t left_over = 0;  // Bytes of `wire` not yet returned as frames or errors.
};
Fed FeedAll(FrameDecoder* d, std::string_view wire, size_t chunk = SIZE_MAX) {
  Fed fed;
  for (size_t pos = 0; pos < wire.size();) {
    std::span<const std::byte> in = Bytes(wire.substr(pos, chunk));
    pos += in.size();
    while (!in.empty()) {
      Result<std::optional<Frame>> f = d->Decode(&in);
      if (!f.ok()) {
        fed.error = f.status();
        return fed;
      }
      if (*f) fed.frames.push_back(std::move(**f));
    }
  }
  fed.left_over = d->buffered_bytes();
  return fed;
}

class FrameDecoderTest : public ::testing::Test {
 protected:
  // Three different frames back to back, of different types and correlation ids.
  std::string Pipelined(int copies) {
    std::string wire;
    for (int i = 0; i < copies; ++i) {
      wire += EncodeMessage(SmallProduce(), 3 * i);
      wire += EncodeMessage(Hello{1, 1, "c" + std::to_string(i)}, 3 * i + 1);
      wire += EncodeMessage(Ack{}, 3 * i + 2, kFlagMore);
    }
    return wire;
  }
  void ExpectPipelined(const std::vector<Frame>& frames, int copies) {
    ASSERT_EQ(frames.size(), static_cast<size_t>(3 * copies));
    for (int i = 0; i < 3 * copies; ++i) EXPECT_EQ(frames[i].header.correlation_id, uint64_t(i));
    EXPECT_EQ(*DecodeMessage<ProduceRequest>(frames[0]), SmallProduce());
    EXPECT_EQ(DecodeMessage<Hello>(frames[1])->client_id, "c0");
    EXPECT_EQ(frames[2].header.flags, kFlagMore);
  }
};

TEST_F(FrameDecoderTest, DecodesFedByteByByte) {
  FrameDecoder d;
  Fed fed = FeedAll(&d, Pipelined(2), 1);
  ASSERT_TRUE(fed.error.ok()) << fed.error.ToString();
  ExpectPipelined(fed.frames, 2);
  EXPECT_EQ(fed.left_over, 0u);
}

TEST_F(FrameDecoderTest, DecodesRandomChunkSizes) {
  const uint64_t seed = std::random_device{}();
  std::printf("FrameDecoderTest random seed: %llu\n", static_cast<unsigned long long>(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::string wire = Pipelined(5);
  for (int round = 0; round < 100; ++round) {
    FrameDecoder d;
    std::vector<Frame> frames;
    for (size_t pos = 0; pos < wire.size();) {
      const size_t n = 1 + rng() % 200;
      std::span<const std::byte> in = Bytes(std::string_view(wire).substr(pos, n));
      pos += in.size();
      while (!in.empty()) {
        Result<std::optional<Frame>> f = d.Decode(&in);
        ASSERT_TRUE(f.ok()) << f.status().ToString();
        if (*f) frames.push_back(std::move(**f));
      }
    }
    ExpectPipelined(frames, 5);
  }
}

TEST_F(FrameDecoderTest, DecodesManyPipelinedFramesInOneChunk) {
  FrameDecoder d;
  Fed fed = FeedAll(&d, Pipelined(300));
  ASSERT_TRUE(fed.error.ok()) << fed.error.ToString();
  ExpectPipelined(fed.frames, 300);
}

TEST_F(FrameDecoderTest, RejectsOversizedLengthBeforeTheBody) {
  FrameDecoder d(/*max_frame_bytes=*/1024);
  std::string wire = EncodeFrame(FrameType::kFetchResponse, 0, 9, std::string(1025, 'x'));
  std::span<const std::byte> in = Bytes(std::string_view(wire).substr(0, 4));
  Result<std::optional<Frame>> f = d.Decode(&in);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsInvalidArgument()) << f.status().ToString();
  EXPECT_EQ(d.error_code(), ErrorCode::kFrameTooLarge);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  // Sticky: more bytes do not revive the decoder.
  in = Bytes(std::string_view(wire).substr(4));
  EXPECT_FALSE(d.Decode(&in).ok());
  // The limit itself is accepted.
  FrameDecoder exact(wire.size());
  EXPECT_EQ(FeedAll(&exact, wire).frames.size(), 1u);
}

TEST_F(FrameDecoderTest, RejectsLengthShorterThanHeader) {
  std::string wire = EncodeFrame(FrameType::kAck, 0, 1, "");
  EncodeFixed<uint32_t>(reinterpret_cast<std::byte*>(wire.data()), kFrameHeaderSize - 1);
  FrameDecoder d;
  EXPECT_TRUE(FeedAll(&d, wire, 4).error.IsCorruption());
  EXPECT_EQ(d.error_code(), ErrorCode::kMalformedFrame);
}

TEST_F(FrameDecoderTest, TruncatedFrameWaitsForMoreData) {
  const std::string wire = EncodeMessage(SmallProduce(), 5);
  for (size_t cut = 0; cut < wire.size(); ++cut) {
    FrameDecoder d;
    Fed fed = FeedAll(&d, std::string_view(wire).substr(0, cut));
    ASSERT_TRUE(fed.error.ok()) << cut << ": " << fed.error.ToString();
    EXPECT_TRUE(fed.frames.empty());
    EXPECT_EQ(fed.left_over, cut);
    Fed rest = FeedAll(&d, std::string_view(wire).substr(cut));
    ASSERT_EQ(rest.frames.size(), 1u) << cut;
    EXPECT_EQ(*DecodeMessage<ProduceRequest>(rest.frames[0]), SmallProduce());
  }
}

TEST_F(FrameDecoderTest, UnknownVersionIsUnsupportedVersion) {
  for (uint8_t version : {uint8_t{0}, uint8_t{2}, uint8_t{255}}) {
    std::string wire = EncodeMessage(Hello{}, 1);
    wire[kFrameVersionOffset] = static_cast<char>(version);
    FrameDecoder d;
    // Known after six bytes, before the checksum (whose coverage a newer version may change).
    Fed fed = FeedAll(&d, std::string_view(wire).substr(0, kFrameVersionInvariantBytes));
    EXPECT_TRUE(fed.error.code() == Status::Code::kNotSupported) << fed.error.ToString();
    EXPECT_EQ(d.error_code(), ErrorCode::kUnsupportedVersion);
    EXPECT_EQ(d.peer_version(), version);
  }
  // The answer the server sends: an Error frame naming the highest version it speaks.
  ErrorResponse e{ErrorCode::kUnsupportedVersion, kProtocolVersion, "unsupported version 2"};
  FrameDecoder client;
  Fed fed = FeedAll(&client, EncodeMessage(e, 0));
  ASSERT_EQ(fed.frames.size(), 1u);
  EXPECT_EQ(DecodeMessage<ErrorResponse>(fed.frames[0])->max_version, kProtocolVersion);
}

TEST_F(FrameDecoderTest, ReservedFlagsAndUnknownTypes) {
  // Reserved flag bits are malformed even with a valid checksum.
  std::string wire = EncodeFrame(FrameType::kAck, 0x02, 1, "");
  FrameDecoder d;
  EXPECT_EQ(FeedAll(&d, wire).frames.size(), 0u);
  EXPECT_EQ(d.error_code(), ErrorCode::kMalformedFrame);
  // An unknown type is delimited and handed up; the stream stays usable.
  FrameDecoder ok;
  Fed fed = FeedAll(&ok, EncodeFrame(static_cast<FrameType>(0x3A), 0, 1, "x") +
                             EncodeFrame(FrameType::kAck, 0, 2, ""));
  ASSERT_EQ(fed.frames.size(), 2u);
  EXPECT_FALSE(IsKnownFrameType(static_cast<uint8_t>(fed.frames[0].header.type)));
  EXPECT_FALSE(DecodeMessage<Ack>(fed.frames[0]).ok());
}

TEST_F(FrameDecoderTest, CorruptBatchMakesProduceInvalid) {
  ProduceRequest p = SmallProduce();
  p.batches[0].back() ^= 1;  // A record byte: the records checksum no longer matches.
  FrameDecoder d;
  Fed fed = FeedAll(&d, EncodeMessage(p, 1));
  ASSERT_EQ(fed.frames.size(), 1u);
  Result<ProduceRequest> back = DecodeMessage<ProduceRequest>(fed.frames[0]);
  EXPECT_TRUE(back.status().IsCorruption()) << back.status().ToString();
  EXPECT_TRUE(ValidateBatches(p.batches[0]).IsCorruption());
  EXPECT_TRUE(ValidateBatches(SmallBatch() + SmallBatch()).ok());
  EXPECT_FALSE(ValidateBatches(SmallBatch() + "x").ok());
}

template <typename M>
void ExpectEveryBitFlipDetected(const M& m) {
  const std::string wire = EncodeMessage(m, 0x1122334455667788);
  for (size_t bit = 0; bit < wire.size() * 8; ++bit) {
    std::string flipped = wire;
    flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    FrameDecoder d;
    Fed fed = FeedAll(&d, flipped);
    if (bit / 8 < kFrameHeaderSize) {
      // Header flips: rejected outright (a longer length is caught by the checksum too).
      EXPECT_FALSE(fed.error.ok()) << "header bit " << bit << " not rejected";
      continue;
    }
    ASSERT_TRUE(fed.error.ok()) << bit;
    ASSERT_EQ(fed.frames.size(), 1u) << bit;
    Result<M> back = DecodeMessage<M>(fed.frames[0]);
    EXPECT_TRUE(!back.ok() || !(*back == m)) << "body bit " << bit << " went unnoticed";
  }
}

TEST_F(FrameDecoderTest, EverySingleBitFlipIsRejectedOrChangesTheMessage) {
  ExpectEveryBitFlipDetected(SmallProduce());
  ExpectEveryBitFlipDetected(Hello{1, 1, "client"});
  ExpectEveryBitFlipDetected(ErrorResponse{ErrorCode::kNotFound, 1, "no such stream"});
  ExpectEveryBitFlipDetected(FetchResponse{SmallBatch(), "it", 5, {1, 2}});
}

TEST_F(FrameDecoderTest, RandomGarbageNeverCrashesOrYieldsABadHeader) {
  std::mt19937_64 rng(20240601);  // Deterministic.
  std::vector<std::string> bodies;
  for (int i = 0; i < 20000; ++i) {
    std::string buf(rng() % 300, '\0');
    for (char& c : buf) c = static_cast<char>(rng());
    if (i % 2 == 0 && buf.size() >= kFrameVersionInvariantBytes) {
      // Plausible prefix so the checksum path and the body decoders are exercised too.
      EncodeFixed<uint32_t>(reinterpret_cast<std::byte*>(buf.data()),
                            static_cast<uint32_t>(kFrameHeaderSize + rng() % 300));
      buf[kFrameMagicOffset] = static_cast<char>(kFrameMagic);
      buf[kFrameVersionOffset] = static_cast<char>(kProtocolVersion);
    }
    FrameDecoder d(4096);
    std::span<const std::byte> in = Bytes(buf);
    while (!in.empty()) {
      const size_t start = buf.size() - in.size();
      Result<std::optional<Frame>> f = d.Decode(&in);
      if (!f.ok()) break;
      if (!*f) continue;
      const Frame& fr = **f;
      auto h = EncodeFrameHeader(fr.header.type, fr.header.flags, fr.header.correlation_id,
                                 fr.body.size());
      ASSERT_EQ(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()),
                std::string_view(buf).substr(start, kFrameHeaderSize));
    }
    // Body decoders on garbage: must not crash; results are ignored.
    std::string_view body = std::string_view(buf).substr(std::min<size_t>(buf.size(), 6));
    Hello h;
    ProduceRequest p;
    FetchResponse fr;
    DescribeStreamResponse ds;
    ProduceResponse pr;
    SubscribeRequest sr;
    ListStreamsResponse ls;
    ErrorResponse er;
    (void)DecodeBody(body, &h).ok();
    (void)DecodeBody(body, &p).ok();
    (void)DecodeBody(body, &fr).ok();
    (void)DecodeBody(body, &ds).ok();
    (void)DecodeBody(body, &pr).ok();
    (void)DecodeBody(body, &sr).ok();
    (void)DecodeBody(body, &ls).ok();
    (void)DecodeBody(body, &er).ok();
  }
}

}  // namespace
}  // namespace sluice::broker::native
