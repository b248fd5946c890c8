// SPDX-License-Identifier: Apache-2.0
// Broker resharding: SplitShard, MergeShards, UpdateShardCount, ChildShards at the end of a
// closed shard, ordering across generations and restart, over every file backend.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/hash_key.h"
#include "broker/sequence_number.h"
#include "broker/shard_name.h"
#include "tests/support/backends.h"

namespace sluice::broker {
namespace {

using log::io::Backend;

const HashKey kMid = HashKey(Uint128{1} << 127);

class BrokerReshardTest : public ::testing::TestWithParam<Backend> {
 protected:
  BrokerReshardTest() : env_(GetParam()) {}
  void SetUp() override { Open(); }

  void Open() {
    broker_.reset();
    BrokerOptions o;
    o.clock = &clock_;
    o.iterator_secret = secret_;
    o.log.preallocate = false;
    o.log.segment_bytes = 1 << 20;
    auto b = Broker::Open(env_.fs(), env_.Dir("broker"), std::move(o));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
  }
  void Reopen() {
    ASSERT_TRUE(broker_->Close().ok());
    Open();
  }

  std::string Iterator(ShardId shard, IteratorType type = IteratorType::kTrimHorizon) {
    auto it = broker_->GetShardIterator("s", ShardName(shard), type, std::nullopt);
    EXPECT_TRUE(it.ok()) << it.status().ToString();
    return it.ok() ? *it : "";
  }

  // Reads `shard` from TRIM_HORIZON to its end (closed) or to an empty response (open).
  // `children` receives the last response's ChildShards.
  std::vector<GetRecordsRecord> ReadShard(ShardId shard,
                                          std::vector<ChildShard>* children = nullptr,
                                          size_t limit = kMaxGetRecordsLimit) {
    std::vector<GetRecordsRecord> all;
    std::string token = Iterator(shard);
    for (;;) {
      auto r = broker_->GetRecords(token, limit);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) return all;
      for (auto& rec : r->records) all.push_back(std::move(rec));
      if (!r->next_shard_iterator) {
        EXPECT_FALSE(r->child_shards.empty());
        if (children) *children = r->child_shards;
        return all;
      }
      EXPECT_TRUE(r->child_shards.empty());
      if (r->records.empty()) return all;
      token = *r->next_shard_iterator;
    }
  }

  PutRecordResult PutAt(HashKey key, const std::string& data) {
    const std::string ehk = key.ToString();
    auto r = broker_->PutRecord("s", "pk", data, ehk);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : PutRecordResult{};
  }

  StreamDescription Describe() {
    auto d = broker_->DescribeStream("s");
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : StreamDescription{};
  }

  // The open shards' ranges in hash-key order.
  std::vector<HashKeyRange> OpenRanges() {
    std::vector<HashKeyRange> out;
    for (const ShardDescription& s : Describe().shards) {
      if (s.meta.open()) out.push_back(s.meta.range);
    }
    std::sort(out.begin(), out.end(),
              [](const HashKeyRange& a, const HashKeyRange& b) { return a.start < b.start; });
    return out;
  }

  testing::BackendEnv env_;
  ManualClock clock_;
  std::string secret_ = IteratorCodec::NewSecret();
  std::unique_ptr<Broker> broker_;
};

TEST_P(BrokerReshardTest, SplitClosesParentAndChildrenTakeWrites) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const PutRecordResult a = PutAt(HashKey(1), "a");
  const PutRecordResult b = PutAt(HashKey::Max(), "b");
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000000", kMid.ToString()).ok());

  const StreamDescription d = Describe();
  ASSERT_EQ(d.shards.size(), 3u);
  EXPECT_FALSE(d.shards[0].meta.open());
  EXPECT_EQ(d.shards[0].meta.ending_offset, SequenceNumber(2));
  EXPECT_EQ(d.shards[0].ending_sequence_number, b.sequence_number);
  EXPECT_EQ(d.meta.next_shard_id, ShardId(3));
  const HashKeyRange low{HashKey::Min(), HashKey(kMid.value() - 1)};
  const HashKeyRange high{kMid, HashKey::Max()};
  for (size_t i : {1u, 2u}) {
    const ShardMetadata& m = d.shards[i].meta;
    EXPECT_EQ(m.id, ShardId(i));
    EXPECT_TRUE(m.open());
    EXPECT_EQ(m.parent, ShardId(0));
    EXPECT_FALSE(m.adjacent_parent.has_value());
    EXPECT_EQ(m.generation, ShardGeneration(1));
    EXPECT_EQ(m.range, i == 1 ? low : high);
  }

