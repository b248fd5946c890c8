// SPDX-License-Identifier: Apache-2.0
// One segment file end to end: SegmentWriter (buffered and O_DIRECT), SegmentReader, and the
// recovery scan (ScanSegment, FindNextValidBatch), over every available backend.
#include <cstring>
#include <linux/magic.h>
#include <random>
#include <string>
#include <sys/vfs.h>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "log/filename.h"
#include "log/format.h"
#include "log/record_batch.h"
#include "log/recovery.h"
#include "log/segment_header.h"
#include "log/segment_reader.h"
#include "log/segment_writer.h"
#include "tests/support/backends.h"
#include "tests/support/batches.h"

namespace sluice::log {
namespace {

using format::kSegmentHeaderSize;
using Param = std::tuple<io::Backend, bool>;  // Backend, SegmentWriterOptions::direct.
constexpr uint64_t kPage = 4096;

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return testing::BackendName({std::get<0>(info.param), info.index}) +
         (std::get<1>(info.param) ? "Direct" : "Buffered");
}

class SegmentFileTest : public ::testing::TestWithParam<Param> {
 protected:
  SegmentFileTest() : env_(std::get<0>(GetParam())) {}
  void SetUp() override { ASSERT_TRUE(env_.fs()->CreateDirs(env_.Dir()).ok()); }

  io::FileSystem* fs() { return env_.fs(); }
  SegmentWriterOptions Opts(uint64_t preallocate = 0) {
    return {std::get<1>(GetParam()), preallocate};
  }
  bool ExpectDirect() {
    struct statfs st {};
    bool tmpfs = statfs(env_.Dir().c_str(), &st) == 0 && st.f_type == TMPFS_MAGIC;
    return std::get<1>(GetParam()) && std::get<0>(GetParam()) != io::Backend::kMemory && !tmpfs;
  }
  std::unique_ptr<SegmentWriter> Create(uint64_t preallocate = 0) {
    auto w = SegmentWriter::Create(fs(), path_, base_, 1234, Opts(preallocate));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE(!w.ok() || (*w)->direct() == ExpectDirect());
    return w.ok() ? std::move(w).value() : nullptr;
  }
  std::unique_ptr<io::File> OpenRead() {
    auto f = fs()->Open(path_, io::OpenOptions{.read_only = true});
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return std::move(f).value();
  }
  std::string Image() {
    auto f = OpenRead();
    std::string s(f->Size().value(), '\0');
    auto n = f->ReadAt(0, {reinterpret_cast<std::byte*>(s.data()), s.size()});
    EXPECT_TRUE(n.ok() && *n == s.size());
    return s;
  }
  // Overwrites file bytes at `pos` through a buffered handle (after the writer is gone).
  void Poke(uint64_t pos, const std::string& bytes) {
    auto f = fs()->Open(path_, io::OpenOptions{});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(pos, AsBytes(bytes)).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  void FlipBit(uint64_t pos, int bit) {
    std::string b = Image().substr(pos, 1);
    b[0] = static_cast<char>(b[0] ^ (1 << bit));
    Poke(pos, b);
  }
  // `n` batches of 1..10000 bytes with consecutive base offsets from `next_`.
  std::vector<std::string> Batches(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      uint32_t count = 1 + rng_() % 20;
      out.push_back(Stamp(testing::MakeBatch(tag_++, count, rng_() % (9000 / count))));
    }
    return out;
  }
  // Gives `b` the next base offsets.
  std::string Stamp(std::string b) {
    RestampBatch({reinterpret_cast<std::byte*>(b.data()), b.size()}, SequenceNumber(next_),
                 Epoch(1), std::nullopt);
    next_ += BaseAndNext(b).second.value() - BaseAndNext(b).first.value();
    return b;
  }
  static std::pair<SequenceNumber, SequenceNumber> BaseAndNext(const std::string& b) {
    BatchHeader h = RecordBatchView::Parse(AsBytes(b))->header();
    return {h.base_offset, h.next_offset()};
  }
  static SequenceNumber BaseOf(const std::string& b) { return BaseAndNext(b).first; }
  // Appends, alternating Append and Reserve+Commit; records each batch's position.
  void Write(SegmentWriter* w, const std::vector<std::string>& batches) {
    for (size_t i = 0; i < batches.size(); ++i) {
      pos_.push_back(w->size());
      bool sync = i % 7 == 0;
      if (i % 2 == 0) {
        ASSERT_TRUE(w->Append(AsBytes(batches[i]), sync).ok());
      } else {
        std::span<std::byte> dst = w->Reserve(batches[i].size());
        std::memcpy(dst.data(), batches[i].data(), batches[i].size());
        ASSERT_TRUE(w->Commit(sync).ok());
      }
      ASSERT_EQ(w->size(), pos_.back() + batches[i].size());
    }
  }
  // Every batch in [start, end), expecting a clean end.
  std::vector<std::string> ReadBack(uint64_t start, uint64_t end) {
    auto f = OpenRead();
    SegmentReader r(f.get(), start, end);
    std::vector<std::string> out;
    for (;;) {
      auto b = r.Next();
      EXPECT_TRUE(b.ok()) << b.status().ToString();
      if (!b.ok() || !b->has_value()) break;
      out.emplace_back(AsChars((*b)->bytes()));
    }
    return out;
  }
  void ExpectZerosFrom(uint64_t from) {
    std::string img = Image();
    ASSERT_LE(from, img.size());
    EXPECT_EQ(img.find_first_not_of('\0', from), std::string::npos) << "non-zero after " << from;
  }

