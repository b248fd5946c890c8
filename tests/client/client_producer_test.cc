// SPDX-License-Identifier: Apache-2.0
// Producer against a real in-process engine: routing, batching, ordering, compression,
// idempotent retries after a lost response, rerouting after a split, validation.
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/client/admin.h"
#include "broker/client/producer.h"
#include "broker/client/shard_router.h"
#include "broker/hash_key.h"
#include "broker/sequence_number.h"
#include "tests/client/test_server.h"

namespace sluice::client {
namespace {

class ProducerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }

  void CreateStream(const std::string& name, uint32_t shards) {
    auto c = Connection::Open(server_.options());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE(Admin(c->get()).CreateStream(name, shards).ok());
  }
  StreamDescription Describe(const std::string& name) {
    auto c = Connection::Open(server_.options());
    EXPECT_TRUE(c.ok());
    auto d = Admin(c->get()).DescribeStream(name);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : StreamDescription{};
  }
  ProducerOptions Options() {
    ProducerOptions o;
    o.connection = server_.options();
    o.retry_backoff_ms = 10;
    return o;
  }
  std::unique_ptr<Producer> Open(ProducerOptions o) {
    auto p = Producer::Open(std::move(o));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  testing::TestServer server_;
};

// Sends `n` records "value-<i>" with keys "key-<i % keys>" and returns their results in order.
std::vector<SendResult> SendAll(Producer* p, const std::string& stream, int n, int keys) {
  std::vector<std::future<Result<SendResult>>> futures;
  for (int i = 0; i < n; ++i) {
    futures.push_back(
        p->Send(stream, "key-" + std::to_string(i % keys), "value-" + std::to_string(i)));
  }
  p->Flush();
  std::vector<SendResult> results;
  for (auto& f : futures) {
    auto r = f.get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) results.push_back(*r);
  }
  return results;
}

TEST_F(ProducerTest, TenThousandRecordsOverFourShardsReadBackInShardOrder) {
  CreateStream("events", 4);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  constexpr int kRecords = 10'000;
  auto results = SendAll(producer.get(), "events", kRecords, 977);
  ASSERT_EQ(results.size(), static_cast<size_t>(kRecords));

  // Routed as the broker routes: MD5 of the key against the described ranges.
  auto router = ShardRouter::FromDescription(Describe("events"));
  ASSERT_TRUE(router.ok());
  std::map<uint32_t, std::vector<int>> sent_per_shard;  // Record indexes in Send order.
  for (int i = 0; i < kRecords; ++i) {
    auto shard = router->Route("key-" + std::to_string(i % 977), std::nullopt);
    ASSERT_TRUE(shard.ok());
    EXPECT_EQ(results[i].shard, *shard) << i;
    sent_per_shard[results[i].shard.value()].push_back(i);
  }
  EXPECT_EQ(sent_per_shard.size(), 4u);

  // Sequence numbers grow with Send order within each shard.
  for (auto& [shard, idx] : sent_per_shard) {
    for (size_t k = 1; k < idx.size(); ++k) {
      EXPECT_EQ(broker::CompareSequenceNumbers(results[idx[k - 1]].sequence_number,
                                               results[idx[k]].sequence_number),
                std::strong_ordering::less);
    }
  }

  // An iterator reader sees every record once, each shard in Send order, with the same numbers.
  auto all = testing::ReadAll(server_.options(), "events");
  ASSERT_EQ(all.size(), static_cast<size_t>(kRecords));
  std::map<uint32_t, std::vector<const ReadRecord*>> read_per_shard;
  for (const auto& r : all) read_per_shard[r.shard.value()].push_back(&r);
  for (auto& [shard, idx] : sent_per_shard) {
    const auto& got = read_per_shard[shard];
    ASSERT_EQ(got.size(), idx.size()) << "shard " << shard;
    for (size_t k = 0; k < idx.size(); ++k) {
      EXPECT_EQ(got[k]->data, "value-" + std::to_string(idx[k]));
      EXPECT_EQ(got[k]->partition_key, "key-" + std::to_string(idx[k] % 977));
      EXPECT_EQ(got[k]->sequence_number, results[idx[k]].sequence_number);
      EXPECT_GT(got[k]->arrival_ms, 0);
    }
  }
  // Batching happened: far fewer requests than records.
  EXPECT_LT(producer->stats().requests, static_cast<uint64_t>(kRecords / 4));
}

