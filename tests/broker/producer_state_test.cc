// SPDX-License-Identifier: Apache-2.0
// ProducerStateTable: every verdict, the window edge, LRU eviction, append order, and Rebuild
// from a real LocalLog reopened from files.
#include "broker/producer_state.h"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/io/file.h"
#include "log/record_batch.h"
#include "replication/local_log.h"
#include "tests/support/temp_dir.h"

namespace sluice::broker {
namespace {

using Verdict = ProducerStateTable::Verdict;

const ProducerId kA(7);
const ProducerId kB(9);

ProducerBatchOffsets At(uint64_t base, uint64_t last) {
  return {SequenceNumber(base), SequenceNumber(last)};
}

// Records seqs [first, first + n) of `p`, batch i at offsets [*next, *next + 1].
void RecordRun(ProducerStateTable* t, ProducerId p, uint64_t first, uint64_t n, uint64_t* next) {
  for (uint64_t s = first; s < first + n; ++s, *next += 2) t->Record(p, s, At(*next, *next + 1));
}

TEST(ProducerStateTableTest, UnknownProducerAppendsAnySequence) {
  ProducerStateTable t;
  EXPECT_EQ(t.Check(kA, 0).verdict, Verdict::kAppend);
  EXPECT_EQ(t.Check(kA, 12345).verdict, Verdict::kAppend);
  EXPECT_EQ(t.producer_count(), 0u);
}

TEST(ProducerStateTableTest, NextSequenceAppends) {
  ProducerStateTable t;
  t.Record(kA, 41, At(0, 4));
  auto d = t.Check(kA, 42);
  EXPECT_EQ(d.verdict, Verdict::kAppend);
  EXPECT_TRUE(d.error.ok());
}

TEST(ProducerStateTableTest, RetryWithinWindowIsDuplicateWithOriginalOffsets) {
  ProducerStateTable t;
  t.Record(kA, 0, At(0, 2));
  t.Record(kB, 0, At(3, 3));
  t.Record(kA, 1, At(4, 9));
  auto d = t.Check(kA, 0);
  EXPECT_EQ(d.verdict, Verdict::kDuplicate);
  EXPECT_EQ(d.original, At(0, 2));
  EXPECT_EQ(t.Check(kA, 1).original, At(4, 9));
  EXPECT_EQ(t.Check(kB, 0).original, At(3, 3));
}

TEST(ProducerStateTableTest, WindowEdgeSeparatesDuplicateFromTooOld) {
  ProducerStateTable t({.window = 4});
  uint64_t next = 0;
  RecordRun(&t, kA, 10, 6, &next);  // Seqs 10..15; the window holds 12..15.
  auto oldest = t.Check(kA, 12);
  EXPECT_EQ(oldest.verdict, Verdict::kDuplicate);
  EXPECT_EQ(oldest.original, At(4, 5));
  auto old = t.Check(kA, 11);
  EXPECT_EQ(old.verdict, Verdict::kReject);
  EXPECT_TRUE(old.error.IsInvalidArgument());
  EXPECT_NE(old.error.message().find("duplicate batch too old to report its sequence numbers"),
            std::string_view::npos)
      << old.error.ToString();
  EXPECT_EQ(t.Check(kA, 0).verdict, Verdict::kReject);
}

TEST(ProducerStateTableTest, GapIsRejectedWithExpectedSequence) {
  ProducerStateTable t;
  t.Record(kA, 3, At(0, 0));
  auto d = t.Check(kA, 6);
  EXPECT_EQ(d.verdict, Verdict::kReject);
  EXPECT_TRUE(d.error.IsInvalidArgument());
  EXPECT_EQ(d.error.message(), "out of order sequence: expected 4, got 6 for producer 7");
}

TEST(ProducerStateTableTest, LeastRecentlyRecordedProducerIsEvicted) {
  ProducerStateTable t({.max_producers = 2});
  t.Record(kA, 0, At(0, 0));
  t.Record(kB, 0, At(1, 1));
  t.Record(kA, 1, At(2, 2));             // A is now the most recent.
  (void)t.Check(kB, 0);                  // Checking does not refresh B.
  t.Record(ProducerId(3), 0, At(3, 3));  // Evicts B.
  EXPECT_EQ(t.producer_count(), 2u);
  EXPECT_EQ(t.Check(kB, 0).verdict, Verdict::kAppend);  // Forgotten: any sequence goes.
  EXPECT_EQ(t.Check(kB, 7).verdict, Verdict::kAppend);
  EXPECT_EQ(t.Check(kA, 1).original, At(2, 2));
  EXPECT_EQ(t.Check(ProducerId(3), 0).original, At(3, 3));
}

TEST(ProducerStateTableTest, SequenceOtherThanNextStartsWindowOver) {
  ProducerStateTable t;
  uint64_t next = 0;
  RecordRun(&t, kA, 0, 3, &next);
  t.Record(kA, 100, At(next, next));  // As replayed after an eviction.
  EXPECT_EQ(t.Check(kA, 100).original, At(next, next));
  EXPECT_EQ(t.Check(kA, 2).verdict, Verdict::kReject);
  EXPECT_EQ(t.Check(kA, 101).verdict, Verdict::kAppend);
}

TEST(ProducerStateTableDeathTest, RecordOutOfAppendOrderAborts) {
  ProducerStateTable t;
  t.Record(kA, 0, At(10, 12));
  EXPECT_DEATH(t.Record(kB, 0, At(12, 13)), "append order");
  EXPECT_DEATH(t.Record(ProducerId(0), 0, At(20, 20)), "no producer");
}

// Rebuild against a LocalLog on real files, closed and reopened.
class ProducerStateRebuildTest : public ::testing::Test {
 protected:
  ProducerStateRebuildTest() {
    auto fs = log::io::MakeFileSystem(log::io::Backend::kPosix);
    EXPECT_TRUE(fs.ok());
    fs_ = std::move(fs).value();
    EXPECT_TRUE(fs_->CreateDirs(tmp_.Sub("shard")).ok());
    opts_.log.segment_bytes = 64 << 10;  // Several segments.
    opts_.log.preallocate = false;
    opts_.log.durability = log::Durability::Never();  // Close() still syncs.
    opts_.log.logger = [](std::string_view) {};
    Reopen();
  }