  const PutRecordResult c = PutAt(HashKey(1), "c");
  const PutRecordResult e = PutAt(HashKey::Max(), "e");
  EXPECT_EQ(c.shard_id, "shardId-000000000001");
  EXPECT_EQ(e.shard_id, "shardId-000000000002");
  for (const PutRecordResult* child : {&c, &e}) {
    for (const PutRecordResult* parent : {&a, &b}) {
      EXPECT_EQ(CompareSequenceNumbers(child->sequence_number, parent->sequence_number),
                std::strong_ordering::greater);
    }
  }
  std::vector<GetRecordsRecord> low_records = ReadShard(ShardId(1));
  ASSERT_EQ(low_records.size(), 1u);
  EXPECT_EQ(low_records[0].data, "c");
  EXPECT_EQ(low_records[0].sequence_number, c.sequence_number);
  std::vector<GetRecordsRecord> high_records = ReadShard(ShardId(2));
  ASSERT_EQ(high_records.size(), 1u);
  EXPECT_EQ(high_records[0].data, "e");

  // The parent stays readable, and retention over closed logs works.
  std::vector<GetRecordsRecord> parent = ReadShard(ShardId(0));
  ASSERT_EQ(parent.size(), 2u);
  EXPECT_EQ(parent[0].data, "a");
  EXPECT_TRUE(broker_->EnforceRetention().ok());
}

TEST_P(BrokerReshardTest, ChildShardsAtTheEndOfAClosedShard) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  for (int i = 0; i < 3; ++i) PutAt(HashKey(7), "r" + std::to_string(i));
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000000", kMid.ToString()).ok());

  // Page by page: only the last response (reaching the end) lacks the next iterator.
  std::vector<ChildShard> children;
  EXPECT_EQ(ReadShard(ShardId(0), &children, /*limit=*/1).size(), 3u);
  const std::vector<ChildShard> want = {
      {"shardId-000000000001", {"shardId-000000000000"}, {HashKey(0), HashKey(kMid.value() - 1)}},
      {"shardId-000000000002", {"shardId-000000000000"}, {kMid, HashKey::Max()}}};
  EXPECT_EQ(children, want);

  // LATEST on a closed shard sits at its end: nothing, no iterator, the children.
  auto r = broker_->GetRecords(Iterator(ShardId(0), IteratorType::kLatest));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->records.empty());
  EXPECT_FALSE(r->next_shard_iterator.has_value());
  EXPECT_EQ(r->child_shards, want);

  // An open child never reports children.
  auto open = broker_->GetRecords(Iterator(ShardId(1)));
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->next_shard_iterator.has_value());
  EXPECT_TRUE(open->child_shards.empty());
}

