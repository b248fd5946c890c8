// SPDX-License-Identifier: Apache-2.0
// The sparse offset/timestamp index (log/index.h): entry spacing, lookups against a
// brute-force model, truncation, and the .index file image.
#include "log/index.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/base/checksum.h"
#include "log/base/coding.h"
#include "log/format.h"
#include "log/record_batch.h"

namespace sluice::log {
namespace {

using format::kIndexIntervalBytes;
using format::kSegmentHeaderSize;

struct Batch {
  uint64_t base;  // Absolute sequence number of the first record.
  uint64_t next;
  uint64_t pos;
  uint64_t bytes;
  TimestampMs max_ts;
};

// `n` batches laid out from the data start of a segment at `base`, with odd sizes, 1..50
// records each and non-monotonic timestamps.
std::vector<Batch> RandomBatches(uint64_t base, int n, std::mt19937_64& rng) {
  std::vector<Batch> out;
  uint64_t seq = base, pos = kSegmentHeaderSize;
  for (int i = 0; i < n; ++i) {
    uint64_t count = 1 + rng() % 50, bytes = 81 + rng() % 3000;
    TimestampMs ts =
        1'000'000 + static_cast<TimestampMs>(i * 10) - static_cast<TimestampMs>(rng() % 400);
    out.push_back({seq, seq + count, pos, bytes, ts});
    seq += count;
    pos += bytes;
  }
  return out;
}

void AddAll(Index* index, const std::vector<Batch>& batches, size_t from = 0) {
  for (size_t i = from; i < batches.size(); ++i) {
    const Batch& b = batches[i];
    index->Add(SequenceNumber(b.base), SequenceNumber(b.next), b.pos, b.bytes, b.max_ts);
  }
}

bool IsBatchStart(const std::vector<Batch>& batches, uint64_t pos) {
  return pos == kSegmentHeaderSize ||
         std::any_of(batches.begin(), batches.end(), [&](const Batch& b) { return b.pos == pos; });
}

std::span<const std::byte> Bytes(const std::string& s) { return AsBytes(s); }

class IndexTest : public ::testing::Test {
 protected:
  std::mt19937_64 rng_{2024};
};

TEST_F(IndexTest, EmptyIndexDescribesAnEmptySegment) {
  Index index(SegmentId(77));
  EXPECT_TRUE(index.empty());
  EXPECT_EQ(index.next_offset(), SequenceNumber(77));
  EXPECT_EQ(index.data_end(), kSegmentHeaderSize);
  EXPECT_EQ(index.LookupOffset(SequenceNumber(100)), kSegmentHeaderSize);
  EXPECT_EQ(index.LookupTimestamp(0), kSegmentHeaderSize);
}

TEST_F(IndexTest, AddsAnEntryForTheFirstBatchThenEveryIntervalPlusForcedOnes) {
  Index index(SegmentId(1000));
  // 1000-byte batches at 4096, 5096, ...: entries at the first, then once 4096 bytes passed.
  for (uint64_t i = 0; i < 12; ++i) {
    bool force = i == 6;
    index.Add(SequenceNumber(1000 + 2 * i), SequenceNumber(1002 + 2 * i), 4096 + 1000 * i, 1000,
              static_cast<TimestampMs>(100 + i), force);
  }
  std::vector<uint32_t> positions;
  for (const IndexEntry& e : index.entries()) positions.push_back(e.position);
  // 4096; +5000 = 9096 (>= 4096 past); forced at 10096; then 15096 (5000 past 10096).
  EXPECT_EQ(positions, (std::vector<uint32_t>{4096, 9096, 10096, 15096}));
  EXPECT_EQ(index.entries()[2].relative_offset, 12u);
  EXPECT_EQ(index.entries()[2].max_timestamp, 106);
  EXPECT_EQ(index.next_offset(), SequenceNumber(1024));
  EXPECT_EQ(index.data_end(), 4096u + 12000);
  EXPECT_EQ(index.max_timestamp(), 111);
}

TEST_F(IndexTest, SpacingHoldsOnRandomBatches) {
  std::vector<Batch> batches = RandomBatches(5, 2000, rng_);
  Index index(SegmentId(5));
  AddAll(&index, batches);
  const auto& entries = index.entries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries[0].position, kSegmentHeaderSize);
  size_t e = 0;
  TimestampMs running = INT64_MIN;
  for (const Batch& b : batches) {
    running = std::max(running, b.max_ts);
    bool indexed = e + 1 < entries.size() && entries[e + 1].position == b.pos;
    if (indexed) ++e;
    if (b.pos == kSegmentHeaderSize || indexed) {
      EXPECT_EQ(entries[e].relative_offset, b.base - 5);
      EXPECT_EQ(entries[e].max_timestamp, running);
    }
    // An unindexed batch lies less than one interval after the last entry; an indexed one
    // at least one interval after the previous entry.
    if (indexed) {
      EXPECT_GE(b.pos - entries[e - 1].position, kIndexIntervalBytes);
    }
    if (!indexed && b.pos != kSegmentHeaderSize) {
      EXPECT_LT(b.pos - entries[e].position, kIndexIntervalBytes);
    }
  }
  EXPECT_EQ(e + 1, entries.size());
}

TEST_F(IndexTest, LookupsMatchABruteForceModel) {
  const uint64_t base = 1'000'000;
  std::vector<Batch> batches = RandomBatches(base, 1500, rng_);
  Index index{SegmentId(base)};
  AddAll(&index, batches);
  const uint64_t end = batches.back().next;
  auto last_entry_at_or_before = [&](uint64_t offset) {
    uint64_t pos = kSegmentHeaderSize;
    for (const IndexEntry& e : index.entries()) {
      if (base + e.relative_offset <= offset) pos = e.position;
    }
    return pos;
  };
  std::vector<uint64_t> offsets = {0,       base - 1, base,       base + 1,
                                   end - 1, end,      end + 1000, UINT64_MAX};
  for (int i = 0; i < 3000; ++i) offsets.push_back(base + rng_() % (end - base));
  for (uint64_t o : offsets) {
    SCOPED_TRACE(o);
    uint64_t got = index.LookupOffset(SequenceNumber(o));
    EXPECT_EQ(got, last_entry_at_or_before(o));
    EXPECT_TRUE(IsBatchStart(batches, got));
    // Scanning from there reaches the batch that holds `o`.
    for (const Batch& b : batches) {
      if (b.base <= o && o < b.next) {
        EXPECT_LE(got, b.pos);
      }
    }
  }
  std::vector<TimestampMs> stamps = {INT64_MIN, 0, 999'000, INT64_MAX};
  for (int i = 0; i < 3000; ++i) {
    stamps.push_back(999'500 + static_cast<TimestampMs>(rng_() % 16000));
  }
  for (TimestampMs ts : stamps) {
    SCOPED_TRACE(ts);
    uint64_t got = index.LookupTimestamp(ts);
    EXPECT_TRUE(IsBatchStart(batches, got));
    auto first = std::find_if(batches.begin(), batches.end(),
                              [&](const Batch& b) { return b.max_ts >= ts; });
    if (first != batches.end()) {
      EXPECT_LE(got, first->pos);
    }
  }
}

TEST_F(IndexTest, TruncateAtThenAddEqualsBuildingFromScratch) {
  std::vector<Batch> batches = RandomBatches(0, 400, rng_);
  for (size_t keep : {size_t{0}, size_t{1}, size_t{57}, size_t{399}}) {
    SCOPED_TRACE(keep);
    Index index(SegmentId(0));
    AddAll(&index, batches);
    TimestampMs max_ts = INT64_MIN;
    for (size_t i = 0; i < keep; ++i) max_ts = std::max(max_ts, batches[i].max_ts);
    uint64_t end = batches[keep].pos;
    index.TruncateAt(end, SequenceNumber(batches[keep].base), max_ts);
    for (const IndexEntry& e : index.entries()) EXPECT_LT(e.position, end);
    EXPECT_EQ(index.data_end(), end);
    EXPECT_EQ(index.next_offset(), SequenceNumber(batches[keep].base));
    EXPECT_EQ(index.max_timestamp(), max_ts);
    // Appending the same batches again gives the index a fresh build would.
    AddAll(&index, batches, keep);
    Index fresh(SegmentId(0));
    AddAll(&fresh, batches);
    ASSERT_EQ(index.entries().size(), fresh.entries().size());
    for (size_t i = 0; i < fresh.entries().size(); ++i) {
      EXPECT_EQ(index.entries()[i].position, fresh.entries()[i].position);
      EXPECT_EQ(index.entries()[i].relative_offset, fresh.entries()[i].relative_offset);
      EXPECT_EQ(index.entries()[i].max_timestamp, fresh.entries()[i].max_timestamp);
    }
  }
}

TEST_F(IndexTest, EncodeDecodeRoundTrips) {
  for (uint64_t base : {uint64_t{0}, uint64_t{1} << 40, rng_() >> 1}) {
    for (int n : {0, 1, 300}) {
      for (bool clean : {false, true}) {
        Index index{SegmentId(base)};
        AddAll(&index, RandomBatches(base, n, rng_));
        std::string image = index.Encode(clean);
        EXPECT_EQ(image.size(),
                  format::kIndexHeaderSize + index.entries().size() * format::kIndexEntrySize);
        bool got_clean = !clean;
        auto decoded = Index::Decode(Bytes(image), SegmentId(base), &got_clean);
        ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
        EXPECT_EQ(got_clean, clean);
        EXPECT_EQ(decoded->next_offset(), index.next_offset());
        EXPECT_EQ(decoded->data_end(), index.data_end());
        EXPECT_EQ(decoded->max_timestamp(), index.max_timestamp());
        EXPECT_EQ(decoded->Encode(clean), image);
      }
    }
  }
  // Largest base: an empty segment there still round-trips.
  Index top(SegmentId(UINT64_MAX));
  bool clean = false;
  auto decoded = Index::Decode(Bytes(top.Encode(true)), SegmentId(UINT64_MAX), &clean);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->empty());
}

TEST_F(IndexTest, EverySingleBitFlipIsRejected) {
  Index index(SegmentId(42));
  AddAll(&index, RandomBatches(42, 30, rng_));
  ASSERT_GE(index.entries().size(), 5u);
  const std::string good = index.Encode(true);
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string image = good;
      image[byte] = static_cast<char>(image[byte] ^ (1 << bit));
      bool clean = false;
      auto decoded = Index::Decode(Bytes(image), SegmentId(42), &clean);
      ASSERT_FALSE(decoded.ok()) << "byte " << byte << " bit " << bit;
      EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
    }
  }
  bool clean = false;
  for (size_t n : {size_t{0}, format::kIndexHeaderSize - 1, good.size() - 1}) {
    EXPECT_TRUE(
        Index::Decode(Bytes(good.substr(0, n)), SegmentId(42), &clean).status().IsCorruption());
  }
}

