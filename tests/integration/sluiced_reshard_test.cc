// SPDX-License-Identifier: Apache-2.0
// Resharding under a live producer: a split, a merge and an UpdateShardCount while records are
// routed by partition key; every key's records read parents-first are its acknowledged
// counters, strictly increasing, without gaps or duplicates, with increasing sequence numbers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "broker/hash_key.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

constexpr int kKeys = 20;
constexpr auto kStep = std::chrono::milliseconds(300);
constexpr int kMaxRetries = 200;

struct ProducerResult {
  std::vector<std::vector<uint64_t>> acked = std::vector<std::vector<uint64_t>>(kKeys);
  int retries = 0;
};

// Writes "k<i>" = "k<i>:<counter>" for keys in turn, one request at a time, until `stop`.
// A batch refused because its shard closed under it (kAborted "... is closed (resharded ...")
// is sent again after a DescribeStream; the daemon routes it to the child.
void ProduceByKey(uint16_t port, const std::atomic<bool>* stop, ProducerResult* out) {
  TestClient c(port);
  if (!c.ok()) {
    ADD_FAILURE() << "producer cannot connect";
    return;
  }
  std::vector<uint64_t> counter(kKeys, 0);
  for (int n = 0; !stop->load(); ++n) {
    const int k = n % kKeys;
    const std::string key = "k" + std::to_string(k);
    const uint64_t value = ++counter[k];
    native::ProduceRequest p;
    p.stream = "rs";
    p.selector.kind = native::ShardSelector::Kind::kPartitionKey;
    p.selector.partition_key = key;
    p.batches = {BuildBatch({{key, key + ":" + std::to_string(value)}})};
    for (int attempt = 0;; ++attempt) {
      if (attempt == kMaxRetries) {
        ADD_FAILURE() << key << ":" << value << " still refused after " << attempt << " tries";
        return;
      }
      Answer<native::ProduceResponse> a = Exchange<native::ProduceResponse>(c, p);
      native::ErrorCode code = native::ErrorCode::kOk;
      std::string message;
      if (a.ok()) {
        if (a.response->results.size() != 1) {
          ADD_FAILURE() << "one batch, " << a.response->results.size() << " results";
          return;
        }
        code = a.response->results[0].code;
        message = a.response->results[0].message;
      } else if (a.error) {
        code = a.error->code;
        message = a.error->message;
      } else {
        ADD_FAILURE() << "no answer to " << key << ":" << value;
        return;
      }
      if (code == native::ErrorCode::kOk) {
        out->acked[k].push_back(value);
        break;
      }
      if (code != native::ErrorCode::kAborted || message.find("closed") == std::string::npos) {
        ADD_FAILURE() << key << ":" << value << " refused: " << static_cast<int>(code) << " "
                      << message;
        return;
      }
      ++out->retries;
      Exchange<native::DescribeStreamResponse>(c, native::DescribeStreamRequest{"rs"});
    }
  }
}

