// SPDX-License-Identifier: Apache-2.0
// Subscription (server pushes) against a real in-process engine.
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/client/admin.h"
#include "broker/client/producer.h"
#include "broker/client/subscription.h"
#include "broker/hash_key.h"
#include "tests/client/test_server.h"

namespace sluice::client {
namespace {

// Collects what handlers receive.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ReadRecord> records;
  std::vector<std::pair<ShardId, Status>> ends;
  std::vector<ShardId> children;

  SubscribeHandlers Handlers() {
    SubscribeHandlers h;
    h.on_record = [this](const ReadRecord& r) {
      std::lock_guard<std::mutex> l(mu);
      records.push_back(r);
      cv.notify_all();
    };
    h.on_end = [this](ShardId shard, const Status& s, const std::vector<ShardId>& c) {
      std::lock_guard<std::mutex> l(mu);
      ends.emplace_back(shard, s);
      children.insert(children.end(), c.begin(), c.end());
      cv.notify_all();
    };
    return h;
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(20), [&] { return records.size() >= n; });
  }
};

class SubscriptionTest : public ::testing::Test {
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
  void Put(const std::string& stream, const std::string& prefix, int n) {
    std::vector<std::future<Result<SendResult>>> fs;
    for (int i = 0; i < n; ++i)
      fs.push_back(producer_->Send(stream, "k", prefix + std::to_string(i)));
    producer_->Flush();
    for (auto& f : fs) ASSERT_TRUE(f.get().ok());
  }

  testing::TestServer server_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(SubscriptionTest, ReceivesRecordsProducedAfterSubscribing) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("live", 1).ok());
  Put("live", "old", 10);  // Before the subscription: not delivered from LATEST.
  Inbox inbox;
  SubscribeOptions o;
  o.from.type = StartingPosition::Type::kLatest;
  auto sub = Subscription::Start(server_.options(), "live", ShardId(0), o, inbox.Handlers());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Put("live", "new", 300);
  ASSERT_TRUE(inbox.WaitFor(300));
  std::lock_guard<std::mutex> l(inbox.mu);
  ASSERT_EQ(inbox.records.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(inbox.records[i].data, "new" + std::to_string(i));
  EXPECT_TRUE(inbox.ends.empty());
}

TEST_F(SubscriptionTest, BatchHandlerGetsOrderedPushesFromTrimHorizon) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("b", 1).ok());
  Put("b", "r", 100);
  std::mutex mu;
  std::vector<std::string> got;
  std::promise<void> all;
  SubscribeHandlers h;
  h.on_batch = [&](ShardId, std::vector<ReadRecord>& records, uint64_t) {
    std::lock_guard<std::mutex> l(mu);
    for (auto& r : records) got.push_back(r.data);
    if (got.size() == 100) all.set_value();
  };
  auto sub = Subscription::Start(server_.options(), "b", ShardId(0), SubscribeOptions{}, h);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  std::lock_guard<std::mutex> l(mu);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], "r" + std::to_string(i));
}

TEST_F(SubscriptionTest, ShardEndReportsChildrenAndFollowsThem) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("f", 1).ok());
  Inbox inbox;
  SubscribeOptions o;
  o.follow_children = true;
  auto sub = Subscription::Start(server_.options(), "f", ShardId(0), o, inbox.Handlers());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Put("f", "p", 20);
  ASSERT_TRUE(inbox.WaitFor(20));
  const std::string mid = broker::HashKey::FromParts(1ull << 63, 0).ToString();
  ASSERT_TRUE(Admin(conn_.get()).SplitShard("f", ShardId(0), mid).ok());
  {
    std::unique_lock<std::mutex> l(inbox.mu);
    ASSERT_TRUE(
        inbox.cv.wait_for(l, std::chrono::seconds(20), [&] { return !inbox.ends.empty(); }));
    EXPECT_EQ(inbox.ends[0].first, ShardId(0));
    EXPECT_TRUE(inbox.ends[0].second.ok()) << inbox.ends[0].second.ToString();
    EXPECT_EQ(inbox.children, (std::vector<ShardId>{ShardId(1), ShardId(2)}));
  }
  Put("f", "c", 20);  // One key: all to one child, which the subscription now follows.
  ASSERT_TRUE(inbox.WaitFor(40));
  EXPECT_EQ((*sub)->shards().size(), 3u);
}

// Pushes carry whole stored batches; a start inside a batch must not deliver its earlier records.
TEST_F(SubscriptionTest, StartsInsideABatchAtASequenceNumber) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("q", 1).ok());
  std::vector<std::future<Result<SendResult>>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(producer_->Send("q", "k", "v" + std::to_string(i)));
  producer_->Flush();
  std::vector<SendResult> sent;
  for (auto& f : fs) {
    auto r = f.get();
    ASSERT_TRUE(r.ok());
    sent.push_back(*r);
  }
  Inbox inbox;
  SubscribeOptions o;
  o.from = {StartingPosition::Type::kAfterSequence, sent[6].sequence_number, 0};
  auto sub = Subscription::Start(server_.options(), "q", ShardId(0), o, inbox.Handlers());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(inbox.WaitFor(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard<std::mutex> l(inbox.mu);
  ASSERT_EQ(inbox.records.size(), 3u);
  EXPECT_EQ(inbox.records[0].data, "v7");
  EXPECT_EQ(inbox.records[0].sequence_number, sent[7].sequence_number);
}

TEST_F(SubscriptionTest, StopEndsDeliveryWithoutCallbacks) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("s", 1).ok());
  Inbox inbox;
  auto sub =
      Subscription::Start(server_.options(), "s", ShardId(0), SubscribeOptions{}, inbox.Handlers());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  (*sub)->Stop();
  Put("s", "x", 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard<std::mutex> l(inbox.mu);
  EXPECT_TRUE(inbox.records.empty());
  EXPECT_TRUE(inbox.ends.empty());
}

TEST_F(SubscriptionTest, UnknownShardIsNotFound) {
  ASSERT_TRUE(Admin(conn_.get()).CreateStream("u", 1).ok());
  Inbox inbox;
  auto sub =
      Subscription::Start(server_.options(), "u", ShardId(5), SubscribeOptions{}, inbox.Handlers());
  EXPECT_TRUE(sub.status().IsNotFound()) << sub.status().ToString();
}

}  // namespace
}  // namespace sluice::client