TEST_F(ProducerTest, CompressedBatchesReadBackIntact) {
  CreateStream("z", 2);
  ProducerOptions o = Options();
  o.compress = true;
  o.zstd_level = 3;
  auto producer = Open(o);
  ASSERT_NE(producer, nullptr);
  std::vector<std::future<Result<SendResult>>> futures;
  const std::string payload(2000, 'x');
  for (int i = 0; i < 500; ++i) {
    futures.push_back(
        producer->Send("z", "k" + std::to_string(i % 7), std::to_string(i) + ":" + payload));
  }
  producer->Flush();
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  auto all = testing::ReadAll(server_.options(), "z");
  ASSERT_EQ(all.size(), 500u);
  std::set<std::string> seen;
  for (const auto& r : all) {
    EXPECT_EQ(r.data.substr(r.data.find(':') + 1), payload);
    seen.insert(r.data.substr(0, r.data.find(':')));
  }
  EXPECT_EQ(seen.size(), 500u);
}

// A response lost on the wire (the batch *was* appended) is retried with the same producer id
// and sequence after reconnecting; the server answers the retry with the original sequence
// numbers instead of appending again.
TEST_F(ProducerTest, RetryAfterLostResponseAppendsOnce) {
  CreateStream("idem", 2);
  ProducerOptions o = Options();
  o.linger_ms = 1;
  o.max_batch_records = 20;  // Many batches, several in flight per shard.
  std::atomic<int> dropped{0};
  o.testing_drop_response = [&](uint64_t ordinal) {
    if (ordinal == 2 || ordinal == 7) {
      ++dropped;
      return true;
    }
    return false;
  };
  auto producer = Open(o);
  ASSERT_NE(producer, nullptr);
  auto results = SendAll(producer.get(), "idem", 400, 13);
  ASSERT_EQ(results.size(), 400u);
  EXPECT_EQ(dropped.load(), 2);
  auto stats = producer->stats();
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_GE(stats.retries, 1u);
  EXPECT_EQ(stats.id_rotations, 0u);

  auto all = testing::ReadAll(server_.options(), "idem");
  ASSERT_EQ(all.size(), 400u) << "a retried batch was appended twice";
  std::map<std::string, std::string> seq_of_value;
  for (const auto& r : all) {
    EXPECT_TRUE(seq_of_value.emplace(r.data, r.sequence_number).second) << "dup " << r.data;
  }
  for (int i = 0; i < 400; ++i) {
    EXPECT_EQ(seq_of_value["value-" + std::to_string(i)], results[i].sequence_number) << i;
  }
}

TEST_F(ProducerTest, ConcurrentSendersKeepEachThreadsOrderPerKey) {
  CreateStream("mt", 3);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::future<Result<SendResult>>>> futures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        futures[t].push_back(producer->Send("mt", "thread-" + std::to_string(t),
                                            std::to_string(t) + "/" + std::to_string(i)));
      }
    });
  }
  for (auto& th : threads) th.join();
  producer->Flush();
  for (auto& fs : futures) {
    for (auto& f : fs) ASSERT_TRUE(f.get().ok());
  }
  std::map<std::string, int> last;  // Per key (thread), the last index read.
  auto all = testing::ReadAll(server_.options(), "mt");
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& r : all) {
    int i = std::stoi(r.data.substr(r.data.find('/') + 1));
    auto [it, fresh] = last.emplace(r.partition_key, i);
    if (!fresh) {
      EXPECT_EQ(i, it->second + 1) << r.partition_key;
      it->second = i;
    }
  }
}

TEST_F(ProducerTest, ExplicitHashKeyPicksTheShard) {
  CreateStream("eh", 4);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  auto low = producer->Send("eh", "any", "low", "0");
  auto high = producer->Send("eh", "any", "high", broker::HashKey::Max().ToString());
  producer->Flush();
  auto l = low.get();
  auto h = high.get();
  ASSERT_TRUE(l.ok() && h.ok());
  EXPECT_EQ(l->shard, ShardId(0));
  EXPECT_EQ(h->shard, ShardId(3));
}

TEST_F(ProducerTest, InvalidRecordsFailWithoutBeingSent) {
  CreateStream("v", 1);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  EXPECT_TRUE(producer->Send("v", "", "data").get().status().IsInvalidArgument());
  EXPECT_TRUE(producer->Send("v", std::string(257, 'k'), "d").get().status().IsInvalidArgument());
  EXPECT_TRUE(producer->Send("v", "k", "d", "12x").get().status().IsInvalidArgument());
  EXPECT_TRUE(
      producer->Send("v", "k", std::string((1 << 20) + 1, 'd')).get().status().IsInvalidArgument());
  EXPECT_TRUE(producer->Send("", "k", "d").get().status().IsInvalidArgument());
  EXPECT_EQ(producer->stats().requests, 0u);
}

