// SPDX-License-Identifier: Apache-2.0
// LocalLog over every backend: reads limited to the visible watermark, epochs stamped and
// persisted, the epoch cache (KIP-101 answers, truncation, corruption), waiting for records.
// The WaitForVisible* tests start threads (concurrency label).
#include "replication/local_log.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/backends.h"
#include "tests/support/batches.h"

namespace sluice::replication {
namespace {

using namespace std::chrono_literals;
using testing::MakeBatch;
using testing::ValueName;

Deadline In(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// Every record value readable from `log` at `from` (so: below visible()), in order.
std::vector<std::string> ReadValues(const ReplicatedLog& log, SequenceNumber from = {}) {
  std::vector<std::string> values;
  std::string scratch;
  for (;;) {
    auto r = log.Read(from, log::ReadOptions{});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->batch_count == 0) return values;
    for (const log::RecordBatchView& b : r->Batches()) {
      auto recs = b.DecodeRecords(&scratch);
      EXPECT_TRUE(recs.ok()) << recs.status().ToString();
      if (!recs.ok()) return values;
      for (const log::Record& rec : *recs) {
        if (rec.offset < from) continue;
        std::string v(rec.value);
        values.push_back(v.substr(0, v.find('.')));
      }
    }
    from = r->next;
  }
}

// The leader epoch in each visible batch's header, in order.
std::vector<Epoch> BatchEpochs(const ReplicatedLog& log) {
  auto r = log.Read(SequenceNumber(), log::ReadOptions{});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Epoch> out;
  if (r.ok()) {
    for (const log::RecordBatchView& b : r->Batches()) out.push_back(b.header().leader_epoch);
  }
  return out;
}

class LocalLogTest : public ::testing::TestWithParam<log::io::Backend> {
 protected:
  LocalLogTest() : env_(GetParam()) {
    opts_.log.clock = &clock_;
    opts_.log.segment_bytes = 1 << 20;
    opts_.log.logger = [](std::string_view) {};
  }

