// SPDX-License-Identifier: Apache-2.0
// Broker: streams, routing, PutRecord(s), iterators, GetRecords, restart and retention over
// every file backend.
#include "broker/broker.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/hash_key.h"
#include "broker/sequence_number.h"
#include "broker/shard_name.h"
#include "tests/support/backends.h"

namespace sluice::broker {
namespace {

using log::io::Backend;

class BrokerTest : public ::testing::TestWithParam<Backend> {
 protected:
  BrokerTest() : env_(GetParam()) {}
  void SetUp() override { Open(); }

  BrokerOptions Options() {
    BrokerOptions o;
    o.clock = &clock_;
    o.iterator_secret = secret_;
    o.log.preallocate = false;
    o.log.segment_bytes = 1 << 20;
    return o;
  }
  void Open(BrokerOptions options) {
    broker_.reset();
    auto b = Broker::Open(env_.fs(), env_.Dir("broker"), std::move(options));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
  }
  void Open() { Open(Options()); }
  void Reopen() {
    ASSERT_TRUE(broker_->Close().ok());
    Open();
  }

  std::string Iterator(const std::string& stream, ShardId shard, IteratorType type,
                       std::optional<std::string> seq = std::nullopt,
                       std::optional<TimestampMs> ts = std::nullopt) {
    std::optional<std::string_view> seq_view;
    if (seq) seq_view = *seq;
    auto it = broker_->GetShardIterator(stream, ShardName(shard), type, seq_view, ts);
    EXPECT_TRUE(it.ok()) << it.status().ToString();
    return it.ok() ? *it : "";
  }

  // Follows the iterator chain until a response comes back empty.
  std::vector<GetRecordsRecord> ReadAll(std::string token) {
    std::vector<GetRecordsRecord> all;
    for (;;) {
      auto r = broker_->GetRecords(token);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || r->records.empty()) return all;
      for (auto& rec : r->records) all.push_back(std::move(rec));
      if (!r->next_shard_iterator) return all;
      token = *r->next_shard_iterator;
    }
  }

  PutRecordResult Put(const std::string& stream, const std::string& key, const std::string& data) {
    auto r = broker_->PutRecord(stream, key, data);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : PutRecordResult{};
  }

  // The shard Kinesis picks for `key` in a fresh stream of `n` shards.
  static std::string ExpectedShard(const std::string& key, uint32_t n) {
    const HashKey h = HashKeyFromPartitionKey(key);
    const std::vector<HashKeyRange> ranges = EvenSplit(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (ranges[i].Contains(h)) return ShardName(ShardId(i));
    }
    return "";
  }

  testing::BackendEnv env_;
  ManualClock clock_;
  std::string secret_ = IteratorCodec::NewSecret();
  std::unique_ptr<Broker> broker_;
};

TEST_P(BrokerTest, CreateListDescribeDelete) {
  ASSERT_TRUE(broker_->CreateStream("orders", 3).ok());
  ASSERT_TRUE(broker_->CreateStream("audit", 1).ok());
  std::vector<StreamSummary> list = broker_->ListStreams();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "audit");
  EXPECT_EQ(list[1].name, "orders");
  EXPECT_EQ(list[1].arn, "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
  EXPECT_EQ(list[1].status, StreamStatus::kActive);

  auto d = broker_->DescribeStream("orders");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->meta.status, StreamStatus::kActive);
  EXPECT_EQ(d->meta.creation_time_ms, clock_.NowMs());
  ASSERT_EQ(d->shards.size(), 3u);
  const std::vector<HashKeyRange> ranges = EvenSplit(3);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d->shards[i].shard_id, ShardName(ShardId(i)));
    EXPECT_EQ(d->shards[i].meta.range, ranges[i]);
    EXPECT_EQ(d->shards[i].starting_sequence_number,
              FormatSequenceNumber({ShardGeneration(0), ShardId(i), SequenceNumber(0)}));
    EXPECT_FALSE(d->shards[i].ending_sequence_number.has_value());
  }

  Status again = broker_->CreateStream("orders", 2);
  EXPECT_EQ(again.code(), Status::Code::kAborted);
  EXPECT_EQ(again.message(), "Stream orders under account 000000000000 already exists.");
  EXPECT_TRUE(broker_->CreateStream("zero", 0).IsInvalidArgument());
  EXPECT_TRUE(broker_->CreateStream("many", kMaxShardsPerStream + 1).IsInvalidArgument());

  ASSERT_TRUE(broker_->DeleteStream("orders").ok());
  Status gone = broker_->DescribeStream("orders").status();
  EXPECT_TRUE(gone.IsNotFound());
  EXPECT_EQ(gone.message(), "Stream orders under account 000000000000 not found.");
  EXPECT_TRUE(broker_->DeleteStream("orders").IsNotFound());
  EXPECT_EQ(broker_->ListStreams().size(), 1u);
}