TEST_F(ProducerTest, UnknownStreamFailsWithNotFound) {
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  auto r = producer->Send("nope", "k", "d").get();
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
}

TEST_F(ProducerTest, SendAfterCloseIsAborted) {
  CreateStream("c", 1);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->Send("c", "k", "before").get().ok());
  producer->Close();
  EXPECT_EQ(producer->Send("c", "k", "after").get().status().code(), Status::Code::kAborted);
}

// The stream's shard is split under a running producer: batches refused by the closed parent
// are routed again to the children (after describing the stream anew).
TEST_F(ProducerTest, ReroutesToChildrenAfterASplit) {
  CreateStream("rs", 1);
  auto producer = Open(Options());
  ASSERT_NE(producer, nullptr);
  auto before = SendAll(producer.get(), "rs", 100, 50);
  ASSERT_EQ(before.size(), 100u);
  const std::string mid = (broker::HashKey::FromParts(1ull << 63, 0)).ToString();
  {
    auto c = Connection::Open(server_.options());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(Admin(c->get()).SplitShard("rs", ShardId(0), mid).ok());
  }

  std::vector<std::future<Result<SendResult>>> futures;
  for (int i = 0; i < 200; ++i) {
    futures.push_back(
        producer->Send("rs", "key-" + std::to_string(i % 50), "after-" + std::to_string(i)));
  }
  producer->Flush();
  std::set<uint32_t> shards;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    shards.insert(r->shard.value());
  }
  EXPECT_EQ(shards, (std::set<uint32_t>{1, 2}));
  auto all = testing::ReadAll(server_.options(), "rs");
  EXPECT_EQ(all.size(), 300u);
}

// A batch the server refuses for good fails its records; the shard's later batches (refused as
// out of order behind it) continue under a fresh producer id, in order, without loss.
TEST(ProducerFailureTest, RefusedBatchFailsAloneAndLaterBatchesMoveToAFreshId) {
  testing::TestServer server([](broker::BrokerOptions* o) { o->max_record_bytes = 1000; });
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  {
    auto c = Connection::Open(server.options());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(Admin(c->get()).CreateStream("f", 1).ok());
  }
  ProducerOptions o;
  o.connection = server.options();
  o.max_batch_records = 1;  // One record per batch, several in flight.
  o.linger_ms = 20;         // All four are sealed before the first is sent.
  o.retry_backoff_ms = 5;
  auto p = Producer::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto r0 = (*p)->Send("f", "k", "first");
  auto r1 = (*p)->Send("f", "k", std::string(2000, 'x'));  // Over the server's limit only.
  auto r2 = (*p)->Send("f", "k", "third");
  auto r3 = (*p)->Send("f", "k", "fourth");
  (*p)->Flush();
  EXPECT_TRUE(r0.get().ok());
  auto e1 = r1.get();
  EXPECT_TRUE(e1.status().IsInvalidArgument()) << e1.status().ToString();
  auto s2 = r2.get();
  auto s3 = r3.get();
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  EXPECT_EQ((*p)->stats().id_rotations, 1u);
  auto all = testing::ReadAll(server.options(), "f");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].data, "first");
  EXPECT_EQ(all[1].data, "third");
  EXPECT_EQ(all[2].data, "fourth");
  EXPECT_EQ(all[2].sequence_number, s3->sequence_number);
}

TEST(ProducerFailureTest, FailsAfterTheDeliveryTimeoutWhenTheServerIsGone) {
  testing::TestServer server;
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  {
    auto c = Connection::Open(server.options());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(Admin(c->get()).CreateStream("g", 1).ok());
  }
  ProducerOptions o;
  o.connection = server.options();
  o.connection.connect_timeout_ms = 200;
  o.delivery_timeout_ms = 800;
  o.retry_backoff_ms = 20;
  auto p = Producer::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Send("g", "k", "before").get().ok());
  server.Stop();
  auto r = (*p)->Send("g", "k", "after").get();
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("delivery timed out"), std::string_view::npos)
      << r.status().ToString();
  (*p)->Close();  // Returns: nothing is pending.
}

}  // namespace
}  // namespace sluice::client