  Result<std::unique_ptr<LocalLog>> TryOpen() { return LocalLog::Open(env_.fs(), Dir(), opts_); }
  std::unique_ptr<LocalLog> OpenLog() {
    auto log = TryOpen();
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  std::string Dir() const { return env_.Dir(); }

  log::AppendResult MustAppend(ReplicatedLog* log, uint64_t tag, uint32_t count) {
    std::string b = MakeBatch(tag, count);
    auto r = log->Append(log::AsBytes(b));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : log::AppendResult{};
  }

  // Overwrites byte `offset` of `path` with its complement, through the file system.
  void Smash(const std::string& path, uint64_t offset) {
    if (env_.memory() != nullptr) {
      ASSERT_TRUE(env_.memory()->FlipBit(path, offset, 3).ok());
      return;
    }
    auto f = env_.fs()->Open(path, log::io::OpenOptions{});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    std::byte b{};
    ASSERT_TRUE((*f)->ReadAt(offset, {&b, 1}).ok());
    b = ~b;
    ASSERT_TRUE((*f)->WriteAtAndSync(offset, {&b, 1}).ok());
  }

  testing::BackendEnv env_;
  ManualClock clock_;
  LocalLogOptions opts_;
};

TEST_P(LocalLogTest, AppendedRecordsReadBack) {
  auto log = OpenLog();
  EXPECT_EQ(MustAppend(log.get(), 1, 3).base, SequenceNumber(0));
  EXPECT_EQ(MustAppend(log.get(), 2, 2).last, SequenceNumber(4));
  std::vector<std::string> want = {ValueName(1, 0), ValueName(1, 1), ValueName(1, 2),
                                   ValueName(2, 0), ValueName(2, 1)};
  EXPECT_EQ(ReadValues(*log), want);
  EXPECT_EQ(log->visible(), VisibleWatermark(5));
  EXPECT_EQ(log->durable(), DurableWatermark(5));
  EXPECT_EQ(log->written(), WrittenWatermark(5));
  EXPECT_EQ(log->next_offset(), SequenceNumber(5));
  EXPECT_EQ(log->epoch(), Epoch(0));
  ASSERT_TRUE(log->Close().ok());
  EXPECT_TRUE(log->Append(log::AsBytes(MakeBatch(3, 1))).status().code() == Status::Code::kAborted);
  EXPECT_EQ(ReadValues(*log), want);  // Reads outlive Close.
}

TEST_P(LocalLogTest, IntervalDurabilityShowsRecordsOnlyOnceSynced) {
  opts_.log.durability = log::Durability::Interval(3'600'000);
  auto log = OpenLog();
  std::vector<VisibleWatermark> heard;
  log->OnVisible([&](VisibleWatermark v) { heard.push_back(v); });
  MustAppend(log.get(), 1, 3);
  EXPECT_EQ(log->written(), WrittenWatermark(3));
  EXPECT_EQ(log->visible(), VisibleWatermark(0));
  EXPECT_TRUE(ReadValues(*log).empty());
  EXPECT_TRUE(log->LookupTimestamp(0).ok());
  EXPECT_EQ(*log->LookupTimestamp(0), SequenceNumber(0));  // Clamped to visible.
  EXPECT_TRUE(heard.empty());

  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->visible(), VisibleWatermark(3));
  EXPECT_EQ(ReadValues(*log).size(), 3u);
  EXPECT_EQ(heard, std::vector<VisibleWatermark>{VisibleWatermark(3)});
}

TEST_P(LocalLogTest, NeverDurabilityTreatsWrittenAsVisible) {
  opts_.log.durability = log::Durability::Never();
  auto log = OpenLog();
  MustAppend(log.get(), 1, 4);
  EXPECT_EQ(log->visible(), VisibleWatermark(4));
  EXPECT_EQ(ReadValues(*log).size(), 4u);
}

TEST_P(LocalLogTest, BatchesCarryTheCurrentEpoch) {
  auto log = OpenLog();
  MustAppend(log.get(), 1, 2);
  ASSERT_TRUE(log->BecomeLeader(Epoch(1)).ok());
  MustAppend(log.get(), 2, 1);
  ASSERT_TRUE(log->BecomeLeader(Epoch(3)).ok());
  MustAppend(log.get(), 3, 2);
  MustAppend(log.get(), 4, 1);
  EXPECT_EQ(BatchEpochs(*log), (std::vector<Epoch>{Epoch(0), Epoch(1), Epoch(3), Epoch(3)}));
}

TEST_P(LocalLogTest, BecomeLeaderPersistsAcrossReopen) {
  {
    auto log = OpenLog();
    MustAppend(log.get(), 1, 2);
    ASSERT_TRUE(log->BecomeLeader(Epoch(4)).ok());
    MustAppend(log.get(), 2, 1);
  }
  auto log = OpenLog();
  EXPECT_EQ(log->epoch(), Epoch(4));
  EXPECT_EQ(log->epoch_cache(), (std::vector<EpochEntry>{{Epoch(4), SequenceNumber(2)}}));
  MustAppend(log.get(), 3, 1);
  EXPECT_EQ(BatchEpochs(*log), (std::vector<Epoch>{Epoch(0), Epoch(4), Epoch(4)}));
}

TEST_P(LocalLogTest, BecomeLeaderRejectsEpochsThatDoNotIncrease) {
  auto log = OpenLog();
  EXPECT_TRUE(log->BecomeLeader(Epoch(0)).IsInvalidArgument());
  ASSERT_TRUE(log->BecomeLeader(Epoch(2)).ok());
  EXPECT_TRUE(log->BecomeLeader(Epoch(2)).IsInvalidArgument());
  EXPECT_TRUE(log->BecomeLeader(Epoch(1)).IsInvalidArgument());
  log.reset();
  log = OpenLog();
  EXPECT_TRUE(log->BecomeLeader(Epoch(2)).IsInvalidArgument());
  EXPECT_TRUE(log->BecomeLeader(Epoch(3)).ok());
  // Epoch 2 held no records, so its entry gave way to epoch 3 at the same offset.
  EXPECT_EQ(log->epoch_cache(), (std::vector<EpochEntry>{{Epoch(3), SequenceNumber(0)}}));
}

TEST_P(LocalLogTest, OffsetForLeaderEpochAnswersAsKip101) {
  auto log = OpenLog();
  MustAppend(log.get(), 1, 2);  // [0, 2) in epoch 0.
  ASSERT_TRUE(log->BecomeLeader(Epoch(2)).ok());
  MustAppend(log.get(), 2, 3);  // [2, 5) in epoch 2.
  ASSERT_TRUE(log->BecomeLeader(Epoch(5)).ok());
  MustAppend(log.get(), 3, 1);  // [5, 6) in epoch 5.
  auto at = [&](uint64_t e) { return log->OffsetForLeaderEpoch(Epoch(e)); };
  EXPECT_EQ(at(0), (EpochEndOffset{Epoch(0), SequenceNumber(2)}));
  EXPECT_EQ(at(1), (EpochEndOffset{Epoch(0), SequenceNumber(2)}));
  EXPECT_EQ(at(2), (EpochEndOffset{Epoch(2), SequenceNumber(5)}));
  EXPECT_EQ(at(4), (EpochEndOffset{Epoch(2), SequenceNumber(5)}));
  EXPECT_EQ(at(5), (EpochEndOffset{Epoch(5), SequenceNumber(6)}));
  EXPECT_EQ(at(9), (EpochEndOffset{Epoch(5), SequenceNumber(6)}));
  EXPECT_EQ(*log->EpochStartOffset(Epoch(2)), SequenceNumber(2));
  EXPECT_EQ(*log->EpochStartOffset(Epoch(5)), SequenceNumber(5));
  EXPECT_TRUE(log->EpochStartOffset(Epoch(0)).status().IsNotFound());
  EXPECT_TRUE(log->EpochStartOffset(Epoch(3)).status().IsNotFound());
}

TEST_P(LocalLogTest, TruncateAfterTrimsTheEpochCache) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(log->BecomeLeader(Epoch(1)).ok());
    MustAppend(log.get(), 1, 2);  // [0, 2)
    ASSERT_TRUE(log->BecomeLeader(Epoch(2)).ok());
    MustAppend(log.get(), 2, 2);  // [2, 4)
    ASSERT_TRUE(log->BecomeLeader(Epoch(3)).ok());
    MustAppend(log.get(), 3, 2);  // [4, 6)
    ASSERT_TRUE(log->TruncateAfter(SequenceNumber(1)).ok());
    // Epochs 2 and 3 lost their records; the current epoch 3 resumes at the new end.
    std::vector<EpochEntry> want = {{Epoch(1), SequenceNumber(0)}, {Epoch(3), SequenceNumber(2)}};
    EXPECT_EQ(log->epoch_cache(), want);
    EXPECT_EQ(log->visible(), VisibleWatermark(2));
    EXPECT_TRUE(log->EpochStartOffset(Epoch(2)).status().IsNotFound());
    EXPECT_EQ(log->OffsetForLeaderEpoch(Epoch(2)), (EpochEndOffset{Epoch(1), SequenceNumber(2)}));
    MustAppend(log.get(), 4, 1);
  }
  auto log = OpenLog();
  std::vector<EpochEntry> want = {{Epoch(1), SequenceNumber(0)}, {Epoch(3), SequenceNumber(2)}};
  EXPECT_EQ(log->epoch_cache(), want);
  EXPECT_EQ(BatchEpochs(*log), (std::vector<Epoch>{Epoch(1), Epoch(3)}));
  EXPECT_EQ(ReadValues(*log),
            (std::vector<std::string>{ValueName(1, 0), ValueName(1, 1), ValueName(4, 0)}));
}