TEST_P(BrokerTest, PutGetRoundTripAcrossShardsKeepsOrderPerShard) {
  ASSERT_TRUE(broker_->CreateStream("s", 4).ok());
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> expected;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "key-" + std::to_string(i % 37);
    const std::string data = "data-" + std::to_string(i);
    PutRecordResult r = Put("s", key, data);
    EXPECT_EQ(r.shard_id, ExpectedShard(key, 4)) << key;
    expected[r.shard_id].push_back({key, data});
    if (i % 50 == 0) clock_.AdvanceMs(10);
  }
  EXPECT_EQ(expected.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    std::vector<GetRecordsRecord> got =
        ReadAll(Iterator("s", ShardId(i), IteratorType::kTrimHorizon));
    const auto& want = expected[ShardName(ShardId(i))];
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].partition_key, want[k].first);
      EXPECT_EQ(got[k].data, want[k].second);
      auto parts = ParseSequenceNumber(got[k].sequence_number);
      ASSERT_TRUE(parts.ok());
      EXPECT_EQ(parts->shard, ShardId(i));
      if (k > 0) {
        EXPECT_EQ(CompareSequenceNumbers(got[k - 1].sequence_number, got[k].sequence_number),
                  std::strong_ordering::less);
        EXPECT_LE(got[k - 1].arrival_ms, got[k].arrival_ms);
      }
    }
  }
}

TEST_P(BrokerTest, ArrivalTimestampIsTheAppendTime) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const TimestampMs t0 = clock_.NowMs();
  Put("s", "k", "a");
  clock_.AdvanceMs(1234);
  Put("s", "k", "b");
  std::vector<GetRecordsRecord> got =
      ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].arrival_ms, t0);
  EXPECT_EQ(got[1].arrival_ms, t0 + 1234);
}

TEST_P(BrokerTest, ExplicitHashKeyOverridesThePartitionKey) {
  ASSERT_TRUE(broker_->CreateStream("s", 3).ok());
  auto first = broker_->PutRecord("s", "whatever", "x", std::string_view("0"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->shard_id, "shardId-000000000000");
  auto last = broker_->PutRecord("s", "whatever", "x", HashKey::Max().ToString());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->shard_id, "shardId-000000000002");
  // Shard 0 of 3 ends at this key; one more is shard 1.
  auto edge = broker_->PutRecord("s", "k", "x",
                                 std::string_view("113427455640312821154458202477256070485"));
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(edge->shard_id, "shardId-000000000001");
  Status bad = broker_->PutRecord("s", "k", "x", std::string_view("-1")).status();
  EXPECT_TRUE(bad.IsInvalidArgument());
  EXPECT_NE(bad.message().find("Invalid ExplicitHashKey"), std::string_view::npos);
  EXPECT_TRUE(broker_->PutRecord("s", "k", "x", HashKey::Max().ToString() + "0")
                  .status()
                  .IsInvalidArgument());
}

