// SPDX-License-Identifier: Apache-2.0
// Recovery under injected faults: torn writes at every byte, bit flips in headers, records and
// indexes, ENOSPC, failed syncs and simulated power loss. The invariants: no batch acknowledged
// as durable is lost, and nothing corrupt is ever returned as data.
#include "log/recovery.h"

#include <gtest/gtest.h>

#include "log/filename.h"
#include "log/format.h"
#include "log/io/memory_file.h"
#include "log/log.h"
#include "tests/support/batches.h"

namespace sluice::log {
namespace {

using testing::MakeBatch;
using testing::ReadAllValues;
using testing::ValueName;

constexpr char kDir[] = "/mem/log";

class RecoveryTest : public ::testing::Test {
 protected:
  RecoveryTest() {
    opts_.clock = &clock_;
    opts_.logger = [](std::string_view) {};
    opts_.preallocate = false;  // Keeps memory images small; preallocation has its own test.
  }

  std::unique_ptr<Log> OpenLog() {
    auto log = Log::Open(&fs_, kDir, opts_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  // Appends batches 0..n-1 of `count` records each; returns the file position of each batch.
  std::vector<uint64_t> Fill(Log* log, int n, uint32_t count = 4) {
    std::vector<uint64_t> positions;
    uint64_t pos = format::kSegmentHeaderSize;
    for (int i = 0; i < n; ++i) {
      std::string b = MakeBatch(i, count, 20, clock_.NowMs());
      positions.push_back(pos);
      pos += b.size();
      EXPECT_TRUE(log->Append(AsBytes(b)).ok());
    }
    positions.push_back(pos);
    return positions;
  }

  std::vector<std::string> Expected(int batches, uint32_t count = 4) {
    std::vector<std::string> v;
    for (int i = 0; i < batches; ++i) {
      for (uint32_t j = 0; j < count; ++j) v.push_back(ValueName(i, j));
    }
    return v;
  }

  std::string Segment0() const { return SegmentFileName(kDir, SegmentId(0)); }

  io::MemoryFileSystem fs_;
  ManualClock clock_;
  LogOptions opts_;
};

TEST_F(RecoveryTest, LastNonZeroEndFindsTheLastNonZeroByteAnywhere) {
  constexpr uint64_t kSize = (3u << 20) + 12345;  // Several read chunks and a ragged tail.
  ASSERT_TRUE(fs_.CreateDirs(kDir).ok());
  auto opened = fs_.Open(std::string(kDir) + "/zeros", io::OpenOptions{.create = true});
  ASSERT_TRUE(opened.ok());
  io::File& file = **opened;
  ASSERT_TRUE(file.Truncate(kSize).ok());
  auto last = LastNonZeroEnd(file, 100, kSize);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 100u);  // All zeros after `from`.
  // Slice and chunk boundaries on both sides, the first and the last byte.
  for (uint64_t pos : {uint64_t{100}, uint64_t{65535}, uint64_t{65536}, uint64_t{(1u << 20) - 1},
                       uint64_t{1u << 20}, uint64_t{(2u << 20) + 7}, kSize - 1}) {
    const std::byte one{1};
    ASSERT_TRUE(file.WriteAt(pos, std::span<const std::byte>(&one, 1)).ok());
    last = LastNonZeroEnd(file, 100, kSize);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(*last, pos + 1) << pos;
  }
}

TEST_F(RecoveryTest, AppendBatchesStopsAtTheFirstFailedWrite) {
  opts_.max_group_bytes = 1;  // One batch per group: three writes.
  auto log = OpenLog();
  const std::string a = MakeBatch(1, 1, 20, clock_.NowMs());
  const std::string b = MakeBatch(2, 1, 10'000, clock_.NowMs());
  const std::string c = MakeBatch(3, 1, 20, clock_.NowMs());
  // Room for the segment header and `a` only: `b`'s write fails with NoSpace.
  fs_.SetCapacity(format::kSegmentHeaderSize + a.size() + 64);
  const std::vector<std::span<const std::byte>> batches = {AsBytes(a), AsBytes(b), AsBytes(c)};
  std::vector<Result<AppendResult>> r = log->AppendBatches(batches);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].ok());
  EXPECT_TRUE(r[1].status().IsNoSpace()) << r[1].status().ToString();
  // `c` would fit, but it must not land after the gap `b` left.
  EXPECT_EQ(r[2].status().code(), Status::Code::kAborted) << r[2].status().ToString();
  EXPECT_EQ(ReadAllValues(*log), std::vector<std::string>{ValueName(1, 0)});
  // NoSpace is not sticky: with room again, appends resume right after `a`.
  fs_.SetCapacity(UINT64_MAX);
  auto again = log->Append(AsBytes(c));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->base, SequenceNumber(1));
}

TEST_F(RecoveryTest, TornWriteAtEveryByteOfLastBatchDropsOnlyThatBatch) {
  std::vector<uint64_t> pos;
  {
    auto log = OpenLog();
    pos = Fill(log.get(), 5);
  }
  auto image = fs_.Contents(Segment0());
  ASSERT_TRUE(image.ok());
  uint64_t last = pos[4], end = pos[5];
  for (uint64_t k = 0; k <= end - last; ++k) {
    SCOPED_TRACE("torn after " + std::to_string(k) + " bytes of the last batch");
    std::string torn = image->substr(0, last + k);
    ASSERT_TRUE(fs_.SetContents(Segment0(), torn).ok());
    (void)fs_.Remove(IndexFileName(kDir, SegmentId(0)));
    auto log = OpenLog();
    bool whole = k == end - last;
    EXPECT_EQ(ReadAllValues(*log), Expected(whole ? 5 : 4));
    EXPECT_EQ(log->next_offset(), SequenceNumber(whole ? 20 : 16));
    const RecoveryReport& rep = log->recovery_report();
    if (whole || k == 0) {
      EXPECT_TRUE(rep.dropped.empty()) << rep.ToString();
    } else {
      ASSERT_EQ(rep.dropped.size(), 1u) << rep.ToString();
      EXPECT_EQ(rep.dropped[0].position, last);
      EXPECT_LE(rep.dropped[0].bytes, k);
      EXPECT_EQ(rep.dropped[0].file, Segment0());
    }
    // The log keeps working after the repair, and the new batch survives a reopen.
    std::string b = MakeBatch(100, 1);
    ASSERT_TRUE(log->Append(AsBytes(b)).ok());
    log.reset();
    auto again = OpenLog();
    auto values = ReadAllValues(*again);
    ASSERT_FALSE(values.empty());
    EXPECT_EQ(values.back(), ValueName(100, 0));
    EXPECT_TRUE(again->recovery_report().clean()) << again->recovery_report().ToString();
  }
}

TEST_F(RecoveryTest, BitFlipInLastBatchHeaderTruncatesIt) {
  std::vector<uint64_t> pos;
  {
    auto log = OpenLog();
    pos = Fill(log.get(), 3);
  }
  for (size_t byte = 0; byte < format::kBatchHeaderSize; byte += 7) {
    auto image = fs_.Contents(Segment0());
    ASSERT_TRUE(fs_.FlipBit(Segment0(), pos[2] + byte, 3).ok());
    {
      auto log = OpenLog();
      EXPECT_EQ(ReadAllValues(*log), Expected(2)) << "flip at header byte " << byte;
    }
    ASSERT_TRUE(fs_.SetContents(Segment0(), *image).ok());
  }
}

TEST_F(RecoveryTest, BitFlipInEarlierBatchKeepsLaterBatchesAndNeverServesIt) {
  std::vector<uint64_t> pos;
  {
    auto log = OpenLog();
    pos = Fill(log.get(), 5);
  }
  // Flip a bit in the records of batch 2 (of 5): corruption, not a torn tail.
  ASSERT_TRUE(fs_.FlipBit(Segment0(), pos[2] + format::kBatchHeaderSize + 5, 1).ok());
  auto log = OpenLog();
  const RecoveryReport& rep = log->recovery_report();
  EXPECT_TRUE(rep.dropped.empty()) << rep.ToString();
  ASSERT_EQ(rep.damaged.size(), 1u) << rep.ToString();
  EXPECT_EQ(rep.damaged[0].position, pos[2]);
  EXPECT_EQ(rep.damaged[0].first, SequenceNumber(8));
  EXPECT_EQ(rep.damaged[0].end, SequenceNumber(12));
  EXPECT_EQ(log->next_offset(), SequenceNumber(20));  // Sequence numbers are never reused.
  // Reading from the start returns batches 0-1 and stops before the damage.
  auto first = log->Read(SequenceNumber(0), ReadOptions{.max_bytes = 1 << 20});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->next, SequenceNumber(8));
  // Reading the damaged range is an error that names the position; never data.
  auto bad = log->Read(SequenceNumber(8));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();
  EXPECT_NE(bad.status().ToString().find(std::to_string(pos[2])), std::string::npos);
  // Everything after it is served.
  auto rest = ReadAllValues(*log, SequenceNumber(12));
  EXPECT_EQ(rest.size(), 8u);
}