class SluicedReshardTest : public ::testing::Test {
 protected:
  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedReshardTest, PerKeyOrderSurvivesSplitMergeAndScaling) {
  ASSERT_TRUE(daemon_.StartAndWaitReady({"--fsync", "never"}));
  TestClient admin(daemon_.native_port());
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(Exchange<native::Ack>(admin, native::CreateStreamRequest{"rs", 2, 24}).ok());
  auto before =
      Exchange<native::DescribeStreamResponse>(admin, native::DescribeStreamRequest{"rs"});
  ASSERT_TRUE(before.ok());
  // Split shard 0 in the middle of its range.
  auto lo = broker::HashKey::FromDecimal(before.response->shards[0].starting_hash_key);
  auto hi = broker::HashKey::FromDecimal(before.response->shards[0].ending_hash_key);
  ASSERT_TRUE(lo && hi);
  const std::string middle =
      broker::HashKey(lo->value() + (hi->value() - lo->value()) / 2 + 1).ToString();

  std::atomic<bool> stop{false};
  ProducerResult produced;
  std::thread producer(ProduceByKey, daemon_.native_port(), &stop, &produced);
  auto control = [&](const auto& request) {
    std::this_thread::sleep_for(kStep);
    auto a = Exchange<native::Ack>(admin, request);
    EXPECT_TRUE(a.ok()) << (a.error ? a.error->message : "no answer");
  };
  control(native::SplitShardRequest{"rs", 0, middle});  // 0 → 2 + 3; open: 1, 2, 3.
  control(native::MergeShardsRequest{"rs", 2, 3});      // 2 + 3 → 4; open: 1, 4.
  control(native::UpdateShardCountRequest{"rs", 3});    // Splits 1 and 4, merges a pair.
  std::this_thread::sleep_for(kStep);
  stop = true;
  producer.join();
  std::printf("%d retries after a shard closed under the producer\n", produced.retries);

  auto after = Exchange<native::DescribeStreamResponse>(admin, native::DescribeStreamRequest{"rs"});
  ASSERT_TRUE(after.ok());
  std::map<uint32_t, native::ShardDescription> shards;
  std::map<uint32_t, std::set<uint32_t>> children;
  size_t open = 0;
  for (const native::ShardDescription& d : after.response->shards) {
    shards[d.shard_id] = d;
    for (uint32_t parent : d.parent_shards) children[parent].insert(d.shard_id);
    open += d.ending_sequence.empty() ? 1 : 0;
  }
  EXPECT_EQ(open, 3u);

  // Parents first: a shard is read once all of its parents have been.
  std::vector<uint32_t> order;
  std::set<uint32_t> done;
  while (order.size() < shards.size()) {
    const size_t progress = order.size();
    for (const auto& [id, d] : shards) {
      if (done.contains(id)) continue;
      if (std::all_of(d.parent_shards.begin(), d.parent_shards.end(),
                      [&](uint32_t p) { return done.contains(p); })) {
        order.push_back(id);
        done.insert(id);
      }
    }
    ASSERT_GT(order.size(), progress) << "parent relation has a cycle or a missing parent";
  }

  using Position = std::tuple<uint32_t, uint32_t, uint64_t>;  // Generation, shard, offset.
  std::vector<std::vector<uint64_t>> read(kKeys);
  std::vector<std::vector<Position>> positions(kKeys);
  std::vector<std::set<uint32_t>> shards_of_key(kKeys);
  for (uint32_t id : order) {
    const native::ShardDescription& d = shards[id];
    ShardContents got = ReadShard(admin, "rs", id);
    // A closed shard ends with its children, as DescribeStream names them.
    EXPECT_EQ(got.closed, !d.ending_sequence.empty()) << "shard " << id;
    if (got.closed) {
      EXPECT_EQ(std::set<uint32_t>(got.child_shards.begin(), got.child_shards.end()), children[id])
          << "shard " << id;
    }
    const uint32_t generation = Seq(d.starting_sequence).generation.value();
    auto range_lo = broker::HashKey::FromDecimal(d.starting_hash_key);
    auto range_hi = broker::HashKey::FromDecimal(d.ending_hash_key);
    ASSERT_TRUE(range_lo && range_hi);
    for (const StoredRecord& r : got.records) {
      const size_t colon = r.value.find(':');
      ASSERT_NE(colon, std::string::npos) << r.value;
      ASSERT_EQ(r.key, r.value.substr(0, colon));
      const int k = std::stoi(r.key.substr(1));
      ASSERT_TRUE(k >= 0 && k < kKeys) << r.key;
      const broker::HashKey h = broker::HashKeyFromPartitionKey(r.key);
      EXPECT_TRUE(*range_lo <= h && h <= *range_hi) << r.key << " on shard " << id;
      read[k].push_back(std::stoull(r.value.substr(colon + 1)));
      positions[k].emplace_back(generation, id, r.offset);
      shards_of_key[k].insert(id);
    }
  }

  size_t moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_FALSE(produced.acked[k].empty()) << "k" << k;
    // Every acknowledged counter, 1..N without a gap, each once, in order.
    EXPECT_EQ(produced.acked[k].back(), produced.acked[k].size()) << "k" << k;
    EXPECT_EQ(read[k], produced.acked[k]) << "k" << k;
    EXPECT_TRUE(std::is_sorted(positions[k].begin(), positions[k].end()) &&
                std::adjacent_find(positions[k].begin(), positions[k].end()) == positions[k].end())
        << "k" << k << ": sequence numbers do not increase";
    moved += shards_of_key[k].size() > 1 ? 1 : 0;
  }
  EXPECT_GT(moved, 0u) << "no key's records crossed a reshard";
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