TEST_F(IndexTest, WrongBaseIsCorruption) {
  Index index(SegmentId(42));
  AddAll(&index, RandomBatches(42, 10, rng_));
  bool clean = false;
  EXPECT_TRUE(
      Index::Decode(Bytes(index.Encode(true)), SegmentId(43), &clean).status().IsCorruption());
}

// Rewrites entry `i` field `field_offset` of an encoded index and fixes the checksum, so that
// only the ordering rule can catch it.
std::string WithEntryField(std::string image, size_t i, size_t field_offset, uint64_t v,
                           size_t width) {
  auto* p = reinterpret_cast<std::byte*>(image.data());
  std::byte* f = p + format::kIndexHeaderSize + i * format::kIndexEntrySize + field_offset;
  if (width == 4) EncodeFixed<uint32_t>(f, static_cast<uint32_t>(v));
  if (width == 8) EncodeFixed<uint64_t>(f, v);
  uint64_t sum = Checksum({p + format::kIndexHeaderSize, image.size() - format::kIndexHeaderSize}) ^
                 Checksum({p, format::kIdxChecksumOffset});
  EncodeFixed<uint64_t>(p + format::kIdxChecksumOffset, sum);
  return image;
}

TEST_F(IndexTest, OutOfOrderEntriesAreCorruption) {
  Index index(SegmentId(0));
  AddAll(&index, RandomBatches(0, 200, rng_));
  ASSERT_GE(index.entries().size(), 4u);
  const std::string good = index.Encode(true);
  const auto& e = index.entries();
  bool clean = false;
  ASSERT_TRUE(Index::Decode(Bytes(WithEntryField(good, 2, 0, e[2].relative_offset, 4)),
                            SegmentId(0), &clean)
                  .ok());
  struct Case {
    const char* what;
    size_t field;
    uint64_t value;
    size_t width;
  } cases[] = {
      {"offset repeats", format::kIdxEntryRelOffsetOffset, e[1].relative_offset, 4},
      {"offset goes back", format::kIdxEntryRelOffsetOffset, e[1].relative_offset - 1, 4},
      {"position repeats", format::kIdxEntryPositionOffset, e[1].position, 4},
      {"position goes back", format::kIdxEntryPositionOffset, kSegmentHeaderSize, 4},
      {"position before data", format::kIdxEntryPositionOffset, 0, 4},
      {"position past data end", format::kIdxEntryPositionOffset, index.data_end(), 4},
      {"timestamp goes back", format::kIdxEntryTimestampOffset,
       static_cast<uint64_t>(e[1].max_timestamp - 1), 8},
  };
  for (const Case& c : cases) {
    auto decoded = Index::Decode(Bytes(WithEntryField(good, 2, c.field, c.value, c.width)),
                                 SegmentId(0), &clean);
    EXPECT_TRUE(decoded.status().IsCorruption()) << c.what;
  }
}

}  // namespace
}  // namespace sluice::log