  testing::BackendEnv env_;
  SegmentId base_{1000};
  std::string path_ = SegmentFileName(env_.Dir(), base_);
  std::mt19937_64 rng_{99};
  uint64_t tag_ = 0, next_ = base_.value();
  std::vector<uint64_t> pos_;
};

using SegmentWriterTest = SegmentFileTest;

TEST_P(SegmentWriterTest, CreateWritesAValidHeaderAndDataStartsAtOnePage) {
  auto w = Create();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), kSegmentHeaderSize);
  auto h = DecodeSegmentHeader(AsBytes(Image()));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->base, base_);
  EXPECT_EQ(h->created_ms, 1234);
  EXPECT_TRUE(ReadBack(kSegmentHeaderSize, w->size()).empty());
  EXPECT_TRUE(SegmentWriter::Create(fs(), path_, base_, 1, Opts()).status().IsInvalidArgument());
}

TEST_P(SegmentWriterTest, BatchesOfOddSizesReadBackExactly) {
  auto w = Create();
  std::vector<std::string> batches = Batches(150);
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  EXPECT_EQ(ReadBack(kSegmentHeaderSize, w->size()), batches);
  uint64_t file_size = OpenRead()->Size().value();
  EXPECT_EQ(file_size, w->direct() ? (w->size() + kPage - 1) / kPage * kPage : w->size());
  ExpectZerosFrom(w->size());
  EXPECT_EQ(ReadBack(kSegmentHeaderSize, file_size), batches);  // Stops at the padding.
}

TEST_P(SegmentWriterTest, PreallocatedSpaceIsZeroAndTheReaderStopsThereUntilSealTrimsIt) {
  auto w = Create(1 << 20);
  std::vector<std::string> batches = Batches(40);
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  ASSERT_LT(w->size(), 1u << 20);
  EXPECT_EQ(OpenRead()->Size().value(), 1u << 20);
  ExpectZerosFrom(w->size());
  EXPECT_EQ(ReadBack(kSegmentHeaderSize, 1 << 20), batches);
  ASSERT_TRUE(w->Seal().ok());
  EXPECT_EQ(OpenRead()->Size().value(), w->size());
  EXPECT_EQ(ReadBack(kSegmentHeaderSize, w->size()), batches);
}

TEST_P(SegmentWriterTest, OpenForAppendContinuesAtARecoveredEndAndZeroesWhatFollows) {
  std::vector<std::string> batches = Batches(30);
  {
    auto w = Create(256 << 10);
    ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  }
  // Cut after batch 17 (not page-aligned), then at the data start (page-aligned).
  for (size_t keep : {size_t{17}, size_t{0}}) {
    SCOPED_TRACE(keep);
    uint64_t end = pos_[keep];
    if (keep > 0) {
      ASSERT_NE(end % kPage, 0u);
    }
    auto w = SegmentWriter::OpenForAppend(fs(), path_, end, Opts());
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ((*w)->size(), end);
    EXPECT_EQ((*w)->direct(), ExpectDirect());
    ExpectZerosFrom(end);
    std::vector<std::string> expected(batches.begin(), batches.begin() + keep);
    std::vector<std::string> more = Batches(9);
    ASSERT_NO_FATAL_FAILURE(Write(w->get(), more));
    expected.insert(expected.end(), more.begin(), more.end());
    EXPECT_EQ(ReadBack(kSegmentHeaderSize, (*w)->size()), expected);
    ExpectZerosFrom((*w)->size());
    pos_.resize(30);
  }
}

