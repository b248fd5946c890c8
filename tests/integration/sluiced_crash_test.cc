// SPDX-License-Identifier: Apache-2.0
// kill -9 under load: with --fsync always, every Produce the daemon acknowledged survives a
// SIGKILL, exactly once, in its batch's place; nothing is ever stored twice and no batch is
// stored in part.
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

constexpr uint32_t kShards = 4;
constexpr int kProducers = 4;
constexpr size_t kInFlight = 8;  // Pipelined Produce requests per connection.
constexpr auto kLoad = std::chrono::milliseconds(2000);

// One Produce request: one batch of `values` (unique across the test) for `shard`.
struct Request {
  uint32_t shard = 0;
  std::vector<std::string> values;
  bool acked = false;
  uint64_t first = 0;  // Acknowledged offsets, when acked.
  uint64_t last = 0;
};

// Keeps kInFlight requests outstanding on its own connection until the connection dies (the
// daemon is killed) or `stop` is set, recording every request and every acknowledgement.
void Produce(uint16_t port, int producer, const std::atomic<bool>* stop,
             std::vector<Request>* requests, int* errors) {
  TestClient c(port);
  if (!c.ok()) {
    ADD_FAILURE() << "producer " << producer << " cannot connect";
    return;
  }
  std::mt19937 rng(static_cast<uint32_t>(producer));
  std::map<uint64_t, size_t> in_flight;  // Correlation id → index in *requests.
  for (;;) {
    while (!stop->load() && in_flight.size() < kInFlight) {
      Request r;
      r.shard = static_cast<uint32_t>(rng() % kShards);
      std::vector<std::pair<std::string, std::string>> records;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) {
        r.values.push_back("p" + std::to_string(producer) + "-" + std::to_string(requests->size()) +
                           "-" + std::to_string(i));
        records.emplace_back("k", r.values.back());
      }
      native::ProduceRequest p;
      p.stream = "crash";
      p.selector.shard_id = r.shard;
      p.batches = {BuildBatch(records)};
      const uint64_t corr = c.NextCorrelation();
      in_flight[corr] = requests->size();
      requests->push_back(std::move(r));
      c.Send(native::EncodeMessage(p, corr));
    }
    if (in_flight.empty()) return;
    std::optional<native::Frame> f = c.Recv(5'000);
    if (!f) return;  // Killed (or, if stop is not set yet, the test fails on the counts).
    auto it = in_flight.find(f->header.correlation_id);
    if (it == in_flight.end()) {
      ADD_FAILURE() << "answer to unknown correlation id " << f->header.correlation_id;
      return;
    }
    Request& r = (*requests)[it->second];
    in_flight.erase(it);
    Answer<native::ProduceResponse> a = DecodeAnswer<native::ProduceResponse>(*f);
    if (!a.ok() || a.response->results.size() != 1 ||
        a.response->results[0].code != native::ErrorCode::kOk) {
      ++*errors;
      continue;
    }
    const native::ProduceResult& res = a.response->results[0];
    const broker::SequenceNumberParts first = Seq(res.first_sequence);
    const broker::SequenceNumberParts last = Seq(res.last_sequence);
    EXPECT_EQ(res.shard_id, r.shard);
    EXPECT_EQ(first.shard.value(), r.shard);
    r.acked = true;
    r.first = first.offset.value();
    r.last = last.offset.value();
  }
}

class SluicedCrashTest : public ::testing::Test {
 protected:
  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data"), {"--fsync", "always"}};
};

TEST_F(SluicedCrashTest, AcknowledgedRecordsSurviveKillNineExactlyOnce) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  {
    TestClient admin(daemon_.native_port());
    ASSERT_TRUE(
        Exchange<native::Ack>(admin, native::CreateStreamRequest{"crash", kShards, 24}).ok());
  }
  std::atomic<bool> stop{false};
  std::vector<std::vector<Request>> requests(kProducers);
  std::vector<int> errors(kProducers, 0);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back(Produce, daemon_.native_port(), p, &stop, &requests[p], &errors[p]);
  }
  std::this_thread::sleep_for(kLoad);
  daemon_.Kill();  // SIGKILL mid-load: every producer still has requests in flight.
  stop = true;
  for (std::thread& t : producers) t.join();

  size_t sent = 0;
  size_t acked = 0;
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(errors[p], 0) << "producer " << p;
    for (const Request& r : requests[p]) {
      ++sent;
      acked += r.acked ? 1 : 0;
    }
  }
  EXPECT_GT(acked, 100u) << "too little load to mean anything";
  EXPECT_GT(sent, acked) << "nothing was in flight at the kill";

  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  std::map<std::string, std::vector<StoredRecord>> by_value;
  std::vector<uint64_t> next_offset(kShards, 0);
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    ShardContents got = ReadShard(c, "crash", shard, 256u << 10);
    EXPECT_FALSE(got.closed);
    for (size_t i = 0; i < got.records.size(); ++i) {
      if (i > 0) {
        EXPECT_GT(got.records[i].offset, got.records[i - 1].offset) << "shard " << shard;
      }
      by_value[got.records[i].value].push_back(got.records[i]);
    }
    if (!got.records.empty()) next_offset[shard] = got.records.back().offset + 1;
  }
  size_t duplicated = 0;
  for (const auto& [value, copies] : by_value) {
    if (copies.size() > 1) ++duplicated;
  }
  EXPECT_EQ(duplicated, 0u) << "records stored more than once";

  size_t lost = 0;
  size_t partial = 0;
  size_t misplaced = 0;
  size_t recovered_unacked = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (const Request& r : requests[p]) {
      size_t present = 0;
      for (const std::string& v : r.values) present += by_value.contains(v) ? 1 : 0;
      if (present != 0 && present != r.values.size()) ++partial;  // Batches are atomic.
      if (present == 0) {
        lost += r.acked ? 1 : 0;
        continue;
      }
      recovered_unacked += r.acked ? 0 : 1;
      // The batch's records sit together, in order, on its shard (at the acknowledged
      // offsets when acknowledged).
      const StoredRecord& head = by_value[r.values[0]][0];
      for (size_t i = 0; i < r.values.size(); ++i) {
        auto found = by_value.find(r.values[i]);
        if (found == by_value.end()) continue;
        const StoredRecord& rec = found->second[0];
        const bool in_place = rec.shard == r.shard && rec.offset == head.offset + i &&
                              (!r.acked || rec.offset == r.first + i);
        if (!in_place) ++misplaced;
      }
      if (r.acked) {
        EXPECT_EQ(r.last - r.first + 1, r.values.size());
      }
    }
  }
  EXPECT_EQ(lost, 0u) << "acknowledged batches missing after kill -9";
  EXPECT_EQ(partial, 0u) << "batches stored in part";
  EXPECT_EQ(misplaced, 0u) << "records not at their batch's place";
  std::printf(
      "sent %zu requests, %zu acknowledged, %zu unacknowledged ones recovered, %zu "
      "records read back\n",
      sent, acked, recovered_unacked, by_value.size());

  // The recovered logs take new appends right after their last record.
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    native::ProduceRequest p;
    p.stream = "crash";
    p.selector.shard_id = shard;
    p.batches = {BuildBatch({{"k", "after-" + std::to_string(shard)}})};
    Answer<native::ProduceResponse> a = Exchange<native::ProduceResponse>(c, p);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a.response->results[0].code, native::ErrorCode::kOk)
        << a.response->results[0].message;
    EXPECT_EQ(Seq(a.response->results[0].first_sequence).offset.value(), next_offset[shard]);
  }
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
