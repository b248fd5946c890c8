// SPDX-License-Identifier: Apache-2.0
// Engine review: regressions for defects found reviewing broker/engine (flow control, idle
// accounting, graceful stop).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/engine/engine.h"
#include "log/io/file.h"
#include "tests/broker/engine_fixture.h"

namespace sluice::broker {
namespace {

using native::ErrorCode;
using native::FrameType;
using testing::MakeBatch;
using testing::TestClient;

using EngineReviewTest = testing::EngineFixture;

// The log returns at least one whole batch whatever max_bytes says: when HandleFetch reserved
// only body + max_bytes, pipelined fetches with max_bytes = 1 (~50 bytes each, answered with
// ~100 KiB) ran far past the cap.
TEST_F(EngineReviewTest, FetchesWithTinyMaxBytesStillRespectTheConnectionCap) {
  EngineOptions o;
  o.max_frame_bytes = 1 << 20;
  o.max_connection_bytes = 2 << 20;
  Start(o);
  TestClient c(port());
  c.Call<native::Ack>(native::CreateStreamRequest{"tiny", 1, 24});
  native::ProduceRequest p;
  p.stream = "tiny";
  log::RecordBatchBuilder b;
  for (int r = 0; r < 100; ++r) b.Add("k", std::string(1000, 'v'), 0);
  p.batches = {*b.Finish()};
  ASSERT_EQ(c.Call<native::ProduceResponse>(p).results[0].code, ErrorCode::kOk);
  native::FetchRequest f;
  f.stream = "tiny";
  f.from = native::FetchRequest::From::kOffset;
  f.max_bytes = 1;
  const std::string frame = native::EncodeMessage(f, 9);
  for (int i = 0; i < 20'000; ++i) {
    if (!c.SendWithTimeout(frame, 1000)) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(engine_->peak_connection_bytes(), size_t{4} << 20);
}

// HandleSubscribe increments active_waits; nothing ever decrements it, so a connection whose
// subscription ended (here: the shard was closed by a split) is never closed as idle.
TEST_F(EngineReviewTest, ConnectionWhoseSubscriptionEndedIsClosedWhenIdle) {
  EngineOptions o;
  o.idle_timeout_ms = 1000;
  Start(o);
  TestClient admin(port());
  admin.Call<native::Ack>(native::CreateStreamRequest{"s", 1, 24});
  admin.Call<native::Ack>(native::SplitShardRequest{"s", 0, "1000"});
  TestClient sub(port());
  native::SubscribeRequest s;
  s.stream = "s";
  s.position.type = native::StartingPosition::Type::kTrimHorizon;
  sub.Send(native::EncodeMessage(s, 5));
  auto ack = sub.Recv();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->header.type, FrameType::kAck);
  auto last = sub.Recv();  // The closed shard's end: no iterator, the children.
  ASSERT_TRUE(last.has_value());
  auto r = native::DecodeMessage<native::FetchResponse>(*last);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->next_iterator.empty());
  // The subscription is over; the connection is now idle and should close within ~2 s.
  EXPECT_FALSE(sub.Recv(5000).has_value());
  EXPECT_TRUE(sub.closed());
}

// Stop drains the owners of reactor 0 before reactor 1.. stop reading: a client whose long
// poll was just answered by Drain sends the next one, which parks on an already-drained owner
// for up to 60 s; Stop then waits its full 10 s deadline for it (and never answers it).
TEST_F(EngineReviewTest, StopIsPromptWhileClientsLongPollInALoop) {
  for (int round = 0; round < 4; ++round) {
    EngineOptions o;
    o.threads = 4;
    Start(o);
    TestClient admin(port());
    const std::string stream = "lp" + std::to_string(round);  // The data dir is reused.
    admin.Call<native::Ack>(native::CreateStreamRequest{stream, 4, 24});
    std::atomic<bool> done{false};
    std::vector<std::thread> pollers;
    for (int i = 0; i < 8; ++i) {
      pollers.emplace_back([&, i] {
        TestClient c(port());
        native::FetchRequest f;
        f.stream = stream;
        f.shard_id = static_cast<uint32_t>(i % 4);
        f.from = native::FetchRequest::From::kOffset;
        f.max_wait_ms = 60'000;
        const std::string frame = native::EncodeMessage(f, 77);
        while (!done.load()) {
          c.Send(frame);
          if (!c.Recv(20'000).has_value()) break;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(engine_->Stop().ok());
    const auto took = std::chrono::steady_clock::now() - t0;
    done = true;
    for (auto& t : pollers) t.join();
    EXPECT_LT(took, std::chrono::seconds(5)) << "round " << round;
    Shutdown();
    if (took >= std::chrono::seconds(5)) break;
  }
}

}  // namespace
}  // namespace sluice::broker