TEST_P(BrokerTest, PutRecordValidatesSizes) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  EXPECT_TRUE(broker_->PutRecord("s", "", "x").status().IsInvalidArgument());
  EXPECT_TRUE(broker_->PutRecord("s", std::string(257, 'k'), "x").status().IsInvalidArgument());
  EXPECT_TRUE(broker_->PutRecord("s", std::string(256, 'k'), "x").ok());
  EXPECT_TRUE(broker_->PutRecord("s", "k", std::string(kDefaultMaxRecordBytes, 'd')).ok());
  Status big = broker_->PutRecord("s", "k", std::string(kDefaultMaxRecordBytes + 1, 'd')).status();
  EXPECT_TRUE(big.IsInvalidArgument());
  EXPECT_NE(big.message().find("1048576"), std::string_view::npos) << big.message();
  EXPECT_TRUE(broker_->PutRecord("nope", "k", "x").status().IsNotFound());
  EXPECT_TRUE(broker_->PutRecord("s", "k", "x", std::nullopt, std::string_view("12")).ok());
  EXPECT_TRUE(broker_->PutRecord("s", "k", "x", std::nullopt, std::string_view("01"))
                  .status()
                  .IsInvalidArgument());
}

TEST_P(BrokerTest, PutRecordsFailsOnlyTheBadEntries) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const std::string big(kDefaultMaxRecordBytes + 1, 'x');
  std::vector<PutRecordsEntry> entries = {
      {"a", "1", std::nullopt}, {"b", big, std::nullopt}, {"c", "3", std::nullopt},
      {"", "4", std::nullopt},  {"e", "5", std::nullopt},
  };
  auto r = broker_->PutRecords("s", entries);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->records.size(), 5u);
  EXPECT_EQ(r->failed_record_count, 2u);
  EXPECT_TRUE(r->records[1].status.IsInvalidArgument());
  EXPECT_TRUE(r->records[3].status.IsInvalidArgument());
  EXPECT_TRUE(r->records[1].sequence_number.empty());
  // The good ones went into one batch: consecutive offsets, in request order.
  uint64_t expected_offset = 0;
  for (size_t i : {0u, 2u, 4u}) {
    ASSERT_TRUE(r->records[i].status.ok());
    EXPECT_EQ(r->records[i].shard_id, "shardId-000000000000");
    auto parts = ParseSequenceNumber(r->records[i].sequence_number);
    ASSERT_TRUE(parts.ok());
    EXPECT_EQ(parts->offset, SequenceNumber(expected_offset++));
  }
  std::vector<GetRecordsRecord> got =
      ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data, "1");
  EXPECT_EQ(got[1].data, "3");
  EXPECT_EQ(got[2].data, "5");

  EXPECT_TRUE(broker_->PutRecords("s", {}).status().IsInvalidArgument());
  std::vector<PutRecordsEntry> too_many(kMaxPutRecordsEntries + 1, {"k", "v", std::nullopt});
  EXPECT_TRUE(broker_->PutRecords("s", too_many).status().IsInvalidArgument());
  EXPECT_TRUE(broker_->PutRecords("nope", entries).status().IsNotFound());
}

TEST_P(BrokerTest, PutRecordsRoutesEachEntry) {
  ASSERT_TRUE(broker_->CreateStream("s", 5).ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("pk" + std::to_string(i));
  std::vector<PutRecordsEntry> entries;
  for (const std::string& k : keys) entries.push_back({k, k, std::nullopt});
  auto r = broker_->PutRecords("s", entries);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failed_record_count, 0u);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(r->records[i].shard_id, ExpectedShard(keys[i], 5));
  }
}