  void Reopen() {
    if (log_ != nullptr) {
      ASSERT_TRUE(log_->Close().ok());
    }
    log_.reset();
    auto log = replication::LocalLog::Open(fs_.get(), tmp_.Sub("shard"), opts_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  // Appends a batch of `count` records with `value_bytes` each, tagged (producer, seq) unless
  // producer is 0.
  ProducerBatchOffsets Append(ProducerId producer, uint64_t seq, uint32_t count = 2,
                              size_t value_bytes = 100) {
    log::RecordBatchBuilder b;
    if (producer.value() != 0) b.SetProducer(producer, seq);
    for (uint32_t i = 0; i < count; ++i) b.Add("key", std::string(value_bytes, 'v'), 1);
    auto bytes = b.Finish();
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto r = log_->Append(log::AsBytes(*bytes));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? ProducerBatchOffsets{r->base, r->last} : ProducerBatchOffsets{};
  }

  testing::TempDir tmp_;
  std::unique_ptr<log::io::FileSystem> fs_;
  replication::LocalLogOptions opts_;
  std::unique_ptr<replication::LocalLog> log_;
};

TEST_F(ProducerStateRebuildTest, RestoresRecentBatchesOfEveryProducer) {
  std::vector<ProducerBatchOffsets> a, b;
  for (uint64_t s = 0; s < 300; ++s) {
    a.push_back(Append(kA, s));
    if (s % 3 == 0) b.push_back(Append(kB, 1000 + s / 3));
    Append(ProducerId(0), 0);
  }
  Reopen();
  ProducerStateTable t({.window = 8});
  ASSERT_TRUE(t.Rebuild(*log_).ok());
  EXPECT_EQ(t.producer_count(), 2u);
  for (uint64_t s = 292; s < 300; ++s) {
    auto d = t.Check(kA, s);
    ASSERT_EQ(d.verdict, Verdict::kDuplicate) << s;
    EXPECT_EQ(d.original, a[s]) << s;
  }
  EXPECT_EQ(t.Check(kA, 291).verdict, Verdict::kReject);
  EXPECT_EQ(t.Check(kA, 300).verdict, Verdict::kAppend);
  EXPECT_EQ(t.Check(kB, 1099).original, b[99]);
  EXPECT_EQ(t.Check(kB, 1092).original, b[92]);
  EXPECT_EQ(t.Check(kB, 1100).verdict, Verdict::kAppend);
  // Appends continue past the rebuilt state.
  t.Record(kA, 300, Append(kA, 300));
  EXPECT_EQ(t.Check(kA, 301).verdict, Verdict::kAppend);
}

TEST_F(ProducerStateRebuildTest, BatchesWithoutProducerAreIgnored) {
  for (int i = 0; i < 20; ++i) Append(ProducerId(0), 0);
  Reopen();
  ProducerStateTable t;
  ASSERT_TRUE(t.Rebuild(*log_).ok());
  EXPECT_EQ(t.producer_count(), 0u);
  EXPECT_EQ(t.Check(kA, 0).verdict, Verdict::kAppend);
}

TEST_F(ProducerStateRebuildTest, ProducerRestartInLogKeepsOnlyTheNewRun) {
  Append(kA, 0);
  Append(kA, 1);
  const ProducerBatchOffsets restarted = Append(kA, 50);
  Reopen();
  ProducerStateTable t;
  ASSERT_TRUE(t.Rebuild(*log_).ok());
  EXPECT_EQ(t.Check(kA, 50).original, restarted);
  EXPECT_EQ(t.Check(kA, 1).verdict, Verdict::kReject);
  EXPECT_EQ(t.Check(kA, 51).verdict, Verdict::kAppend);
}

TEST_F(ProducerStateRebuildTest, ScanBytesBoundsHowFarBackProducersAreKnown) {
  Append(kB, 0, 1, 1000);  // Only before the scanned tail.
  ProducerBatchOffsets last;
  for (uint64_t s = 0; s < 400; ++s) last = Append(kA, s, 1, 1000);  // ~430 KB.
  Reopen();
  ProducerStateTable t;
  ASSERT_TRUE(t.Rebuild(*log_, /*scan_bytes=*/100 << 10).ok());
  EXPECT_EQ(t.producer_count(), 1u);
  EXPECT_EQ(t.Check(kA, 399).original, last);
  EXPECT_EQ(t.Check(kB, 1).verdict, Verdict::kAppend);  // Forgotten.

  ProducerStateTable all;
  ASSERT_TRUE(all.Rebuild(*log_, UINT64_MAX).ok());
  EXPECT_EQ(all.producer_count(), 2u);
  EXPECT_EQ(all.Check(kB, 0).verdict, Verdict::kDuplicate);
}

TEST_F(ProducerStateRebuildTest, KeepsTheMostRecentProducersUpToTheLimit) {
  for (uint64_t p = 1; p <= 5; ++p) Append(ProducerId(p), 0);
  Append(ProducerId(2), 1);
  Reopen();
  ProducerStateTable t({.max_producers = 2});
  ASSERT_TRUE(t.Rebuild(*log_).ok());
  EXPECT_EQ(t.producer_count(), 2u);
  EXPECT_EQ(t.Check(ProducerId(2), 1).verdict, Verdict::kDuplicate);
  EXPECT_EQ(t.Check(ProducerId(5), 0).verdict, Verdict::kDuplicate);
  EXPECT_EQ(t.Check(ProducerId(4), 5).verdict, Verdict::kAppend);
  // Producer 5 is older than 2 in recency: a new producer evicts it first.
  t.Record(ProducerId(6), 0, At(100, 100));
  EXPECT_EQ(t.Check(ProducerId(5), 3).verdict, Verdict::kAppend);
  EXPECT_EQ(t.Check(ProducerId(2), 1).verdict, Verdict::kDuplicate);
}

TEST_F(ProducerStateRebuildTest, CorruptionInTheScannedLogIsReturned) {
  for (uint64_t s = 0; s < 600; ++s) Append(kA, s, 1, 1000);  // About ten 64 KiB segments.
  ASSERT_TRUE(log_->Close().ok());
  log_.reset();
  {  // Flip a byte of the first batch's header in the oldest (sealed) segment.
    auto f = fs_->Open(tmp_.Sub("shard/00000000000000000000.log"), log::io::OpenOptions{});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    std::byte b{};
    const uint64_t at = log::format::kSegmentHeaderSize + log::format::kBatchProducerSeqOffset;
    ASSERT_TRUE((*f)->ReadAt(at, {&b, 1}).ok());
    b = ~b;
    ASSERT_TRUE((*f)->WriteAtAndSync(at, {&b, 1}).ok());
  }
  Reopen();
  ProducerStateTable t;
  Status tail = t.Rebuild(*log_, /*scan_bytes=*/1 << 10);  // The damage is not scanned.
  ASSERT_TRUE(tail.ok()) << tail.ToString();
  EXPECT_EQ(t.producer_count(), 1u);
  Status s = t.Rebuild(*log_, UINT64_MAX);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(t.producer_count(), 0u);
}

// Rebuild (backwards, in chunks) must agree with Record() fed the same batches in log order,
// for every question Check can be asked, across chunk boundaries and producer restarts.
TEST_F(ProducerStateRebuildTest, AgreesWithRecordingInLogOrder) {
  std::mt19937_64 rng(42);
  ProducerStateTable live({.window = 5});
  std::map<uint64_t, uint64_t> next_seq;  // Producer 1..6.
  for (int i = 0; i < 3000; ++i) {
    const uint64_t p = 1 + rng() % 7;  // 7: no producer.
    if (p == 7) {
      Append(ProducerId(0), 0, 1 + rng() % 4, 1 + rng() % 200);
      continue;
    }
    if (rng() % 50 == 0) next_seq[p] += 10 + rng() % 5;  // The producer starts a new run.
    const uint64_t seq = next_seq[p]++;
    live.Record(ProducerId(p), seq, Append(ProducerId(p), seq, 1 + rng() % 4, 1 + rng() % 200));
  }
  Reopen();
  ProducerStateTable rebuilt({.window = 5});
  ASSERT_TRUE(rebuilt.Rebuild(*log_, UINT64_MAX).ok());
  EXPECT_EQ(rebuilt.producer_count(), live.producer_count());
  for (uint64_t p = 1; p <= 6; ++p) {
    for (uint64_t seq = 0; seq <= next_seq[p] + 1; ++seq) {
      auto want = live.Check(ProducerId(p), seq);
      auto got = rebuilt.Check(ProducerId(p), seq);
      ASSERT_EQ(got.verdict, want.verdict) << p << " " << seq;
      EXPECT_EQ(got.original, want.original) << p << " " << seq;
      EXPECT_EQ(got.error.ToString(), want.error.ToString());
    }
  }
}

}  // namespace
}  // namespace sluice::broker