TEST_P(BrokerReshardTest, MergeMakesOneChildWithBothParents) {
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  const PutRecordResult a = PutAt(HashKey(1), "a");
  const PutRecordResult b = PutAt(HashKey::Max(), "b");
  ASSERT_EQ(b.shard_id, "shardId-000000000001");
  ASSERT_TRUE(broker_->MergeShards("s", "shardId-000000000001", "shardId-000000000000").ok());

  const StreamDescription d = Describe();
  ASSERT_EQ(d.shards.size(), 3u);
  EXPECT_FALSE(d.shards[0].meta.open());
  EXPECT_FALSE(d.shards[1].meta.open());
  const ShardMetadata& child = d.shards[2].meta;
  EXPECT_TRUE(child.open());
  EXPECT_EQ(child.parent, ShardId(1));
  EXPECT_EQ(child.adjacent_parent, ShardId(0));
  EXPECT_EQ(child.generation, ShardGeneration(1));
  EXPECT_EQ(child.range, (HashKeyRange{HashKey::Min(), HashKey::Max()}));

  const PutRecordResult c = PutAt(HashKey(1), "c");
  const PutRecordResult e = PutAt(HashKey::Max(), "e");
  EXPECT_EQ(c.shard_id, "shardId-000000000002");
  EXPECT_EQ(e.shard_id, "shardId-000000000002");
  EXPECT_EQ(CompareSequenceNumbers(c.sequence_number, a.sequence_number),
            std::strong_ordering::greater);
  EXPECT_EQ(CompareSequenceNumbers(c.sequence_number, b.sequence_number),
            std::strong_ordering::greater);

  const std::vector<ChildShard> want = {{"shardId-000000000002",
                                         {"shardId-000000000001", "shardId-000000000000"},
                                         {HashKey::Min(), HashKey::Max()}}};
  for (ShardId parent : {ShardId(0), ShardId(1)}) {
    std::vector<ChildShard> children;
    EXPECT_EQ(ReadShard(parent, &children).size(), 1u);
    EXPECT_EQ(children, want);
  }
  EXPECT_EQ(ReadShard(ShardId(2)).size(), 2u);
}

TEST_P(BrokerReshardTest, RejectsInvalidReshards) {
  ASSERT_TRUE(broker_->CreateStream("s", 3).ok());
  const std::string where = " in stream s under account 000000000000";
  const std::vector<HashKeyRange> ranges = EvenSplit(3);
  const std::string shard0 = "shardId-000000000000";

  // Malformed keys fail validation before anything is looked up.
  for (const char* key : {"abc", "01", "", "-1", "1234567890123456789012345678901234567890"}) {
    Status s = broker_->SplitShard("s", shard0, key);
    EXPECT_TRUE(s.IsInvalidArgument()) << key;
    EXPECT_NE(s.message().find("at 'newStartingHashKey' failed to satisfy constraint"),
              std::string::npos)
        << s.message();
  }
  const std::string range_msg = " used in SplitShard() on shard " + shard0 + where +
                                " is not both greater than one plus the shard's StartingHashKey "
                                "0 and less than the shard's EndingHashKey " +
                                ranges[0].end.ToString() + ".";
  for (const std::string& key :
       {std::string("0"), std::string("1"), ranges[0].end.ToString(), ranges[1].start.ToString(),
        std::string("340282366920938463463374607431768211456")}) {
    Status s = broker_->SplitShard("s", shard0, key);
    EXPECT_TRUE(s.IsInvalidArgument()) << key;
    EXPECT_EQ(s.message(), "NewStartingHashKey " + key + range_msg);
  }

  // Unknown stream and shards.
  EXPECT_TRUE(broker_->SplitShard("nope", shard0, "5").IsNotFound());
  EXPECT_TRUE(broker_->MergeShards("nope", shard0, "shardId-000000000001").IsNotFound());
  EXPECT_TRUE(broker_->UpdateShardCount("nope", 2).status().IsNotFound());
  for (const char* bad : {"shardId-000000000009", "bogus"}) {
    Status s = broker_->SplitShard("s", bad, "5");
    EXPECT_TRUE(s.IsNotFound());
    EXPECT_EQ(s.message(), "Could not find shard " + std::string(bad) + where + ".");
    EXPECT_TRUE(broker_->MergeShards("s", shard0, bad).IsNotFound());
  }

  // Not adjacent (either order), or the same shard twice.
  Status apart = broker_->MergeShards("s", shard0, "shardId-000000000002");
  EXPECT_TRUE(apart.IsInvalidArgument());
  EXPECT_EQ(apart.message(), "Shards " + shard0 + " and shardId-000000000002" + where +
                                 " are not an adjacent pair of shards eligible for merging");
  EXPECT_TRUE(broker_->MergeShards("s", "shardId-000000000002", shard0).IsInvalidArgument());
  EXPECT_TRUE(broker_->MergeShards("s", shard0, shard0).IsInvalidArgument());

  // A closed shard is not eligible again.
  ASSERT_TRUE(broker_->SplitShard("s", shard0, "1000").ok());
  const std::string closed = "Shard " + shard0 + where +
                             " has already been merged or split, and thus is not eligible for "
                             "merging or splitting.";
  Status again = broker_->SplitShard("s", shard0, "2000");
  EXPECT_TRUE(again.IsInvalidArgument());
  EXPECT_EQ(again.message(), closed);
  Status merge = broker_->MergeShards("s", "shardId-000000000001", shard0);
  EXPECT_TRUE(merge.IsInvalidArgument());
  EXPECT_EQ(merge.message(), closed);

  EXPECT_TRUE(broker_->UpdateShardCount("s", 0).status().IsInvalidArgument());
  EXPECT_TRUE(broker_->UpdateShardCount("s", kMaxShardsPerStream + 1).status().IsInvalidArgument());
  // Nothing above changed the stream but the one split.
  EXPECT_EQ(Describe().shards.size(), 5u);
}

