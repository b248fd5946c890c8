// SPDX-License-Identifier: Apache-2.0
// Reader (shard iterators + Fetch) against a real in-process engine: replay to the end,
// long-poll tailing, starting positions, and following children after a split.
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/client/admin.h"
#include "broker/client/producer.h"
#include "broker/client/reader.h"
#include "broker/hash_key.h"
#include "tests/client/test_server.h"

namespace sluice::client {
namespace {

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFatalFailure());
    auto c = Connection::Open(server_.options());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
    ProducerOptions o;
    o.connection = server_.options();
    auto p = Producer::Open(o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    producer_ = std::move(p).value();
  }
  // Puts "<prefix><i>" for i in [0, n) with keys k<i % 16>; returns the results.
  std::vector<SendResult> Put(const std::string& stream, const std::string& prefix, int n) {
    std::vector<std::future<Result<SendResult>>> fs;
    for (int i = 0; i < n; ++i) {
      fs.push_back(
          producer_->Send(stream, "k" + std::to_string(i % 16), prefix + std::to_string(i)));
    }
    producer_->Flush();
    std::vector<SendResult> out;
    for (auto& f : fs) {
      auto r = f.get();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) out.push_back(*r);
    }
    return out;
  }

  testing::TestServer server_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(ReaderTest, ReplayReadsEverythingThenIsDone) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("r", 3).ok());
  Put("r", "v", 300);
  ReaderOptions o;
  o.max_bytes = 2048;  // Many small fetches.
  auto reader = Reader::Open(conn_.get(), "r", o);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->shards().size(), 3u);
  std::set<std::string> seen;
  while (!(*reader)->done()) {
    auto batch = (*reader)->Next();
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    for (const auto& r : *batch) EXPECT_TRUE(seen.insert(r.data).second) << r.data;
  }
  EXPECT_EQ(seen.size(), 300u);
  auto more = (*reader)->Next();
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

TEST_F(ReaderTest, StartsAtAndAfterASequenceNumber) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("p", 1).ok());
  auto sent = Put("p", "v", 10);
  ASSERT_EQ(sent.size(), 10u);
  ReaderOptions at;
  at.from = {StartingPosition::Type::kAtSequence, sent[4].sequence_number, 0};
  auto r1 = Reader::Open(conn_.get(), "p", at);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  auto b1 = (*r1)->Next();
  ASSERT_TRUE(b1.ok());
  ASSERT_FALSE(b1->empty());
  EXPECT_EQ(b1->front().data, "v4");

  ReaderOptions after = at;
  after.from.type = StartingPosition::Type::kAfterSequence;
  auto r2 = Reader::Open(conn_.get(), "p", after);
  ASSERT_TRUE(r2.ok());
  auto b2 = (*r2)->Next();
  ASSERT_TRUE(b2.ok());
  ASSERT_FALSE(b2->empty());
  EXPECT_EQ(b2->front().data, "v5");
}

TEST_F(ReaderTest, FollowLongPollsForNewRecords) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("t", 1).ok());
  ReaderOptions o;
  o.from.type = StartingPosition::Type::kLatest;
  o.follow = true;
  o.max_wait_ms = 5000;
  auto reader = Reader::Open(conn_.get(), "t", o);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto got = std::async(std::launch::async, [&] {
    std::vector<ReadRecord> all;
    for (int i = 0; i < 20 && all.size() < 5; ++i) {
      auto b = (*reader)->Next();
      if (!b.ok()) break;
      all.insert(all.end(), b->begin(), b->end());
    }
    return all;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // The poll is waiting.
  Put("t", "live", 5);
  auto all = got.get();
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all[i].data, "live" + std::to_string(i));
  EXPECT_FALSE((*reader)->done());
}

TEST_F(ReaderTest, FollowsChildrenAfterTheParentEnds) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("s", 1).ok());
  Put("s", "parent", 50);
  const std::string mid = broker::HashKey::FromParts(1ull << 63, 0).ToString();
  ASSERT_TRUE(Admin(conn_.get()).SplitShard("s", ShardId(0), mid).ok());
  Put("s", "child", 50);

  // Only the parent is named; its children are found through the end-of-shard response.
  ReaderOptions o;
  o.shards = {ShardId(0)};
  auto reader = Reader::Open(conn_.get(), "s", o);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<ReadRecord> all;
  while (!(*reader)->done()) {
    auto b = (*reader)->Next();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    all.insert(all.end(), b->begin(), b->end());
  }
  ASSERT_EQ(all.size(), 100u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(all[i].data, "parent" + std::to_string(i));  // Parent first, in order.
    EXPECT_EQ(all[i].shard, ShardId(0));
  }
  for (int i = 50; i < 100; ++i) EXPECT_NE(all[i].shard, ShardId(0));
  EXPECT_EQ((*reader)->shards().size(), 3u);
}

TEST_F(ReaderTest, UnknownStreamIsNotFound) {
  auto reader = Reader::Open(conn_.get(), "missing", ReaderOptions{});
  EXPECT_TRUE(reader.status().IsNotFound()) << reader.status().ToString();
}

}  // namespace
}  // namespace sluice::client