TEST_F(RecoveryTest, BitFlipInSealedSegmentIsReportedOnRead) {
  opts_.segment_bytes = 8 << 10;
  {
    auto log = OpenLog();
    Fill(log.get(), 100);
    ASSERT_GT(log->segment_count(), 3u);
  }
  ASSERT_TRUE(fs_.FlipBit(Segment0(), format::kSegmentHeaderSize + 100, 0).ok());
  auto log = OpenLog();
  auto r = log->Read(SequenceNumber(0));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  // Later segments still serve.
  auto later = log->Read(SequenceNumber(300));
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_GT(later->batch_count, 0u);
}

TEST_F(RecoveryTest, DamagedIndexIsRebuilt) {
  opts_.segment_bytes = 8 << 10;
  {
    auto log = OpenLog();
    Fill(log.get(), 100);
  }
  std::string index = IndexFileName(kDir, SegmentId(0));
  ASSERT_TRUE(fs_.Exists(index));
  ASSERT_TRUE(fs_.FlipBit(index, format::kIndexHeaderSize + 3, 2).ok());
  std::vector<std::string> notes;
  opts_.logger = [&](std::string_view n) { notes.emplace_back(n); };
  auto log = OpenLog();
  EXPECT_EQ(ReadAllValues(*log), Expected(100));
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("rebuilt index"), std::string::npos) << notes[0];
}