TEST_P(BrokerReshardTest, UpdateShardCountScalesUniformly) {
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  // (hash key, sequence number) of every record so far.
  std::vector<std::pair<HashKey, std::string>> before;
  for (const HashKeyRange& r : EvenSplit(2))
    before.emplace_back(r.end, PutAt(r.end, "x").sequence_number);

  for (uint32_t target : {4u, 1u, 3u, 2u, 5u}) {
    SCOPED_TRACE(target);
    const size_t open_before = OpenRanges().size();
    auto r = broker_->UpdateShardCount("s", target);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->current_shard_count, open_before);
    EXPECT_EQ(r->target_shard_count, target);
    EXPECT_EQ(OpenRanges(), EvenSplit(target));
    const StreamDescription d = Describe();
    for (const ShardDescription& s : d.shards) {
      // Every shard's parents are closed, older, and at most two (Kinesis's model).
      for (std::optional<ShardId> p : {s.meta.parent, s.meta.adjacent_parent}) {
        if (!p) continue;
        const ShardMetadata* parent = d.meta.FindShard(*p);
        ASSERT_NE(parent, nullptr);
        EXPECT_FALSE(parent->open());
        EXPECT_LT(parent->generation, s.meta.generation);
      }
    }
    // Writes land in the new shards, after everything written before to their keys (their
    // ancestors' records).
    for (const HashKeyRange& range : EvenSplit(target)) {
      const PutRecordResult put = PutAt(range.start, "y");
      for (const auto& [key, old] : before) {
        if (!range.Contains(key)) continue;
        EXPECT_EQ(CompareSequenceNumbers(put.sequence_number, old), std::strong_ordering::greater);
      }
      auto shard = ParseShardName(put.shard_id);
      ASSERT_TRUE(shard.has_value());
      EXPECT_TRUE(d.meta.FindShard(*shard)->open());
      before.emplace_back(range.start, put.sequence_number);
      before.emplace_back(range.end, PutAt(range.end, "z").sequence_number);
    }
  }
  // Same count and ranges: nothing to do.
  const size_t shards = Describe().shards.size();
  ASSERT_TRUE(broker_->UpdateShardCount("s", 5).ok());
  EXPECT_EQ(Describe().shards.size(), shards);
}

TEST_P(BrokerReshardTest, PerKeyOrderSurvivesTheSplit) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const std::string key = "customer-42";
  const HashKey h = HashKeyFromPartitionKey(key);
  std::vector<std::string> put;
  for (int i = 0; i < 5; ++i) {
    auto r = broker_->PutRecord("s", key, "v" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    put.push_back(r->sequence_number);
  }
  // Split right at the key's hash when possible, so the key lands in the high child.
  const HashKey at = h.value() > 1 ? h : kMid;
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000000", at.ToString()).ok());
  for (int i = 5; i < 10; ++i) {
    auto r = broker_->PutRecord("s", key, "v" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    put.push_back(r->sequence_number);
  }

  // A consumer reads the parent to its end, then follows the child owning the key.
  std::vector<ChildShard> children;
  std::vector<GetRecordsRecord> got = ReadShard(ShardId(0), &children);
  ShardId next_shard;
  for (const ChildShard& c : children) {
    if (c.hash_key_range.Contains(h)) next_shard = *ParseShardName(c.shard_id);
  }
  ASSERT_NE(next_shard, ShardId(0));
  for (GetRecordsRecord& r : ReadShard(next_shard)) got.push_back(std::move(r));

  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, "v" + std::to_string(i));
    EXPECT_EQ(got[i].sequence_number, put[i]);
    if (i > 0) {
      EXPECT_EQ(CompareSequenceNumbers(got[i].sequence_number, got[i - 1].sequence_number),
                std::strong_ordering::greater);
    }
  }
}