TEST_P(LocalLogTest, DamagedEpochsFileFailsOpenWithCorruption) {
  {
    auto log = OpenLog();
    MustAppend(log.get(), 1, 1);
    ASSERT_TRUE(log->BecomeLeader(Epoch(7)).ok());
  }
  const std::string path = LocalLog::EpochsFileName(Dir());
  auto f = env_.fs()->Open(path, log::io::OpenOptions{.read_only = true});
  ASSERT_TRUE(f.ok());
  uint64_t size = *(*f)->Size();
  f->reset();
  for (uint64_t pos = 0; pos < size; ++pos) {
    Smash(path, pos);
    auto log = TryOpen();
    EXPECT_TRUE(log.status().IsCorruption()) << "byte " << pos << ": " << log.status().ToString();
    Smash(path, pos);  // Undo.
  }
  EXPECT_EQ(OpenLog()->epoch(), Epoch(7));  // Never silently replaced.
}

TEST_P(LocalLogTest, ShortOrMissingEpochsFileFailsOpenWithCorruption) {
  { MustAppend(OpenLog().get(), 1, 1); }
  const std::string path = LocalLog::EpochsFileName(Dir());
  {
    auto f = env_.fs()->Open(path, log::io::OpenOptions{});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Truncate(*(*f)->Size() - 1).ok());
  }
  EXPECT_TRUE(TryOpen().status().IsCorruption());
  ASSERT_TRUE(env_.fs()->Remove(path).ok());
  EXPECT_TRUE(TryOpen().status().IsCorruption());
}