TEST_F(RecoveryTest, MissingIndexIsRebuilt) {
  opts_.segment_bytes = 8 << 10;
  {
    auto log = OpenLog();
    Fill(log.get(), 100);
  }
  ASSERT_TRUE(fs_.Remove(IndexFileName(kDir, SegmentId(0))).ok());
  auto log = OpenLog();
  EXPECT_EQ(ReadAllValues(*log), Expected(100));
}

TEST_F(RecoveryTest, DamagedTailSegmentHeaderIsRewrittenAndDataKept) {
  {
    auto log = OpenLog();
    Fill(log.get(), 3);
  }
  ASSERT_TRUE(fs_.FlipBit(Segment0(), 17, 4).ok());  // Inside the base offset field.
  auto log = OpenLog();
  EXPECT_EQ(ReadAllValues(*log), Expected(3));
  log.reset();
  auto again = OpenLog();
  EXPECT_TRUE(again->recovery_report().notes.empty()) << again->recovery_report().ToString();
}

TEST_F(RecoveryTest, NoSpaceMidBatchIsRetriableAndLosesNothing) {
  auto log = OpenLog();
  Fill(log.get(), 3);
  auto used = fs_.Contents(Segment0());
  fs_.SetCapacity(used->size() + 30);  // The next batch does not fit.
  std::string b = MakeBatch(3, 4, 20);
  auto r = log->Append(AsBytes(b));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNoSpace()) << r.status().ToString();
  EXPECT_EQ(ReadAllValues(*log), Expected(3));  // Reads keep working.
  EXPECT_EQ(log->next_offset(), SequenceNumber(12));
  fs_.SetCapacity(UINT64_MAX);  // Space returns: appends resume.
  ASSERT_TRUE(log->Append(AsBytes(b)).ok());
  EXPECT_EQ(ReadAllValues(*log), Expected(4));
  log.reset();
  auto again = OpenLog();
  EXPECT_EQ(ReadAllValues(*again), Expected(4));
}

