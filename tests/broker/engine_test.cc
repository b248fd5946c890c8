// SPDX-License-Identifier: Apache-2.0
// Engine: the native protocol served by the shard-per-core engine over loopback, with real
// files and the real io_uring path.
#include "broker/engine/engine.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/sequence_number.h"
#include "log/io/file.h"
#include "tests/broker/engine_fixture.h"

namespace sluice::broker {
namespace {

using native::ErrorCode;
using native::FrameType;
using testing::MakeBatch;
using testing::TestClient;
using testing::Values;

class EngineTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    Start();
  }
};

TEST_F(EngineTest, ControlPlaneRoundTrip) {
  TestClient c(port());
  ASSERT_TRUE(c.ok());
  Create(c, "orders", 4);
  auto list = c.Call<native::ListStreamsResponse>(native::ListStreamsRequest{});
  EXPECT_EQ(list.streams, std::vector<std::string>{"orders"});
  auto d = c.Call<native::DescribeStreamResponse>(native::DescribeStreamRequest{"orders"});
  EXPECT_EQ(d.shards.size(), 4u);
  EXPECT_EQ(d.status, native::StreamStatus::kActive);
  auto e = c.CallError(native::CreateStreamRequest{"orders", 1, 24});
  EXPECT_EQ(e.code, ErrorCode::kAborted);  // Already exists.
  e = c.CallError(native::DescribeStreamRequest{"nope"});
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  c.Call<native::Ack>(native::SplitShardRequest{"orders", 0, "1000"});
  d = c.Call<native::DescribeStreamResponse>(native::DescribeStreamRequest{"orders"});
  EXPECT_EQ(d.shards.size(), 6u);
  c.Call<native::Ack>(native::UpdateShardCountRequest{"orders", 2});
  c.Call<native::Ack>(native::DeleteStreamRequest{"orders"});
  list = c.Call<native::ListStreamsResponse>(native::ListStreamsRequest{});
  EXPECT_TRUE(list.streams.empty());
}

TEST_F(EngineTest, ProduceThenFetchByIterator) {
  TestClient c(port());
  Create(c, "s", 2);
  auto r = Produce(c, "s", 1, {MakeBatch(3, "a"), MakeBatch(2, "b")});
  ASSERT_EQ(r.results.size(), 2u);
  for (const auto& x : r.results) EXPECT_EQ(x.code, ErrorCode::kOk) << x.message;
  auto first = ParseSequenceNumber(r.results[0].first_sequence);
  auto last = ParseSequenceNumber(r.results[1].last_sequence);
  ASSERT_TRUE(first.ok() && last.ok());
  EXPECT_EQ(first->offset.value(), 0u);
  EXPECT_EQ(last->offset.value(), 4u);
  EXPECT_EQ(first->shard.value(), 1u);

  native::GetShardIteratorRequest gi{"s", 1, {}};
  auto it = c.Call<native::GetShardIteratorResponse>(gi);
  native::FetchRequest f;
  f.stream = "s";
  f.iterator = it.iterator;
  auto fetched = c.Call<native::FetchResponse>(f);
  EXPECT_EQ(Values(fetched), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1"}));
  EXPECT_FALSE(fetched.next_iterator.empty());
  // The next iterator continues at the end.
  f.iterator = fetched.next_iterator;
  EXPECT_TRUE(Values(c.Call<native::FetchResponse>(f)).empty());
  // Routing by partition key reaches the shard that owns the key's hash.
  native::ProduceRequest p;
  p.stream = "s";
  p.selector.kind = native::ShardSelector::Kind::kPartitionKey;
  p.selector.partition_key = "user-1";
  p.batches = {MakeBatch(1)};
  auto routed = c.Call<native::ProduceResponse>(p);
  ASSERT_EQ(routed.results.size(), 1u);
  EXPECT_EQ(routed.results[0].code, ErrorCode::kOk);
}

TEST_F(EngineTest, PipelinedProducesAreAnsweredInFullWithIncreasingOffsets) {
  TestClient c(port());
  Create(c, "p", 4);
  constexpr int kRequests = 400;
  std::map<uint64_t, uint32_t> shard_of;
  for (int i = 0; i < kRequests; ++i) {
    native::ProduceRequest p;
    p.stream = "p";
    p.selector.shard_id = static_cast<uint32_t>(i % 4);
    p.batches = {MakeBatch(10, "r" + std::to_string(i) + "-")};
    const uint64_t corr = c.NextCorrelation();
    shard_of[corr] = p.selector.shard_id;
    c.Send(native::EncodeMessage(p, corr));
  }
  std::map<uint32_t, uint64_t> last_offset;
  for (int i = 0; i < kRequests; ++i) {
    auto f = c.Recv();
    ASSERT_TRUE(f.has_value());
    ASSERT_EQ(f->header.type, FrameType::kProduceResponse);
    auto r = native::DecodeMessage<native::ProduceResponse>(*f);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->results[0].code, ErrorCode::kOk);
    const uint32_t shard = shard_of.at(f->header.correlation_id);
    shard_of.erase(f->header.correlation_id);
    auto seq = ParseSequenceNumber(r->results[0].first_sequence);
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(seq->shard.value(), shard);
    if (last_offset.contains(shard)) {
      EXPECT_GT(seq->offset.value(), last_offset[shard]);
    }
    last_offset[shard] = seq->offset.value();
  }
  EXPECT_TRUE(shard_of.empty());
  // 100 requests × 10 records per shard: the last request starts at 990.
  for (uint32_t s = 0; s < 4; ++s) EXPECT_EQ(last_offset[s], 990u);
}

