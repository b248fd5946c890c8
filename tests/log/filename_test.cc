// SPDX-License-Identifier: Apache-2.0
// On-disk names: building and parsing segment, index and temp names (log/filename.h).
#include "log/filename.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::log {
namespace {

constexpr char kDir[] = "/data/shard-7";

// The directory entry name of a path built by filename.h.
std::string Leaf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::vector<uint64_t> InterestingBases() {
  std::vector<uint64_t> bases = {
      0, 1, 9, 10, std::numeric_limits<uint64_t>::max() - 1, std::numeric_limits<uint64_t>::max()};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) bases.push_back(rng() >> (rng() % 64));
  return bases;
}

TEST(FileNameTest, NamesAreTwentyZeroPaddedDigits) {
  EXPECT_EQ(SegmentFileName(kDir, SegmentId(0)), "/data/shard-7/00000000000000000000.log");
  EXPECT_EQ(IndexFileName(kDir, SegmentId(1)), "/data/shard-7/00000000000000000001.index");
  EXPECT_EQ(SegmentFileName(kDir, SegmentId(std::numeric_limits<uint64_t>::max())),
            "/data/shard-7/18446744073709551615.log");
  EXPECT_EQ(TempFileName("/d/00000000000000000001.index"), "/d/00000000000000000001.index.tmp");
}

TEST(FileNameTest, SegmentAndIndexNamesRoundTripAtMinMaxAndRandomBases) {
  for (uint64_t b : InterestingBases()) {
    SCOPED_TRACE(b);
    auto seg = ParseFileName(Leaf(SegmentFileName(kDir, SegmentId(b))));
    ASSERT_TRUE(seg.has_value());
    EXPECT_EQ(seg->type, FileType::kSegment);
    EXPECT_EQ(seg->base, SegmentId(b));
    auto idx = ParseFileName(Leaf(IndexFileName(kDir, SegmentId(b))));
    ASSERT_TRUE(idx.has_value());
    EXPECT_EQ(idx->type, FileType::kIndex);
    EXPECT_EQ(idx->base, SegmentId(b));
  }
}

TEST(FileNameTest, SortingByNameEqualsSortingByBase) {
  std::vector<uint64_t> bases = InterestingBases();
  std::vector<std::string> names;
  for (uint64_t b : bases) names.push_back(Leaf(SegmentFileName(kDir, SegmentId(b))));
  std::sort(names.begin(), names.end());
  std::sort(bases.begin(), bases.end());
  ASSERT_EQ(names.size(), bases.size());
  for (size_t i = 0; i < names.size(); ++i) {
    auto parsed = ParseFileName(names[i]);
    ASSERT_TRUE(parsed.has_value()) << names[i];
    EXPECT_EQ(parsed->base, SegmentId(bases[i])) << names[i];
  }
}

TEST(FileNameTest, RejectsForeignNames) {
  const char* foreign[] = {
      "",
      ".log",
      ".index",
      "1.log",
      "0000000000000000001.log",    // 19 digits
      "000000000000000000001.log",  // 21 digits
      "0000000000000000000a.log",
      "0000000000000000000x.index",
      "-0000000000000000001.log",
      "+0000000000000000001.log",
      " 0000000000000000001.log",
      "0000000000000000001 .log",
      "18446744073709551616.log",  // 2^64: out of range
      "99999999999999999999.index",
      "00000000000000000001",
      "00000000000000000001.",
      "00000000000000000001.txt",
      "00000000000000000001.LOG",
      "00000000000000000001.idx",
      "00000000000000000001.indexx",
      "00000000000000000001.log.bak",
      "00000000000000000001.index.old",
      "00000000000000000001log",
      "CURRENT",
      "lost+found",
  };
  for (const char* name : foreign) {
    EXPECT_FALSE(ParseFileName(name).has_value()) << '"' << name << '"';
  }
}

TEST(FileNameTest, TempNamesOfOurFilesAreDetected) {
  for (uint64_t b : {uint64_t{0}, uint64_t{12345}, std::numeric_limits<uint64_t>::max()}) {
    for (const std::string& path :
         {SegmentFileName(kDir, SegmentId(b)), IndexFileName(kDir, SegmentId(b))}) {
      std::string tmp = TempFileName(path);
      EXPECT_EQ(tmp, path + ".tmp");
      auto parsed = ParseFileName(Leaf(tmp));
      ASSERT_TRUE(parsed.has_value()) << tmp;
      EXPECT_EQ(parsed->type, FileType::kTemp) << tmp;
    }
  }
}

// ParseFileName promises nullopt "for names that are not ours", and Log::Open removes every
// kTemp entry of the shard directory: a foreign file that merely ends in ".tmp" must not count.
TEST(FileNameTest, ForeignTempNamesAreNotOurs) {
  for (const char* name : {".tmp", "notes.tmp", "1.log.tmp", "00000000000000000001.log.bak.tmp",
                           "00000000000000000001.txt.tmp"}) {
    EXPECT_FALSE(ParseFileName(name).has_value()) << '"' << name << '"';
  }
}

}  // namespace
}  // namespace sluice::log
