// SPDX-License-Identifier: Apache-2.0
// Idempotent producers through the real daemon: a batch whose response was lost (the client
// closed without reading it) is sent again on a new connection, and again after a restart; the
// retry gets the sequence numbers of the original append and the log holds the batch once;
// the same after a SIGTERM restart and after kill -9.
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

constexpr uint64_t kProducer = 0x5EED;

class SluicedIdempotenceTest : public ::testing::Test {
 protected:
  // Produce batch `seq` of kProducer: records "s<seq>-0", "s<seq>-1" on shard 0 of "idem".
  static native::ProduceRequest Batch(uint64_t seq) {
    native::ProduceRequest p;
    p.stream = "idem";
    p.producer = native::ProducerStamp{kProducer, seq};
    const std::string s = "s" + std::to_string(seq) + "-";
    p.batches = {BuildBatch({{"k", s + "0"}, {"k", s + "1"}}, p.producer)};
    return p;
  }
  static native::ProduceResult Send(TestClient& c, uint64_t seq) {
    Answer<native::ProduceResponse> a = Exchange<native::ProduceResponse>(c, Batch(seq));
    EXPECT_TRUE(a.ok()) << (a.error ? a.error->message : "no answer");
    if (!a.ok() || a.response->results.size() != 1) return {};
    EXPECT_EQ(a.response->results[0].code, native::ErrorCode::kOk)
        << a.response->results[0].message;
    return a.response->results[0];
  }
  // value → every copy in the log.
  std::map<std::string, std::vector<StoredRecord>> Log() {
    TestClient c(daemon_.native_port());
    std::map<std::string, std::vector<StoredRecord>> out;
    for (const StoredRecord& r : ReadShard(c, "idem", 0).records) out[r.value].push_back(r);
    return out;
  }
  // Every value of batches 0..last is in the log exactly once, in order, with its stamp.
  void ExpectEachBatchOnce(uint64_t last) {
    std::map<std::string, std::vector<StoredRecord>> log = Log();
    size_t expected = 0;
    uint64_t offset = 0;
    for (uint64_t seq = 0; seq <= last; ++seq) {
      for (const char* i : {"0", "1"}) {
        const std::string v = "s" + std::to_string(seq) + "-" + i;
        ++expected;
        auto it = log.find(v);
        ASSERT_NE(it, log.end()) << v;
        ASSERT_EQ(it->second.size(), 1u) << v << " stored more than once";
        EXPECT_EQ(it->second[0].offset, offset++) << v;
        EXPECT_EQ(it->second[0].producer_id, kProducer) << v;
        EXPECT_EQ(it->second[0].producer_seq, seq) << v;
      }
    }
    EXPECT_EQ(log.size(), expected);
  }

  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedIdempotenceTest, RetryOfABatchWhoseResponseWasLostIsNotAppendedAgain) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  constexpr uint64_t kLost = 5;
  {
    TestClient c(daemon_.native_port());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(Exchange<native::Ack>(c, native::CreateStreamRequest{"idem", 1, 24}).ok());
    for (uint64_t seq = 0; seq < kLost; ++seq) Send(c, seq);
  }
  {
    // Batch kLost, then close at once without reading: its response is lost.
    TestClient lossy(daemon_.native_port());
    ASSERT_TRUE(lossy.ok());
    lossy.Send(native::EncodeMessage(Batch(kLost), lossy.NextCorrelation()));
  }
  // The original append lands (bounded wait), so the retry below really is a duplicate.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::map<std::string, std::vector<StoredRecord>> log = Log();
  while (!log.contains("s5-1") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = Log();
  }
  ASSERT_TRUE(log.contains("s5-0") && log.contains("s5-1")) << "the lost batch never landed";
  const uint64_t original_first = log["s5-0"][0].offset;
  const uint64_t original_last = log["s5-1"][0].offset;

  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  const native::ProduceResult retry = Send(c, kLost);
  EXPECT_EQ(retry.shard_id, 0u);
  EXPECT_EQ(Seq(retry.first_sequence).offset.value(), original_first);
  EXPECT_EQ(Seq(retry.last_sequence).offset.value(), original_last);
  EXPECT_EQ(Send(c, kLost), retry);  // And again: the same answer.
  ExpectEachBatchOnce(kLost);

  // The next batch follows the original, not a second copy.
  const native::ProduceResult next = Send(c, kLost + 1);
  EXPECT_EQ(Seq(next.first_sequence).offset.value(), original_last + 1);

  // Across a restart the daemon rebuilds the producer's state from the log: resending the
  // last batch answers its original sequence numbers and appends nothing.
  ASSERT_EQ(daemon_.Terminate(), 0);
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient after(daemon_.native_port());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Send(after, kLost + 1), next);
  ExpectEachBatchOnce(kLost + 1);
  const native::ProduceResult fresh = Send(after, kLost + 2);
  EXPECT_EQ(Seq(fresh.first_sequence).offset.value(), original_last + 3);
  ExpectEachBatchOnce(kLost + 2);

  // And after kill -9 (recovery, not a clean close, rebuilds the state).
  daemon_.Kill();
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient recovered(daemon_.native_port());
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(Send(recovered, kLost + 2), fresh);
  ExpectEachBatchOnce(kLost + 2);
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