TEST_P(BrokerReshardTest, WritersRacingASplitAreReRouted) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  constexpr int kRecords = 300;
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int i = 0; i < kRecords; ++i) {
      if (!broker_->PutRecord("s", "k", std::to_string(i)).ok()) ++failures;
      if (i % 10 == 0) {
        std::vector<PutRecordsEntry> batch = {{"k", "batch"}};
        auto r = broker_->PutRecords("s", batch);
        if (!r.ok() || r->failed_record_count != 0) ++failures;
      }
    }
  });
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000000", kMid.ToString()).ok());
  ASSERT_TRUE(broker_->MergeShards("s", "shardId-000000000001", "shardId-000000000002").ok());
  writer.join();
  EXPECT_EQ(failures.load(), 0);

  // Parent, then the child holding "k", then the merged shard: every record once, in order.
  const HashKey h = HashKeyFromPartitionKey("k");
  std::vector<GetRecordsRecord> all = ReadShard(ShardId(0));
  for (GetRecordsRecord& r : ReadShard(h < kMid ? ShardId(1) : ShardId(2))) {
    all.push_back(std::move(r));
  }
  for (GetRecordsRecord& r : ReadShard(ShardId(3))) all.push_back(std::move(r));
  std::vector<std::string> singles;
  for (const GetRecordsRecord& r : all) {
    if (r.data != "batch") singles.push_back(r.data);
  }
  ASSERT_EQ(singles.size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(singles[i], std::to_string(i));
  EXPECT_EQ(all.size(), static_cast<size_t>(kRecords + kRecords / 10));
}

TEST_P(BrokerReshardTest, RestartKeepsLineageAndClosedShards) {
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  PutAt(HashKey(1), "a");
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000000", "1000").ok());
  ASSERT_TRUE(broker_->MergeShards("s", "shardId-000000000003", "shardId-000000000001").ok());
  PutAt(HashKey(5000), "b");
  const StreamDescription before = Describe();
  Reopen();
  const StreamDescription after = Describe();
  EXPECT_EQ(after.meta, before.meta);
  ASSERT_EQ(after.shards.size(), 5u);
  EXPECT_EQ(after.shards[4].meta.generation, ShardGeneration(2));

  // Writes still go to open shards only; closed ones keep their records and lineage.
  EXPECT_EQ(PutAt(HashKey(1), "c").shard_id, "shardId-000000000002");
  EXPECT_EQ(PutAt(HashKey(5000), "d").shard_id, "shardId-000000000004");
  std::vector<ChildShard> children;
  std::vector<GetRecordsRecord> parent = ReadShard(ShardId(0), &children);
  ASSERT_EQ(parent.size(), 1u);
  EXPECT_EQ(parent[0].data, "a");
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[1].shard_id, "shardId-000000000003");
  ReadShard(ShardId(3), &children);
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0].parent_shards,
            (std::vector<std::string>{"shardId-000000000003", "shardId-000000000001"}));
  std::vector<GetRecordsRecord> merged = ReadShard(ShardId(4));
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].data, "b");
  EXPECT_EQ(merged[1].data, "d");

  // And resharding continues from the persisted next_shard_id and generations.
  ASSERT_TRUE(broker_->SplitShard("s", "shardId-000000000004", kMid.ToString()).ok());
  const StreamDescription last = Describe();
  ASSERT_EQ(last.shards.size(), 7u);
  EXPECT_EQ(last.shards[6].meta.id, ShardId(6));
  EXPECT_EQ(last.shards[6].meta.generation, ShardGeneration(3));
}

INSTANTIATE_TEST_SUITE_P(Backends, BrokerReshardTest,
                         ::testing::ValuesIn(sluice::testing::AvailableBackends()),
                         sluice::testing::BackendName);

}  // namespace
}  // namespace sluice::broker
