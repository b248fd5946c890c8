// SPDX-License-Identifier: Apache-2.0
// The real sluiced over loopback: records produced by partition key come back, by iterator, on
// the shard that owns each key's hash, once each and in per-shard order.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/hash_key.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

class SluicedProduceFetchTest : public ::testing::Test {
 protected:
  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedProduceFetchTest, RecordsComeBackByIteratorInPerShardOrder) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(Exchange<native::Ack>(c, native::CreateStreamRequest{"rt", 4, 24}).ok());
  auto described = Exchange<native::DescribeStreamResponse>(c, native::DescribeStreamRequest{"rt"});
  ASSERT_TRUE(described.ok());
  ASSERT_EQ(described.response->shards.size(), 4u);

  // 300 requests over 40 partition keys, 1..3 records each; values are unique.
  struct Sent {
    std::string key;
    std::vector<std::string> values;
    uint32_t shard = 0;
    uint64_t first = 0;
    uint64_t last = 0;
  };
  std::vector<Sent> sent;
  for (int i = 0; i < 300; ++i) {
    Sent s;
    s.key = "pk-" + std::to_string(i % 40);
    std::vector<std::pair<std::string, std::string>> records;
    for (int r = 0; r <= i % 3; ++r) {
      s.values.push_back(s.key + "/" + std::to_string(i) + "." + std::to_string(r));
      records.emplace_back(s.key, s.values.back());
    }
    native::ProduceRequest p;
    p.stream = "rt";
    p.selector.kind = native::ShardSelector::Kind::kPartitionKey;
    p.selector.partition_key = s.key;
    p.batches = {BuildBatch(records)};
    auto answer = Exchange<native::ProduceResponse>(c, p);
    ASSERT_TRUE(answer.ok()) << (answer.error ? answer.error->message : "no answer");
    ASSERT_EQ(answer.response->results.size(), 1u);
    const native::ProduceResult& r = answer.response->results[0];
    ASSERT_EQ(r.code, native::ErrorCode::kOk) << r.message;
    s.shard = r.shard_id;
    s.first = Seq(r.first_sequence).offset.value();
    s.last = Seq(r.last_sequence).offset.value();
    EXPECT_EQ(Seq(r.first_sequence).shard.value(), s.shard);
    EXPECT_EQ(s.last - s.first + 1, s.values.size());
    sent.push_back(std::move(s));
  }

  // Each key went to the shard whose hash-key range holds MD5(key).
  for (const Sent& s : sent) {
    const broker::HashKey h = broker::HashKeyFromPartitionKey(s.key);
    int owners = 0;
    for (const native::ShardDescription& d : described.response->shards) {
      auto lo = broker::HashKey::FromDecimal(d.starting_hash_key);
      auto hi = broker::HashKey::FromDecimal(d.ending_hash_key);
      ASSERT_TRUE(lo && hi);
      if (*lo <= h && h <= *hi) {
        ++owners;
        EXPECT_EQ(d.shard_id, s.shard) << s.key;
      }
    }
    EXPECT_EQ(owners, 1) << s.key;
  }

  // What each shard must hold, in acknowledgement order (one connection, one request at a
  // time: acknowledgement order is append order).
  std::map<uint32_t, std::vector<std::pair<uint64_t, std::string>>> expected;
  for (const Sent& s : sent) {
    for (size_t r = 0; r < s.values.size(); ++r) {
      expected[s.shard].emplace_back(s.first + r, s.values[r]);
    }
  }
  EXPECT_EQ(expected.size(), 4u) << "40 keys should reach all 4 shards";
  for (uint32_t shard = 0; shard < 4; ++shard) {
    // Small Fetches, so that reading takes many iterator steps.
    ShardContents got = ReadShard(c, "rt", shard, /*max_bytes=*/512);
    EXPECT_FALSE(got.closed);
    std::vector<std::pair<uint64_t, std::string>> actual;
    for (const StoredRecord& r : got.records) actual.emplace_back(r.offset, r.value);
    EXPECT_EQ(actual, expected[shard]) << "shard " << shard;
  }
  EXPECT_EQ(daemon_.Terminate(), 0);
  EXPECT_NE(daemon_.Stderr().find(" event=stopped exit=0"), std::string::npos);
}

}  // namespace
}  // namespace sluice::integration
