// SPDX-License-Identifier: Apache-2.0
// The page-sized segment header (log/segment_header.h): round trips and every way it can be
// damaged.
#include "log/segment_header.h"

#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "log/base/checksum.h"
#include "log/base/coding.h"
#include "log/format.h"

namespace sluice::log {
namespace {

using Page = std::array<std::byte, format::kSegmentHeaderSize>;

Page Encode(const SegmentHeader& h) {
  Page page;
  page.fill(std::byte{0xEE});  // Padding must be written, not inherited.
  EncodeSegmentHeader(h, page);
  return page;
}

// Rewrites the checksum after a deliberate edit, so that only the edited field is wrong.
void Reseal(Page& page) {
  EncodeFixed<uint64_t>(page.data() + format::kSegChecksumOffset,
                        Checksum({page.data(), format::kSegChecksumOffset}));
}

bool IsRejection(const Status& s) {
  return s.IsCorruption() || s.code() == Status::Code::kNotSupported;
}

class SegmentHeaderTest : public ::testing::Test {
 protected:
  SegmentHeader h_{SegmentId(123456789), 1'700'000'000'123};
};

TEST_F(SegmentHeaderTest, RoundTripsAtMinMaxAndRandomValues) {
  std::vector<uint64_t> bases = {0, 1, std::numeric_limits<uint64_t>::max()};
  std::vector<TimestampMs> times = {0, -1, std::numeric_limits<TimestampMs>::min(),
                                    std::numeric_limits<TimestampMs>::max()};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50; ++i) {
    bases.push_back(rng());
    times.push_back(static_cast<TimestampMs>(rng()));
  }
  for (uint64_t b : bases) {
    for (TimestampMs t : times) {
      Page page = Encode(SegmentHeader{SegmentId(b), t});
      auto decoded = DecodeSegmentHeader(page);
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      EXPECT_EQ(decoded->base, SegmentId(b));
      EXPECT_EQ(decoded->created_ms, t);
    }
  }
}

TEST_F(SegmentHeaderTest, LayoutMatchesFormat) {
  Page page = Encode(h_);
  EXPECT_EQ(DecodeFixed<uint64_t>(page.data() + format::kSegMagicOffset), format::kSegmentMagic);
  EXPECT_EQ(DecodeFixed<uint16_t>(page.data() + format::kSegVersionOffset),
            format::kSegmentVersion);
  EXPECT_EQ(DecodeFixed<uint16_t>(page.data() + format::kSegFlagsOffset), 0);
  EXPECT_EQ(DecodeFixed<uint32_t>(page.data() + format::kSegHeaderSizeOffset),
            format::kSegmentHeaderSize);
  EXPECT_EQ(DecodeFixed<uint64_t>(page.data() + format::kSegBaseOffsetOffset), h_.base.value());
  EXPECT_EQ(DecodeFixed<int64_t>(page.data() + format::kSegCreatedMsOffset), h_.created_ms);
  for (size_t i = format::kSegmentHeaderUsed; i < page.size(); ++i) {
    ASSERT_EQ(page[i], std::byte{0}) << "padding byte " << i;
  }
  // Decoding needs only the used prefix.
  EXPECT_TRUE(DecodeSegmentHeader(std::span(page).first(format::kSegmentHeaderUsed)).ok());
}

TEST_F(SegmentHeaderTest, EverySingleBitFlipInTheUsedBytesIsRejected) {
  const Page good = Encode(h_);
  for (size_t byte = 0; byte < format::kSegmentHeaderUsed; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Page page = good;
      page[byte] ^= std::byte(1u << bit);
      auto decoded = DecodeSegmentHeader(page);
      ASSERT_FALSE(decoded.ok()) << "byte " << byte << " bit " << bit;
      EXPECT_TRUE(IsRejection(decoded.status()))
          << "byte " << byte << " bit " << bit << ": " << decoded.status().ToString();
    }
  }
}

TEST_F(SegmentHeaderTest, ShortInputIsTruncated) {
  const Page page = Encode(h_);
  for (size_t n = 0; n < format::kSegmentHeaderUsed; ++n) {
    auto decoded = DecodeSegmentHeader(std::span(page).first(n));
    ASSERT_FALSE(decoded.ok()) << n;
    EXPECT_TRUE(decoded.status().IsTruncated()) << n << ": " << decoded.status().ToString();
  }
}

TEST_F(SegmentHeaderTest, NewerVersionIsNotSupported) {
  Page page = Encode(h_);
  EncodeFixed<uint16_t>(page.data() + format::kSegVersionOffset, format::kSegmentVersion + 1);
  Reseal(page);
  auto decoded = DecodeSegmentHeader(page);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), Status::Code::kNotSupported) << decoded.status().ToString();
}

TEST_F(SegmentHeaderTest, WrongMagicIsCorruptionEvenWithAValidChecksum) {
  Page page = Encode(h_);
  EncodeFixed<uint64_t>(page.data() + format::kSegMagicOffset, format::kIndexMagic);
  Reseal(page);
  EXPECT_TRUE(DecodeSegmentHeader(page).status().IsCorruption());
}

TEST_F(SegmentHeaderTest, WrongHeaderSizeIsCorruptionEvenWithAValidChecksum) {
  Page page = Encode(h_);
  EncodeFixed<uint32_t>(page.data() + format::kSegHeaderSizeOffset, 8192);
  Reseal(page);
  EXPECT_TRUE(DecodeSegmentHeader(page).status().IsCorruption());
}

TEST_F(SegmentHeaderTest, AllZeroPageIsCorruption) {
  Page page{};
  EXPECT_TRUE(DecodeSegmentHeader(page).status().IsCorruption());
}

}  // namespace
}  // namespace sluice::log