TEST_F(EngineTest, IdempotentProducerRetriesGetTheOriginalSequenceNumbersAcrossRestarts) {
  TestClient c(port());
  Create(c, "idem", 1);
  const uint64_t pid = 77;
  auto first = Produce(c, "idem", 0, {MakeBatch(2, "x", {{pid, 0}}), MakeBatch(2, "y", {{pid, 1}})},
                       native::ProducerStamp{pid, 0});
  ASSERT_EQ(first.results[1].code, ErrorCode::kOk);
  // The response was "lost": the producer sends the same batches again.
  auto retry = Produce(c, "idem", 0, {MakeBatch(2, "x", {{pid, 0}}), MakeBatch(2, "y", {{pid, 1}})},
                       native::ProducerStamp{pid, 0});
  EXPECT_EQ(retry.results, first.results);
  // A gap is refused; the next sequence is taken.
  auto gap = Produce(c, "idem", 0, {MakeBatch(1, "z", {{pid, 5}})}, native::ProducerStamp{pid, 5});
  EXPECT_EQ(gap.results[0].code, ErrorCode::kInvalidArgument);
  EXPECT_NE(gap.results[0].message.find("out of order sequence"), std::string::npos);
  // A stamp that disagrees with the batch header is refused.
  auto lie = Produce(c, "idem", 0, {MakeBatch(1, "z", {{pid, 2}})}, native::ProducerStamp{pid, 3});
  EXPECT_EQ(lie.results[0].code, ErrorCode::kInvalidArgument);

  Restart();
  TestClient c2(port());
  retry = Produce(c2, "idem", 0, {MakeBatch(2, "y", {{pid, 1}})}, native::ProducerStamp{pid, 1});
  EXPECT_EQ(retry.results[0], first.results[1]);  // Rebuilt from the log.
  auto next =
      Produce(c2, "idem", 0, {MakeBatch(1, "z", {{pid, 2}})}, native::ProducerStamp{pid, 2});
  EXPECT_EQ(next.results[0].code, ErrorCode::kOk);
  EXPECT_EQ(Values(FetchFrom(c2, "idem", 0, 0)),
            (std::vector<std::string>{"x0", "x1", "y0", "y1", "z0"}));
}