TEST_P(BrokerTest, IteratorTypes) {
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  // Everything to shard 0 via the explicit hash key.
  auto put = [&](const std::string& data) {
    auto r = broker_->PutRecord("s", "k", data, std::string_view("0"));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->sequence_number : "";
  };
  const TimestampMs t0 = clock_.NowMs();
  const std::string s0 = put("r0");
  clock_.AdvanceMs(1000);
  const std::string s1 = put("r1");
  const std::string latest = Iterator("s", ShardId(0), IteratorType::kLatest);
  clock_.AdvanceMs(1000);
  const std::string s2 = put("r2");

  auto data = [](const std::vector<GetRecordsRecord>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) out.push_back(r.data);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon))),
            (V{"r0", "r1", "r2"}));
  EXPECT_EQ(data(ReadAll(latest)), (V{"r2"}));
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kLatest))), V{});
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAtSequenceNumber, s1))),
            (V{"r1", "r2"}));
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAfterSequenceNumber, s1))),
            (V{"r2"}));
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAfterSequenceNumber, s2))), V{});
  EXPECT_EQ(
      data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAtTimestamp, std::nullopt, t0 + 1))),
      (V{"r1", "r2"}));
  EXPECT_EQ(
      data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAtTimestamp, std::nullopt, t0 - 5000))),
      (V{"r0", "r1", "r2"}));
  EXPECT_EQ(data(ReadAll(Iterator("s", ShardId(0), IteratorType::kAtTimestamp, std::nullopt,
                                  clock_.NowMs()))),
            (V{"r2"}));

  // Errors.
  auto iter = [&](std::string_view shard, IteratorType type, std::optional<std::string_view> seq,
                  std::optional<TimestampMs> ts = std::nullopt) {
    return broker_->GetShardIterator("s", shard, type, seq, ts).status();
  };
  EXPECT_TRUE(
      iter("shardId-000000000000", IteratorType::kAtTimestamp, std::nullopt, clock_.NowMs() + 1)
          .IsInvalidArgument());
  EXPECT_TRUE(
      iter("shardId-000000000000", IteratorType::kAtTimestamp, std::nullopt).IsInvalidArgument());
  EXPECT_TRUE(iter("shardId-000000000000", IteratorType::kAtSequenceNumber, std::nullopt)
                  .IsInvalidArgument());
  EXPECT_TRUE(iter("shardId-000000000000", IteratorType::kTrimHorizon, s0).IsInvalidArgument());
  // A number of shard 0 used on shard 1, a foreign number, a number past the end, garbage.
  Status wrong_shard = iter("shardId-000000000001", IteratorType::kAtSequenceNumber, s0);
  EXPECT_TRUE(wrong_shard.IsInvalidArgument());
  EXPECT_NE(wrong_shard.message().find("did not come from this shard"), std::string_view::npos);
  EXPECT_TRUE(
      iter("shardId-000000000000", IteratorType::kAtSequenceNumber, "12345").IsInvalidArgument());
  const std::string future =
      FormatSequenceNumber({ShardGeneration(0), ShardId(0), SequenceNumber(3)});
  EXPECT_TRUE(
      iter("shardId-000000000000", IteratorType::kAtSequenceNumber, future).IsInvalidArgument());
  EXPECT_TRUE(
      iter("shardId-000000000000", IteratorType::kAtSequenceNumber, "abc").IsInvalidArgument());
  EXPECT_TRUE(iter("shardId-000000000002", IteratorType::kLatest, std::nullopt).IsNotFound());
  EXPECT_TRUE(iter("shard-0", IteratorType::kLatest, std::nullopt).IsNotFound());
  EXPECT_TRUE(
      broker_->GetShardIterator("nope", "shardId-000000000000", IteratorType::kLatest, std::nullopt)
          .status()
          .IsNotFound());
}

TEST_P(BrokerTest, AfterSequenceNumberContinuesExactly) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  std::vector<std::string> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back(Put("s", "k", std::to_string(i)).sequence_number);
  for (int i = 0; i < 10; ++i) {
    std::vector<GetRecordsRecord> got =
        ReadAll(Iterator("s", ShardId(0), IteratorType::kAfterSequenceNumber, seqs[i]));
    ASSERT_EQ(got.size(), static_cast<size_t>(9 - i));
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].sequence_number, seqs[i + 1 + k]);
      EXPECT_EQ(got[k].data, std::to_string(i + 1 + k));
    }
  }
}