// --- Threads from here on ---------------------------------------------------------------------

TEST_P(LocalLogTest, WaitForVisibleWakesOnAppendFromAnotherThread) {
  auto log = OpenLog();
  MustAppend(log.get(), 1, 1);
  std::thread appender([&] {
    std::this_thread::sleep_for(20ms);
    MustAppend(log.get(), 2, 2);
  });
  auto v = log->WaitForVisible(SequenceNumber(1), In(30s));
  appender.join();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, VisibleWatermark(3));
  // Already visible: returns at once.
  EXPECT_EQ(*log->WaitForVisible(SequenceNumber(0), In(0ms)), VisibleWatermark(3));
}

TEST_P(LocalLogTest, WaitForVisibleTimesOut) {
  auto log = OpenLog();
  MustAppend(log.get(), 1, 2);
  auto begin = std::chrono::steady_clock::now();
  auto v = log->WaitForVisible(SequenceNumber(2), In(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 50ms);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, VisibleWatermark(2));
}

TEST_P(LocalLogTest, WaitForVisibleReturnsOnClose) {
  auto log = OpenLog();
  std::atomic<bool> returned{false};
  Status status;
  std::thread waiter([&] {
    status = log->WaitForVisible(SequenceNumber(0), In(30s)).status();
    returned = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned);
  ASSERT_TRUE(log->Close().ok());
  waiter.join();
  EXPECT_EQ(status.code(), Status::Code::kAborted);
}

TEST_P(LocalLogTest, WaitForVisibleSeesBackgroundSyncsUnderIntervalDurability) {
  // The manual clock never moves, so appends never sync in their group: only the log's
  // background flusher makes them durable, and only the watcher here can tell the waiter.
  opts_.log.durability = log::Durability::Interval(10);
  auto log = OpenLog();
  std::atomic<uint64_t> heard{0};
  log->OnVisible([&](VisibleWatermark v) { heard = std::max(heard.load(), v.value()); });
  MustAppend(log.get(), 1, 2);  // Acknowledged once written; the log's flusher syncs it.
  auto v = log->WaitForVisible(SequenceNumber(1), In(30s));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, VisibleWatermark(2));
  for (int i = 0; i < 3000 && heard < 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(heard, 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, LocalLogTest, ::testing::ValuesIn(testing::AvailableBackends()),
                         testing::BackendName);

}  // namespace
}  // namespace sluice::replication