TEST_F(EngineTest, DuplicateWithinOneRequestIsAppendedOnce) {
  TestClient c(port());
  Create(c, "d", 1);
  // Two pipelined requests carrying the same producer batch reach the shard together.
  native::ProduceRequest p;
  p.stream = "d";
  p.producer = native::ProducerStamp{9, 0};
  p.batches = {MakeBatch(1, "once", {{9, 0}})};
  c.Send(native::EncodeMessage(p, 1000));
  c.Send(native::EncodeMessage(p, 1001));
  auto a = c.Recv();
  auto b = c.Recv();
  ASSERT_TRUE(a && b);
  auto ra = native::DecodeMessage<native::ProduceResponse>(*a);
  auto rb = native::DecodeMessage<native::ProduceResponse>(*b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->results, rb->results);
  EXPECT_EQ(Values(FetchFrom(c, "d", 0, 0)), std::vector<std::string>{"once0"});
}

TEST_F(EngineTest, BadBatchesFailAloneAndOversizedRecordsAreRefused) {
  TestClient c(port());
  Create(c, "b", 1);
  log::RecordBatchBuilder big;
  big.Add("k", std::string((1 << 20) + 1, 'x'), 0);
  auto big_batch = big.Finish();
  ASSERT_TRUE(big_batch.ok());
  auto r = Produce(c, "b", 0, {MakeBatch(1), *big_batch, MakeBatch(1)});
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].code, ErrorCode::kOk);
  EXPECT_EQ(r.results[1].code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.results[1].message.find("exceeds the limit"), std::string::npos);
  EXPECT_EQ(r.results[2].code, ErrorCode::kOk);
  auto e = c.CallError(native::ProduceRequest{"missing", {}, {}, {MakeBatch(1)}});
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

TEST_F(EngineTest, MalformedFrameClosesOnlyThatConnection) {
  TestClient good(port());
  Create(good, "m", 1);
  TestClient bad(port());
  std::string garbage(64, '\xAB');
  bad.Send(garbage);
  auto f = bad.Recv();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kError);
  EXPECT_FALSE(bad.Recv(5000).has_value());
  EXPECT_TRUE(bad.closed());
  // A frame whose body does not decode is malformed too.
  TestClient bad2(port());
  bad2.Send(native::EncodeFrame(FrameType::kProduce, 0, 5, "\x01"));
  f = bad2.Recv();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kError);
  EXPECT_FALSE(bad2.Recv(5000).has_value());
  EXPECT_TRUE(bad2.closed());
  // Everyone else is still served.
  auto r = Produce(good, "m", 0, {MakeBatch(1)});
  EXPECT_EQ(r.results[0].code, ErrorCode::kOk);
}

TEST_F(EngineTest, RequestsBeforeHelloAreRefused) {
  TestClient c(port(), /*hello=*/false);
  c.Send(native::EncodeMessage(native::ListStreamsRequest{}, 3));
  auto f = c.Recv();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kError);
  EXPECT_FALSE(c.Recv(5000).has_value());
  EXPECT_TRUE(c.closed());
}

TEST_F(EngineTest, UnknownFrameTypesAreAnsweredOrIgnored) {
  TestClient c(port());
  c.Send(native::EncodeFrame(static_cast<FrameType>(0x3E), 0, 8, ""));
  auto f = c.Recv();
  ASSERT_TRUE(f.has_value());
  native::ErrorResponse e;
  ASSERT_TRUE(native::DecodeBody(f->body, &e).ok());
  EXPECT_EQ(e.code, ErrorCode::kUnknownType);
  c.Send(native::EncodeFrame(static_cast<FrameType>(0xBE), 0, 9, ""));  // Ignorable: no answer.
  auto list = c.Call<native::ListStreamsResponse>(native::ListStreamsRequest{});
  EXPECT_TRUE(list.streams.empty());
}