TEST_P(BrokerTest, GetRecordsLimitNextIteratorAndMillisBehind) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  for (int i = 0; i < 5; ++i) Put("s", "k", std::to_string(i));
  const TimestampMs arrival = clock_.NowMs();
  clock_.AdvanceMs(500);
  auto r = broker_->GetRecords(Iterator("s", ShardId(0), IteratorType::kTrimHorizon), 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->records.size(), 2u);
  EXPECT_EQ(r->records[1].data, "1");
  EXPECT_EQ(r->millis_behind_latest, clock_.NowMs() - arrival);
  ASSERT_TRUE(r->next_shard_iterator.has_value());
  r = broker_->GetRecords(*r->next_shard_iterator);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->records.size(), 3u);
  EXPECT_EQ(r->records[0].data, "2");
  EXPECT_EQ(r->millis_behind_latest, 0);
  ASSERT_TRUE(r->next_shard_iterator.has_value());  // Open shard: always a next iterator.
  // Caught up: empty, still a next iterator, which sees the next record.
  auto empty = broker_->GetRecords(*r->next_shard_iterator);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->records.empty());
  EXPECT_EQ(empty->millis_behind_latest, 0);
  Put("s", "k", "5");
  auto more = broker_->GetRecords(*empty->next_shard_iterator);
  ASSERT_TRUE(more.ok());
  ASSERT_EQ(more->records.size(), 1u);
  EXPECT_EQ(more->records[0].data, "5");

  const std::string token = *more->next_shard_iterator;
  EXPECT_TRUE(broker_->GetRecords(token, 0).status().IsInvalidArgument());
  EXPECT_TRUE(broker_->GetRecords(token, kMaxGetRecordsLimit + 1).status().IsInvalidArgument());
  EXPECT_TRUE(broker_->GetRecords(token, kMaxGetRecordsLimit).ok());
}

TEST_P(BrokerTest, GetRecordsStopsNearTenMiB) {
  BrokerOptions o = Options();
  o.max_record_bytes = kMaxMaxRecordBytes;
  Open(o);
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const std::string big(4u << 20, 'b');
  for (int i = 0; i < 3; ++i) Put("s", "k", big);
  auto r = broker_->GetRecords(Iterator("s", ShardId(0), IteratorType::kTrimHorizon));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->records.size(), 2u);
  auto rest = broker_->GetRecords(*r->next_shard_iterator);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->records.size(), 1u);
}

TEST_P(BrokerTest, ExpiredAndInvalidIterators) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  Put("s", "k", "v");
  const std::string token = Iterator("s", ShardId(0), IteratorType::kTrimHorizon);
  clock_.AdvanceMs(300'000);
  EXPECT_TRUE(broker_->GetRecords(token).ok());
  clock_.AdvanceMs(1);
  Status expired = broker_->GetRecords(token).status();
  EXPECT_TRUE(IsExpiredIterator(expired)) << expired.ToString();
  EXPECT_EQ(expired.code(), Status::Code::kAborted);
  Status invalid = broker_->GetRecords("garbage").status();
  EXPECT_TRUE(IsInvalidIterator(invalid)) << invalid.ToString();
  EXPECT_EQ(invalid.message(), kInvalidIteratorMessage);
}

