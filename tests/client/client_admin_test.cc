// SPDX-License-Identifier: Apache-2.0
// Admin against a real in-process engine: the stream control plane and its errors.
#include <gtest/gtest.h>

#include "broker/client/admin.h"
#include "broker/client/connection.h"
#include "broker/hash_key.h"
#include "tests/client/test_server.h"

namespace sluice::client {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFatalFailure());
    auto c = Connection::Open(server_.options());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
    admin_ = std::make_unique<Admin>(conn_.get());
  }

  testing::TestServer server_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<Admin> admin_;
};

TEST_F(AdminTest, CreateListDescribeDeleteRoundTrip) {
  ASSERT_TRUE(admin_->CreateStream("orders", 4, 48).ok());
  ASSERT_TRUE(admin_->CreateStream("audit", 1).ok());

  auto names = admin_->ListStreams();
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"audit", "orders"}));

  auto d = admin_->DescribeStream("orders");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->stream, "orders");
  EXPECT_EQ(d->retention_hours, 48u);
  ASSERT_EQ(d->shards.size(), 4u);
  auto even = broker::EvenSplit(4);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(d->shards[i].shard_id, i);
    EXPECT_EQ(d->shards[i].starting_hash_key, even[i].start.ToString());
    EXPECT_EQ(d->shards[i].ending_hash_key, even[i].end.ToString());
    EXPECT_FALSE(IsClosed(d->shards[i]));
    EXPECT_EQ(d->shards[i].starting_sequence.size(), 56u);
  }

  auto it = admin_->GetShardIterator("orders", ShardId(2), StartingPosition{});
  ASSERT_TRUE(it.ok()) << it.status().ToString();
  EXPECT_FALSE(it->empty());

  ASSERT_TRUE(admin_->DeleteStream("orders").ok());
  names = admin_->ListStreams();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"audit"});
}

TEST_F(AdminTest, ServerErrorsMapToStatusCodes) {
  ASSERT_TRUE(admin_->CreateStream("s", 1).ok());
  EXPECT_EQ(admin_->CreateStream("s", 1).code(), Status::Code::kAborted);  // In use.
  EXPECT_TRUE(admin_->DescribeStream("missing").status().IsNotFound());
  EXPECT_TRUE(admin_->DeleteStream("missing").IsNotFound());
  EXPECT_TRUE(admin_->CreateStream("bad name!", 1).IsInvalidArgument());
  EXPECT_TRUE(admin_->GetShardIterator("s", ShardId(9), StartingPosition{}).status().IsNotFound());
  // The connection survives request errors.
  EXPECT_TRUE(conn_->is_open());
  EXPECT_TRUE(admin_->DescribeStream("s").ok());
}

TEST_F(AdminTest, SplitMergeAndScaleReshapeTheStream) {
  ASSERT_TRUE(admin_->CreateStream("s", 2).ok());
  const std::string mid0 = broker::EvenSplit(4)[1].start.ToString();  // Inside shard 0.
  ASSERT_TRUE(admin_->SplitShard("s", ShardId(0), mid0).ok());
  auto d = admin_->DescribeStream("s");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->shards.size(), 4u);
  EXPECT_TRUE(IsClosed(d->shards[0]));
  EXPECT_EQ(d->shards[2].parent_shards, std::vector<uint32_t>{0});
  EXPECT_EQ(d->shards[3].starting_hash_key, mid0);

  // Children 2 and 3 are adjacent: merge them back.
  ASSERT_TRUE(admin_->MergeShards("s", ShardId(2), ShardId(3)).ok());
  d = admin_->DescribeStream("s");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->shards.size(), 5u);
  EXPECT_EQ(d->shards[4].parent_shards, (std::vector<uint32_t>{2, 3}));

  ASSERT_TRUE(admin_->UpdateShardCount("s", 4).ok());
  d = admin_->DescribeStream("s");
  ASSERT_TRUE(d.ok());
  size_t open = 0;
  for (const auto& sh : d->shards) open += IsClosed(sh) ? 0 : 1;
  EXPECT_EQ(open, 4u);

  // The broker's refusals come back as InvalidArgument / NotFound.
  EXPECT_TRUE(admin_->SplitShard("s", ShardId(0), mid0).IsInvalidArgument());  // Closed shard.
  EXPECT_TRUE(admin_->MergeShards("nope", ShardId(0), ShardId(1)).IsNotFound());
}

}  // namespace
}  // namespace sluice::client