TEST_F(EngineTest, LongPollAnswersAsSoonAsRecordsAreDurable) {
  TestClient reader(port());
  Create(reader, "lp", 1);
  native::FetchRequest f;
  f.stream = "lp";
  f.from = native::FetchRequest::From::kOffset;
  f.max_wait_ms = 20'000;
  const auto start = std::chrono::steady_clock::now();
  reader.Send(native::EncodeMessage(f, 500));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TestClient writer(port());
  Produce(writer, "lp", 0, {MakeBatch(2, "w")});
  auto resp = reader.Recv();
  ASSERT_TRUE(resp.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  auto r = native::DecodeMessage<native::FetchResponse>(*resp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values(*r), (std::vector<std::string>{"w0", "w1"}));
  // With nothing to read, a short poll returns empty after its wait.
  auto empty = FetchFrom(reader, "lp", 0, 2, 200);
  EXPECT_TRUE(empty.batches.empty());
  EXPECT_FALSE(empty.next_iterator.empty());
}

TEST_F(EngineTest, SubscriptionPushesNewBatchesAndEndsWithChildrenAfterASplit) {
  TestClient sub(port());
  Create(sub, "sub", 1);
  TestClient writer(port());
  Produce(writer, "sub", 0, {MakeBatch(1, "before")});
  native::SubscribeRequest s;
  s.stream = "sub";
  s.position.type = native::StartingPosition::Type::kTrimHorizon;
  sub.Send(native::EncodeMessage(s, 700));
  auto ack = sub.Recv();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->header.type, FrameType::kAck);
  std::vector<std::string> seen;
  auto collect = [&](int want) {
    while (static_cast<int>(seen.size()) < want) {
      auto f = sub.Recv();
      ASSERT_TRUE(f.has_value());
      ASSERT_EQ(f->header.correlation_id, 700u);
      auto r = native::DecodeMessage<native::FetchResponse>(*f);
      ASSERT_TRUE(r.ok());
      for (auto& v : Values(*r)) seen.push_back(v);
    }
  };
  collect(1);
  Produce(writer, "sub", 0, {MakeBatch(2, "after")});
  collect(3);
  EXPECT_EQ(seen, (std::vector<std::string>{"before0", "after0", "after1"}));
  // Splitting closes the shard: the last push has no next iterator and names the children.
  writer.Call<native::Ack>(native::SplitShardRequest{"sub", 0, "1000"});
  for (;;) {
    auto f = sub.Recv();
    ASSERT_TRUE(f.has_value());
    auto r = native::DecodeMessage<native::FetchResponse>(*f);
    ASSERT_TRUE(r.ok());
    if (r->next_iterator.empty()) {
      EXPECT_EQ(f->header.flags & native::kFlagMore, 0);
      EXPECT_EQ(r->child_shards, (std::vector<uint32_t>{1, 2}));
      break;
    }
  }
}