TEST_P(BrokerTest, RestartKeepsStreamsRecordsAndSequenceNumbers) {
  ASSERT_TRUE(broker_->CreateStream("a", 2).ok());
  ASSERT_TRUE(broker_->CreateStream("b", 1).ok());
  std::vector<std::string> before;
  for (int i = 0; i < 20; ++i) {
    before.push_back(
        broker_->PutRecord("a", "k", std::to_string(i), std::string_view("0"))->sequence_number);
  }
  Put("b", "x", "y");
  const std::string old_token = Iterator("a", ShardId(0), IteratorType::kTrimHorizon);
  Reopen();
  std::vector<StreamSummary> list = broker_->ListStreams();
  ASSERT_EQ(list.size(), 2u);
  auto d = broker_->DescribeStream("a");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->shards.size(), 2u);
  // Same secret: the old token still works.
  std::vector<GetRecordsRecord> got = ReadAll(old_token);
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence_number, before[i]);
    EXPECT_EQ(got[i].data, std::to_string(i));
  }
  auto next = broker_->PutRecord("a", "k", "new", std::string_view("0"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(CompareSequenceNumbers(before.back(), next->sequence_number),
            std::strong_ordering::less);
  EXPECT_EQ(ReadAll(Iterator("b", ShardId(0), IteratorType::kTrimHorizon)).size(), 1u);
}

TEST_P(BrokerTest, DeleteThenRecreateGivesAnEmptyStream) {
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  for (int i = 0; i < 10; ++i) Put("s", "k" + std::to_string(i), "v");
  const std::string old_token = Iterator("s", ShardId(0), IteratorType::kTrimHorizon);
  ASSERT_TRUE(broker_->DeleteStream("s").ok());
  EXPECT_TRUE(broker_->GetRecords(old_token).status().IsNotFound());
  ASSERT_TRUE(broker_->CreateStream("s", 2).ok());
  for (uint32_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(ReadAll(Iterator("s", ShardId(i), IteratorType::kTrimHorizon)).empty());
  }
  // The old stream's token does not read the new stream.
  EXPECT_TRUE(broker_->GetRecords(old_token).status().IsNotFound());
  Reopen();
  for (uint32_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(ReadAll(Iterator("s", ShardId(i), IteratorType::kTrimHorizon)).empty());
  }
  auto first = broker_->PutRecord("s", "k", "v", std::string_view("0"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ParseSequenceNumber(first->sequence_number)->offset, SequenceNumber(0));
  // Only the live stream's directory is left.
  auto dirs = env_.fs()->ListDir(env_.Dir("broker") + "/streams");
  ASSERT_TRUE(dirs.ok());
  if (env_.memory() == nullptr) {
    EXPECT_EQ(dirs->size(), 1u);
  }
}

TEST_P(BrokerTest, PathLikeNamesAreRejectedBeforeTouchingPaths) {
  for (const char* name : {"../x", "a/b", "..", "", "x\\y", "/abs"}) {
    const std::string n(name);
    Status s = broker_->CreateStream(n, 1);
    // "." and ".." are valid Kinesis names: they are never paths, so they are harmless.
    if (n == "..") {
      EXPECT_TRUE(s.ok()) << s.ToString();
      continue;
    }
    EXPECT_TRUE(s.IsInvalidArgument()) << n;
    EXPECT_TRUE(broker_->DescribeStream(n).status().IsInvalidArgument()) << n;
    EXPECT_TRUE(broker_->DeleteStream(n).IsInvalidArgument()) << n;
    EXPECT_TRUE(broker_->PutRecord(n, "k", "v").status().IsInvalidArgument()) << n;
  }
  // Only id-named directories exist.
  auto dirs = env_.fs()->ListDir(env_.Dir("broker") + "/streams");
  ASSERT_TRUE(dirs.ok());
  ASSERT_EQ(dirs->size(), 1u);
  EXPECT_EQ((*dirs)[0], "1");
  EXPECT_FALSE(env_.fs()->Exists(env_.Dir("x")));
  Put("..", "k", "v");
  EXPECT_EQ(ReadAll(Iterator("..", ShardId(0), IteratorType::kTrimHorizon)).size(), 1u);
}

TEST_P(BrokerTest, EnforceRetentionTrimsOldSegments) {
  BrokerOptions o = Options();
  o.log.segment_bytes = 8192;
  Open(o);
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  const std::string data(3000, 'd');
  for (int i = 0; i < 10; ++i) Put("s", "k", data);
  clock_.AdvanceMs(int64_t{kDefaultRetentionHours} * 3'600'000 + 1);
  const std::string fresh = Put("s", "k", "fresh").sequence_number;
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  std::vector<GetRecordsRecord> got =
      ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon));
  ASSERT_FALSE(got.empty());
  EXPECT_LT(got.size(), 11u);
  EXPECT_EQ(got.back().sequence_number, fresh);
  // An iterator from before the horizon starts at the horizon.
  const std::string first =
      FormatSequenceNumber({ShardGeneration(0), ShardId(0), SequenceNumber(0)});
  std::vector<GetRecordsRecord> from_zero =
      ReadAll(Iterator("s", ShardId(0), IteratorType::kAtSequenceNumber, first));
  EXPECT_EQ(from_zero.size(), got.size());
}