TEST_F(RecoveryTest, ShortWriteFailsAppendAndReopenRepairs) {
  auto log = OpenLog();
  uint64_t log_end = Fill(log.get(), 2).back();
  fs_.ShortWriteNext(10);
  std::string b = MakeBatch(2, 4, 20);
  EXPECT_FALSE(log->Append(AsBytes(b)).ok());
  // A failed write+sync leaves the file's state unknown: the log refuses appends until reopened.
  EXPECT_TRUE(log->Append(AsBytes(b)).status().IsIOError());
  EXPECT_EQ(ReadAllValues(*log), Expected(2));
  log.reset();
  // The partial bytes were removed when the write failed: nothing is left to drop.
  std::string image = *fs_.Contents(Segment0());
  EXPECT_EQ(image.find_first_not_of('\0', log_end), std::string::npos);
  auto again = OpenLog();
  EXPECT_TRUE(again->recovery_report().clean()) << again->recovery_report().ToString();
  ASSERT_TRUE(again->Append(AsBytes(b)).ok());
  EXPECT_EQ(ReadAllValues(*again), Expected(3));
}

TEST_F(RecoveryTest, ShortWriteWithNeverIsRetriable) {
  opts_.durability = Durability::Never();
  auto log = OpenLog();
  Fill(log.get(), 2);
  fs_.ShortWriteNext(10);
  std::string b = MakeBatch(2, 4, 20);
  EXPECT_FALSE(log->Append(AsBytes(b)).ok());
  ASSERT_TRUE(log->Append(AsBytes(b)).ok());  // Overwrites the partial bytes.
  EXPECT_EQ(ReadAllValues(*log), Expected(3));
  ASSERT_TRUE(log->Close().ok());
  auto again = OpenLog();
  EXPECT_EQ(ReadAllValues(*again), Expected(3));
}

TEST_F(RecoveryTest, FailedSyncStopsAppendsUntilReopen) {
  auto log = OpenLog();
  Fill(log.get(), 2);
  fs_.FailNextWrites(1, Status::IOError("injected EIO"));
  std::string b = MakeBatch(2, 4, 20);
  EXPECT_FALSE(log->Append(AsBytes(b)).ok());
  auto again = log->Append(AsBytes(b));
  EXPECT_TRUE(again.status().IsIOError()) << again.status().ToString();
  EXPECT_EQ(ReadAllValues(*log), Expected(2));
  log.reset();
  auto reopened = OpenLog();
  ASSERT_TRUE(reopened->Append(AsBytes(b)).ok());
  EXPECT_EQ(ReadAllValues(*reopened), Expected(3));
}

TEST_F(RecoveryTest, CrashKeepsEveryBatchAcknowledgedWithAlways) {
  opts_.segment_bytes = 8 << 10;
  auto log = OpenLog();
  Fill(log.get(), 60);
  fs_.Crash();
  testing::Abandon(std::move(log));  // Stale after the crash, as after a power loss.
  auto again = OpenLog();
  EXPECT_EQ(ReadAllValues(*again), Expected(60));
}

TEST_F(RecoveryTest, CrashWithNeverLosesOnlyAnUnsyncedSuffix) {
  opts_.durability = Durability::Never();
  auto log = OpenLog();
  Fill(log.get(), 10);
  ASSERT_TRUE(log->Sync().ok());
  Fill(log.get(), 0);
  for (int i = 10; i < 20; ++i) {
    std::string b = MakeBatch(i, 4, 20);
    ASSERT_TRUE(log->Append(AsBytes(b)).ok());
  }
  EXPECT_GT(fs_.UnsyncedBytes(), 0u);
  fs_.Crash();
  testing::Abandon(std::move(log));  // Stale after the crash, as after a power loss.
  auto again = OpenLog();
  auto values = ReadAllValues(*again);
  ASSERT_GE(values.size(), Expected(10).size());
  auto want = Expected(20);
  EXPECT_TRUE(std::equal(values.begin(), values.end(), want.begin()));
}

TEST_F(RecoveryTest, PreallocatedSegmentRecoversAfterCrash) {
  opts_.preallocate = true;
  opts_.segment_bytes = 1 << 20;
  auto log = OpenLog();
  Fill(log.get(), 30);
  fs_.Crash();
  testing::Abandon(std::move(log));  // Stale after the crash, as after a power loss.
  auto again = OpenLog();
  EXPECT_EQ(ReadAllValues(*again), Expected(30));
  EXPECT_TRUE(again->recovery_report().clean()) << again->recovery_report().ToString();
}

}  // namespace
}  // namespace sluice::log