TEST_F(EngineTest, SlowSubscriberDoesNotMakeTheBrokerBufferWithoutBound) {
  EngineOptions o;
  o.max_frame_bytes = 1 << 20;
  o.max_connection_bytes = 2 << 20;
  Restart(o);
  TestClient sub(port());
  Create(sub, "slow", 1);
  native::SubscribeRequest s;
  s.stream = "slow";
  s.max_bytes_per_push = 256 << 10;
  sub.Send(native::EncodeMessage(s, 42));
  ASSERT_TRUE(sub.Recv().has_value());  // Ack; then the subscriber stops reading.
  TestClient writer(port());
  constexpr int kBatches = 160;  // 160 × ~100 KiB = 16 MiB, 8× the connection cap.
  const std::string value(1000, 'v');
  for (int i = 0; i < kBatches; ++i) {
    log::RecordBatchBuilder b;
    for (int r = 0; r < 100; ++r) b.Add("k", value, 0);
    auto batch = b.Finish();
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(Produce(writer, "slow", 0, {*batch}).results[0].code, ErrorCode::kOk);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Held for the subscriber: at most about the cap plus one push, not the 16 MiB written.
  EXPECT_LT(engine_->peak_connection_bytes(), size_t{4} << 20);
  // Reading resumes the pushes; nothing was lost.
  size_t records = 0;
  while (records < kBatches * 100u) {
    auto f = sub.Recv();
    ASSERT_TRUE(f.has_value()) << records;
    auto r = native::DecodeMessage<native::FetchResponse>(*f);
    ASSERT_TRUE(r.ok());
    records += Values(*r).size();
  }
  EXPECT_EQ(records, kBatches * 100u);
}

TEST_F(EngineTest, ProducerThatNeverReadsIsPushedBackByTcp) {
  EngineOptions o;
  o.max_frame_bytes = 1 << 20;
  o.max_connection_bytes = 2 << 20;
  Restart(o);
  TestClient c(port());
  Create(c, "fast", 1);
  // Pipelined fetches whose replies (up to 512 KiB each) are never read.
  native::ProduceRequest p;
  p.stream = "fast";
  log::RecordBatchBuilder b;
  for (int r = 0; r < 100; ++r) b.Add("k", std::string(1000, 'v'), 0);
  p.batches = {*b.Finish()};
  ASSERT_EQ(c.Call<native::ProduceResponse>(p).results[0].code, ErrorCode::kOk);
  std::atomic<int> sent{0};
  std::thread sender([&] {
    native::FetchRequest f;
    f.stream = "fast";
    f.from = native::FetchRequest::From::kOffset;
    f.max_bytes = 512 << 10;
    const std::string frame = native::EncodeMessage(f, 9);
    // 500 000 × ~50 bytes is far more than the kernel's socket buffers hold.
    for (int i = 0; i < 500'000; ++i) {
      if (!c.SendWithTimeout(frame, 1000)) break;
      sent++;
    }
  });
  sender.join();
  // TCP stopped the sender: the broker read only what its cap allowed.
  EXPECT_LT(sent.load(), 500'000);
  EXPECT_LT(engine_->peak_connection_bytes(), size_t{4} << 20);
}

TEST_F(EngineTest, StateOfDeletedStreamsIsReleased) {
  TestClient c(port());
  Create(c, "gone", 2);
  Create(c, "kept", 1);
  for (uint32_t s = 0; s < 2; ++s) Produce(c, "gone", s, {MakeBatch(1)});
  Produce(c, "kept", 0, {MakeBatch(1)});
  EXPECT_EQ(engine_->shard_owner_count(), 3u);
  c.Call<native::Ack>(native::DeleteStreamRequest{"gone"});
  // Within a sweep (once a second) the deleted stream's shards are dropped, not the others.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine_->shard_owner_count() != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(engine_->shard_owner_count(), 1u);
  // A stream created again under the name starts afresh.
  Create(c, "gone", 1);
  auto r = Produce(c, "gone", 0, {MakeBatch(1)});
  ASSERT_EQ(r.results[0].code, ErrorCode::kOk);
  EXPECT_EQ(ParseSequenceNumber(r.results[0].first_sequence)->offset.value(), 0u);
  EXPECT_EQ(Produce(c, "kept", 0, {MakeBatch(1)}).results[0].code, ErrorCode::kOk);
}

TEST_F(EngineTest, IdleConnectionsAreClosed) {
  EngineOptions o;
  o.idle_timeout_ms = 1000;
  Restart(o);
  TestClient c(port());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c.Recv(5000).has_value());
  EXPECT_TRUE(c.closed());
}

TEST_F(EngineTest, StopAnswersRequestsAlreadyRead) {
  TestClient c(port());
  Create(c, "stop", 2);
  // One send, so the server reads all 50 requests before it answers the first.
  std::string all;
  for (int i = 0; i < 50; ++i) {
    native::ProduceRequest p;
    p.stream = "stop";
    p.selector.shard_id = static_cast<uint32_t>(i % 2);
    p.batches = {MakeBatch(5)};
    all += native::EncodeMessage(p, 2000 + i);
  }
  c.Send(all);
  // Every request gets its answer before the connection closes.
  int answered = 0;
  std::thread stopper;
  while (answered < 50) {
    auto f = c.Recv();
    if (!f) break;
    EXPECT_EQ(f->header.type, FrameType::kProduceResponse);
    ++answered;
    if (answered == 1) stopper = std::thread([this] { EXPECT_TRUE(engine_->Stop().ok()); });
  }
  EXPECT_EQ(answered, 50);
  if (stopper.joinable()) stopper.join();
  EXPECT_FALSE(c.Recv(5000).has_value());
  EXPECT_TRUE(c.closed());
}

}  // namespace
}  // namespace sluice::broker