TEST_P(SegmentWriterTest, TruncateToThenAppend) {
  auto w = Create();
  std::vector<std::string> batches = Batches(25);
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  EXPECT_TRUE(w->TruncateTo(w->size() + 1).IsInvalidArgument());
  ASSERT_TRUE(w->TruncateTo(pos_[11]).ok());
  EXPECT_EQ(w->size(), pos_[11]);
  ExpectZerosFrom(pos_[11]);
  batches.resize(11);
  std::vector<std::string> more = Batches(10);
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), more));
  batches.insert(batches.end(), more.begin(), more.end());
  EXPECT_EQ(ReadBack(kSegmentHeaderSize, w->size()), batches);
  ExpectZerosFrom(w->size());
}

using SegmentReaderTest = SegmentFileTest;

TEST_P(SegmentReaderTest, TornAndCorruptBatchesStopTheReaderAtTheirStart) {
  auto w = Create();
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), Batches(8)));
  uint64_t end = w->size();
  w.reset();
  FlipBit(pos_[5] + format::kBatchHeaderSize + 3, 2);  // Records of batch 5.
  auto f = OpenRead();
  for (auto [stop_end, at, truncated] : {std::tuple{end - 1, 7, true}, {end, 5, false}}) {
    SegmentReader r(f.get(), pos_[at - 1], stop_end);
    auto b = r.Next();  // The batch before the bad one is fine.
    ASSERT_TRUE(b.ok() && b->has_value()) << b.status().ToString();
    b = r.Next();
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().IsTruncated(), truncated) << b.status().ToString();
    EXPECT_EQ(b.status().IsCorruption(), !truncated) << b.status().ToString();
    EXPECT_EQ(r.position(), pos_[at]);
  }
}

using ScanSegmentTest = SegmentFileTest;

TEST_P(ScanSegmentTest, CleanSegmentIsFullyIndexed) {
  auto w = Create(64 << 10);
  std::vector<std::string> batches = Batches(30);
  ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  auto scan = ScanSegment(*OpenRead(), base_, path_);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_TRUE(scan->stop.ok()) << scan->stop.ToString();
  EXPECT_FALSE(scan->header_damaged);
  EXPECT_TRUE(scan->damaged.empty());
  EXPECT_EQ(scan->valid_end, w->size());
  Index model(base_);
  for (size_t i = 0; i < batches.size(); ++i) {
    BatchHeader h = RecordBatchView::Parse(AsBytes(batches[i]))->header();
    model.Add(h.base_offset, h.next_offset(), pos_[i], batches[i].size(), h.max_timestamp);
  }
  EXPECT_EQ(scan->index.Encode(false), model.Encode(false));
}

TEST_P(ScanSegmentTest, TornTailStopsAtTheLastGoodBatch) {
  std::vector<std::string> batches = Batches(12);
  {
    auto w = Create();
    ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  }
  uint64_t last = pos_[11];
  for (bool cut : {false, true}) {
    SCOPED_TRACE(cut ? "file cut inside the last batch" : "last batch's second half zero");
    if (cut) {
      ASSERT_TRUE((*fs()->Open(path_, {}))->Truncate(last + 50).ok());
    } else {
      Poke(last + batches[11].size() / 2, std::string(batches[11].size() / 2 + 1, '\0'));
    }
    auto scan = ScanSegment(*OpenRead(), base_, path_);
    ASSERT_TRUE(scan.ok());
    EXPECT_FALSE(scan->stop.ok());
    if (cut) {
      EXPECT_TRUE(scan->stop.IsTruncated()) << scan->stop.ToString();
    }
    EXPECT_EQ(scan->valid_end, last);
    EXPECT_TRUE(scan->damaged.empty());
    EXPECT_EQ(scan->index.data_end(), last);
    EXPECT_EQ(scan->index.next_offset(), BaseOf(batches[11]));
  }
}