TEST_P(BrokerTest, RetentionPeriodIsPersistedAndApplied) {
  BrokerOptions o = Options();
  o.log.segment_bytes = 8192;
  Open(o);
  ASSERT_TRUE(broker_->CreateStream("s", 1, 48).ok());
  EXPECT_EQ(broker_->DescribeStream("s")->meta.retention_hours, 48);
  EXPECT_TRUE(broker_->CreateStream("t", 1, 23).IsInvalidArgument());
  EXPECT_TRUE(broker_->CreateStream("t", 1, 8761).IsInvalidArgument());
  const std::string data(3000, 'd');
  for (int i = 0; i < 10; ++i) Put("s", "k", data);
  clock_.AdvanceMs(int64_t{30} * 3'600'000);
  Put("s", "k", "fresh");
  // 30 hours old is within 48 hours: nothing goes.
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  EXPECT_EQ(ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon)).size(), 11u);
  // Down to 24 hours: the old segments go at once, and the setting survives a restart.
  ASSERT_TRUE(broker_->SetRetentionPeriod("s", 24).ok());
  EXPECT_TRUE(broker_->SetRetentionPeriod("s", 9000).IsInvalidArgument());
  EXPECT_TRUE(broker_->SetRetentionPeriod("nope", 24).IsNotFound());
  ASSERT_TRUE(broker_->EnforceRetention().ok());
  EXPECT_LT(ReadAll(Iterator("s", ShardId(0), IteratorType::kTrimHorizon)).size(), 11u);
  Reopen();
  EXPECT_EQ(broker_->DescribeStream("s")->meta.retention_hours, 24);
}

TEST_P(BrokerTest, CallsAfterCloseAreAborted) {
  ASSERT_TRUE(broker_->CreateStream("s", 1).ok());
  ASSERT_TRUE(broker_->Close().ok());
  EXPECT_EQ(broker_->PutRecord("s", "k", "v").status().code(), Status::Code::kAborted);
  EXPECT_EQ(broker_->CreateStream("t", 1).code(), Status::Code::kAborted);
  EXPECT_TRUE(broker_->Close().ok());
}

TEST_P(BrokerTest, OpenRejectsBadOptions) {
  BrokerOptions o = Options();
  o.max_record_bytes = kMaxMaxRecordBytes + 1;
  EXPECT_TRUE(Broker::Open(env_.fs(), env_.Dir("other"), o).status().IsInvalidArgument());
  o = Options();
  o.iterator_secret = "short";
  EXPECT_TRUE(Broker::Open(env_.fs(), env_.Dir("other"), o).status().IsInvalidArgument());
}

INSTANTIATE_TEST_SUITE_P(Backends, BrokerTest,
                         ::testing::ValuesIn(sluice::testing::AvailableBackends()),
                         sluice::testing::BackendName);

}  // namespace
}  // namespace sluice::broker