TEST_P(ScanSegmentTest, CorruptBatchInTheMiddleIsDamagedAndLaterBatchesIndexed) {
  std::vector<std::string> batches = Batches(20);
  {
    auto w = Create();
    ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
    pos_.push_back(w->size());
  }
  // A flipped record byte (checksum), then a flipped high length bit (out of bounds).
  for (uint64_t at :
       {pos_[9] + format::kBatchHeaderSize + 1, pos_[9] + format::kBatchLengthOffset + 3}) {
    FlipBit(at, 6);
    auto scan = ScanSegment(*OpenRead(), base_, path_);
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->stop.ok()) << scan->stop.ToString();
    EXPECT_EQ(scan->valid_end, pos_[20]);
    ASSERT_EQ(scan->damaged.size(), 1u);
    const DamagedRange& d = scan->damaged[0];
    EXPECT_EQ(d.position, pos_[9]);
    EXPECT_EQ(d.bytes, pos_[10] - pos_[9]);
    EXPECT_EQ(d.first, BaseOf(batches[9]));
    EXPECT_EQ(d.end, BaseOf(batches[10]));
    EXPECT_EQ(scan->index.next_offset(), SequenceNumber(next_));
    // A forced index entry right after the damage.
    EXPECT_EQ(scan->index.LookupOffset(BaseOf(batches[10])), pos_[10]);
    EXPECT_LE(scan->index.LookupOffset(BaseOf(batches[9])), pos_[9]);
    FlipBit(at, 6);  // Restore.
  }
}

// A batch whose length is a power of two turns into "length 0" under one bit flip. The reader
// takes a zero length for the end of the data; the scan must not then report a clean end with
// valid batches after it (Log::Open would zero them via OpenForAppend with nothing dropped).
TEST_P(ScanSegmentTest, ZeroedLengthMidSegmentIsNotACleanEnd) {
  std::vector<std::string> batches = Batches(3);
  std::string pow2;
  for (size_t v = 0; v < 2000 && pow2.size() != 1024; ++v) pow2 = testing::MakeBatch(0, 1, v);
  ASSERT_EQ(pow2.size(), 1024u);
  batches.push_back(Stamp(pow2));
  for (std::string& b : Batches(3)) batches.push_back(std::move(b));
  {
    auto w = Create();
    ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
  }
  FlipBit(pos_[3] + format::kBatchLengthOffset + 1, 2);  // 1024 = 0x400 -> 0.
  auto scan = ScanSegment(*OpenRead(), base_, path_);
  ASSERT_TRUE(scan.ok());
  bool clean_end = scan->stop.ok() && scan->damaged.empty();
  EXPECT_FALSE(clean_end && scan->valid_end == pos_[3])
      << "batches 4..6 after the zeroed length are neither indexed nor reported";
}

TEST_P(ScanSegmentTest, FindNextValidBatch) {
  std::vector<std::string> batches = Batches(10);
  uint64_t end;
  {
    auto w = Create();
    ASSERT_NO_FATAL_FAILURE(Write(w.get(), batches));
    end = w->size();
  }
  auto f = OpenRead();
  auto find = [&](uint64_t from, SequenceNumber min_base) {
    auto r = FindNextValidBatch(*f, from, end, min_base);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::nullopt;
  };
  EXPECT_EQ(find(kSegmentHeaderSize, SequenceNumber(0)), pos_[0]);
  EXPECT_EQ(find(pos_[0] + 1, BaseOf(batches[0])), pos_[1]);
  EXPECT_EQ(find(pos_[4], BaseOf(batches[3])), pos_[4]);
  EXPECT_EQ(find(pos_[4], BaseOf(batches[4])), pos_[5]);  // Base must be greater than min_base.
  EXPECT_EQ(find(kSegmentHeaderSize, BaseOf(batches[9])), std::nullopt);
  EXPECT_EQ(find(pos_[9] + 1, SequenceNumber(0)), std::nullopt);
  f.reset();
  FlipBit(pos_[5] + format::kBatchHeaderSize, 0);
  f = OpenRead();
  EXPECT_EQ(find(pos_[4] + 1, BaseOf(batches[4])), pos_[6]);  // Skips the corrupt batch 5.
}

#define SLUICE_INSTANTIATE(Fixture)                                                             \
  INSTANTIATE_TEST_SUITE_P(                                                                     \
      Backends, Fixture,                                                                        \
      ::testing::Combine(::testing::ValuesIn(testing::AvailableBackends()), ::testing::Bool()), \
      ParamName)
SLUICE_INSTANTIATE(SegmentWriterTest);
SLUICE_INSTANTIATE(SegmentReaderTest);
SLUICE_INSTANTIATE(ScanSegmentTest);

}  // namespace
}  // namespace sluice::log
