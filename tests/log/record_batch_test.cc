// SPDX-License-Identifier: Apache-2.0
// Tests for log/record_batch: round trips, every corruption kind, the type and attribute rules.
#include "log/record_batch.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <climits>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "log/base/checksum.h"
#include "log/base/coding.h"
#include "log/format.h"

namespace sluice::log {
namespace {

namespace f = format;

std::byte* Bytes(std::string& s) { return reinterpret_cast<std::byte*>(s.data()); }

void Reseal(std::string* batch) {
  SealBatchChecksums(std::span<std::byte>(Bytes(*batch), batch->size()));
}

template <typename T>
void Patch(std::string* batch, size_t offset, T v) {
  EncodeFixed<T>(Bytes(*batch) + offset, v);
  Reseal(batch);
}

std::string MustFinish(RecordBatchBuilder& b) {
  Result<std::string> r = b.Finish();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::string();
}

RecordBatchView MustParse(std::string&& batch) = delete;  // The view would dangle.
RecordBatchView MustParse(const std::string& batch) {
  Result<RecordBatchView> v = RecordBatchView::Parse(AsBytes(batch));
  SLUICE_CHECK(v.ok(), "batch does not parse");
  return *v;
}

// Records point into `batch` (or `*scratch`): both must outlive them, hence no temporaries.
std::vector<Record> MustDecode(std::string&& batch, std::string* scratch) = delete;
std::vector<Record> MustDecode(const std::string& batch, std::string* scratch) {
  Result<RecordBatchView> v = RecordBatchView::Parse(AsBytes(batch));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  if (!v.ok()) return {};
  Result<std::vector<Record>> r = v->DecodeRecords(scratch);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::vector<Record>();
}

Status::Code ParseCode(std::string_view bytes) {
  return RecordBatchView::Parse(AsBytes(bytes)).status().code();
}

// A batch with a hand-written records section (uncompressed) and a valid checksum.
std::string RawBatch(std::string_view records, uint32_t count, uint8_t type = 1,
                     uint16_t attributes = 0) {
  std::string b(f::kBatchHeaderSize, '\0');
  b.append(records);
  std::byte* p = Bytes(b);
  EncodeFixed<uint32_t>(p + f::kBatchLengthOffset, static_cast<uint32_t>(b.size()));
  EncodeFixed<uint8_t>(p + f::kBatchMagicOffset, f::kBatchMagic);
  EncodeFixed<uint8_t>(p + f::kBatchTypeOffset, type);
  EncodeFixed<uint16_t>(p + f::kBatchAttributesOffset, attributes);
  EncodeFixed<uint32_t>(p + f::kBatchRecordCountOffset, count);
  EncodeFixed<uint32_t>(p + f::kBatchRecordsSizeOffset, static_cast<uint32_t>(records.size()));
  Reseal(&b);
  return b;
}

// One record's bytes after its length prefix.
std::string RecordBody(uint64_t offset_delta, int64_t ts_delta, std::string_view key,
                       std::string_view value) {
  std::string s;
  PutVarint64(&s, offset_delta);
  PutVarint64(&s, ZigZagEncode(ts_delta));
  PutVarint64(&s, key.size());
  s.append(key);
  PutVarint64(&s, value.size());
  s.append(value);
  PutVarint64(&s, 0);
  return s;
}

std::string LengthPrefixed(std::string_view body) {
  std::string s;
  PutVarint64(&s, body.size());
  s.append(body);
  return s;
}

std::string SmallBatch() {
  RecordBatchBuilder b;
  b.SetProducer(ProducerId(7), 3);
  b.SetLeaderEpoch(Epoch(2));
  b.Add("k1", "value one", 1000);
  RecordHeader h[] = {{"hk", "hv"}};
  b.Add("k2", "value two", 1005, h);
  b.Add("", "", 999);
  return MustFinish(b);
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(RecordBatchTest, RoundTripsMinimalRecord) {
  RecordBatchBuilder b;
  b.Add("", "", 0);
  std::string batch = MustFinish(b);
  EXPECT_EQ(batch.size(), f::kBatchHeaderSize + 6);  // Six one-byte varints.
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].offset, SequenceNumber(0));
  EXPECT_EQ(rs[0].timestamp, 0);
  EXPECT_EQ(rs[0].key, "");
  EXPECT_EQ(rs[0].value, "");
  EXPECT_TRUE(rs[0].headers.empty());
}

TEST(RecordBatchTest, HeaderFieldsRoundTrip) {
  std::string batch = SmallBatch();
  RecordBatchView v = MustParse(batch);
  const BatchHeader& h = v.header();
  EXPECT_EQ(h.length, batch.size());
  EXPECT_EQ(v.bytes().size(), batch.size());
  EXPECT_EQ(h.magic, f::kBatchMagic);
  EXPECT_EQ(h.type, static_cast<uint8_t>(f::BatchType::kData));
  EXPECT_EQ(h.attributes, 0);
  EXPECT_EQ(h.codec(), f::Codec::kNone);
  EXPECT_EQ(h.base_offset, SequenceNumber(0));
  EXPECT_EQ(h.first_timestamp, 1000);
  EXPECT_EQ(h.max_timestamp, 1005);
  EXPECT_EQ(h.leader_epoch, Epoch(2));
  EXPECT_EQ(h.producer_id, ProducerId(7));
  EXPECT_EQ(h.producer_seq, 3u);
  EXPECT_EQ(h.record_count, 3u);
  EXPECT_EQ(h.records_size, batch.size() - f::kBatchHeaderSize);
  EXPECT_EQ(h.last_offset(), SequenceNumber(2));
  EXPECT_EQ(h.next_offset(), SequenceNumber(3));
  EXPECT_FALSE(v.ignorable());
  Result<BatchHeader> peek = PeekBatchHeader(AsBytes(batch));
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(peek->checksum, h.checksum);
}

TEST(RecordBatchTest, RoundTripsOneMiBValueAndLongKey) {
  std::mt19937_64 rng(1);
  std::string key = RandomBytes(rng, 70000);
  std::string value = RandomBytes(rng, 1 << 20);
  RecordBatchBuilder b;
  b.Add(key, value, 123);
  const std::string batch = MustFinish(b);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].key, key);
  EXPECT_EQ(rs[0].value, value);
}

TEST(RecordBatchTest, RoundTripsRecordHeaders) {
  RecordBatchBuilder b;
  RecordHeader two[] = {{"content-type", "json"}, {"", ""}};
  const std::string trace(300, 't');
  RecordHeader one[] = {{"trace", trace}};
  b.Add("a", "1", 5, two);
  b.Add("b", "2", 5);
  b.Add("c", "3", 5, one);
  const std::string batch = MustFinish(b);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 3u);
  ASSERT_EQ(rs[0].headers.size(), 2u);
  EXPECT_EQ(rs[0].headers[0].key, "content-type");
  EXPECT_EQ(rs[0].headers[0].value, "json");
  EXPECT_EQ(rs[0].headers[1].key, "");
  EXPECT_EQ(rs[0].headers[1].value, "");
  EXPECT_TRUE(rs[1].headers.empty());
  ASSERT_EQ(rs[2].headers.size(), 1u);
  EXPECT_EQ(rs[2].headers[0].value, std::string(300, 't'));
}

TEST(RecordBatchTest, RoundTripsNegativeAndExtremeTimestampDeltas) {
  const std::vector<TimestampMs> ts = {1'700'000'000'000, 0, -5, INT64_MAX, INT64_MIN, 1};
  RecordBatchBuilder b;
  for (TimestampMs t : ts) b.Add("k", "v", t);
  std::string batch = MustFinish(b);
  EXPECT_EQ(MustParse(batch).header().first_timestamp, ts[0]);
  EXPECT_EQ(MustParse(batch).header().max_timestamp, INT64_MAX);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(rs[i].timestamp, ts[i]) << i;
}

TEST(RecordBatchTest, RoundTripsTenThousandRecords) {
  RecordBatchBuilder b;
  for (int i = 0; i < 10000; ++i) {
    b.Add("key" + std::to_string(i), "value" + std::to_string(i * 7), 1000 + i);
  }
  EXPECT_EQ(b.record_count(), 10000u);
  std::string batch = MustFinish(b);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(rs[i].offset, SequenceNumber(i));
    ASSERT_EQ(rs[i].timestamp, 1000 + i);
    ASSERT_EQ(rs[i].key, "key" + std::to_string(i));
    ASSERT_EQ(rs[i].value, "value" + std::to_string(i * 7));
  }
}

TEST(RecordBatchTest, ZstdRoundTripSetsCodecAttribute) {
  RecordBatchBuilder plain;
  RecordBatchBuilder zstd(f::Codec::kZstd, 3);
  for (int i = 0; i < 500; ++i) {
    std::string value = "the same text again and again " + std::to_string(i % 10);
    plain.Add("k", value, i);
    zstd.Add("k", value, i);
  }
  std::string uncompressed = MustFinish(plain);
  std::string compressed = MustFinish(zstd);
  RecordBatchView v = MustParse(compressed);
  EXPECT_EQ(v.header().codec(), f::Codec::kZstd);
  EXPECT_LT(compressed.size(), uncompressed.size() / 4);
  EXPECT_EQ(v.header().records_size, uncompressed.size() - f::kBatchHeaderSize);
  std::string scratch;
  std::vector<Record> rs = MustDecode(compressed, &scratch);
  ASSERT_EQ(rs.size(), 500u);
  EXPECT_EQ(rs[499].value, "the same text again and again 9");
  EXPECT_EQ(rs[499].timestamp, 499);
}

TEST(RecordBatchTest, IncompressibleDataStaysUncompressed) {
  std::mt19937_64 rng(2);
  RecordBatchBuilder b(f::Codec::kZstd, 1);
  b.Add("", RandomBytes(rng, 4096), 1);
  std::string batch = MustFinish(b);
  RecordBatchView v = MustParse(batch);
  EXPECT_EQ(v.header().codec(), f::Codec::kNone);
  EXPECT_EQ(v.header().records_size, batch.size() - f::kBatchHeaderSize);
  std::string scratch;
  EXPECT_EQ(MustDecode(batch, &scratch).size(), 1u);
}

TEST(RecordBatchTest, RandomizedRoundTrip) {
  const uint64_t seed =
      static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  std::cout << "RecordBatchTest.RandomizedRoundTrip seed " << seed << "\n";
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::string scratch;
  for (int iter = 0; iter < 200; ++iter) {
    const bool use_zstd = rng() % 2 == 0;
    RecordBatchBuilder b(use_zstd ? f::Codec::kZstd : f::Codec::kNone,
                         static_cast<int>(rng() % 5) - 1);
    const size_t n = 1 + rng() % 100;
    std::vector<std::string> keys, values;
    std::vector<std::vector<std::pair<std::string, std::string>>> headers(n);
    std::vector<TimestampMs> ts;
    for (size_t i = 0; i < n; ++i) {
      // Mix random and repetitive bytes so that both codecs are exercised.
      keys.push_back(rng() % 2 ? RandomBytes(rng, rng() % 20) : std::string(rng() % 20, 'k'));
      values.push_back(rng() % 2 ? RandomBytes(rng, rng() % 300) : std::string(rng() % 3000, 'v'));
      ts.push_back(rng() % 8 == 0 ? static_cast<TimestampMs>(rng())
                                  : 1'700'000'000'000 + static_cast<int64_t>(rng() % 2000) - 1000);
      std::vector<RecordHeader> hs;
      for (size_t j = rng() % 3; j > 0; --j) {
        headers[i].emplace_back(RandomBytes(rng, rng() % 8), RandomBytes(rng, rng() % 8));
      }
      for (auto& [k, v] : headers[i]) hs.push_back({k, v});
      b.Add(keys[i], values[i], ts[i], hs);
    }
    std::string batch = MustFinish(b);
    RecordBatchView v = MustParse(batch);
    EXPECT_EQ(v.header().first_timestamp, ts[0]);
    EXPECT_EQ(v.header().max_timestamp, *std::max_element(ts.begin(), ts.end()));
    std::vector<Record> rs = MustDecode(batch, &scratch);
    ASSERT_EQ(rs.size(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(rs[i].offset, SequenceNumber(i));
      ASSERT_EQ(rs[i].timestamp, ts[i]);
      ASSERT_EQ(rs[i].key, keys[i]);
      ASSERT_EQ(rs[i].value, values[i]);
      ASSERT_EQ(rs[i].headers.size(), headers[i].size());
      for (size_t j = 0; j < headers[i].size(); ++j) {
        ASSERT_EQ(rs[i].headers[j].key, headers[i][j].first);
        ASSERT_EQ(rs[i].headers[j].value, headers[i][j].second);
      }
    }
  }
}

TEST(RecordBatchTest, FinishResetsBuilder) {
  RecordBatchBuilder b;
  b.SetProducer(ProducerId(9), 1);
  b.Add("a", "b", 50);
  EXPECT_FALSE(b.empty());
  std::string first = MustFinish(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.UncompressedBytes(), f::kBatchHeaderSize);
  b.Add("c", "d", 10);
  std::string second = MustFinish(b);
  const BatchHeader h = MustParse(second).header();
  EXPECT_EQ(h.record_count, 1u);
  EXPECT_EQ(h.first_timestamp, 10);
  EXPECT_EQ(h.max_timestamp, 10);
  EXPECT_EQ(h.producer_id, ProducerId(0));
}

TEST(RecordBatchTest, FinishRejectsEmptyBatch) {
  RecordBatchBuilder b;
  EXPECT_TRUE(b.Finish().status().IsInvalidArgument());
}

TEST(RecordBatchTest, AcceptsExactlyMaxRecordsPerBatch) {
  RecordBatchBuilder b;
  for (uint32_t i = 0; i < f::kMaxRecordsPerBatch; ++i) b.Add("", "", 0);
  std::string batch = MustFinish(b);
  RecordBatchView v = MustParse(batch);
  EXPECT_EQ(v.header().record_count, f::kMaxRecordsPerBatch);
  std::string scratch;
  Result<std::vector<Record>> rs = v.DecodeRecords(&scratch);
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ(rs->size(), f::kMaxRecordsPerBatch);
  EXPECT_EQ(rs->back().offset, SequenceNumber(f::kMaxRecordsPerBatch - 1));
}

TEST(RecordBatchTest, RejectsOneRecordOverTheLimit) {
  RecordBatchBuilder b;
  for (uint32_t i = 0; i <= f::kMaxRecordsPerBatch; ++i) b.Add("", "", 0);
  EXPECT_TRUE(b.Finish().status().IsInvalidArgument());
  EXPECT_TRUE(b.empty());
}

TEST(RecordBatchTest, RejectsBatchOverMaxBytes) {
  RecordBatchBuilder b;
  b.Add("", std::string(f::kMaxBatchBytes, 'x'), 0);
  EXPECT_TRUE(b.Finish().status().IsInvalidArgument());
}

TEST(RecordBatchTest, ParseRejectsRecordCountOverTheLimit) {
  std::string batch = SmallBatch();
  Patch<uint32_t>(&batch, f::kBatchRecordCountOffset, f::kMaxRecordsPerBatch + 1);
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
  Patch<uint32_t>(&batch, f::kBatchRecordCountOffset, 0);
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
}

TEST(RecordBatchTest, RestampChangesOffsetsEpochAndTimestamps) {
  std::string batch = SmallBatch();
  RestampBatch(std::span(Bytes(batch), batch.size()), SequenceNumber(5000), Epoch(42), 2000);
  RecordBatchView v = MustParse(batch);  // Checksum still valid.
  EXPECT_EQ(v.header().base_offset, SequenceNumber(5000));
  EXPECT_EQ(v.header().leader_epoch, Epoch(42));
  EXPECT_EQ(v.header().first_timestamp, 2000);
  EXPECT_EQ(v.header().max_timestamp, 2000);
  EXPECT_TRUE(v.header().log_append_time());
  EXPECT_EQ(v.header().producer_id, ProducerId(7));
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].offset, SequenceNumber(5000));
  EXPECT_EQ(rs[2].offset, SequenceNumber(5002));
  for (const Record& r : rs) EXPECT_EQ(r.timestamp, 2000);  // Every record takes the stamp.
}

TEST(RecordBatchTest, RestampWithoutTimestampKeepsTimestamps) {
  RecordBatchBuilder b(f::Codec::kZstd);
  for (int i = 0; i < 100; ++i) b.Add("key", "compressible compressible", 300 + i);
  std::string batch = MustFinish(b);
  ASSERT_EQ(MustParse(batch).header().codec(), f::Codec::kZstd);
  RestampBatch(std::span(Bytes(batch), batch.size()), SequenceNumber(77), Epoch(3), std::nullopt);
  RecordBatchView v = MustParse(batch);
  EXPECT_EQ(v.header().base_offset, SequenceNumber(77));
  EXPECT_EQ(v.header().first_timestamp, 300);
  EXPECT_EQ(v.header().max_timestamp, 399);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 100u);
  EXPECT_EQ(rs[99].offset, SequenceNumber(176));
  EXPECT_EQ(rs[99].timestamp, 399);
}

TEST(RecordBatchTest, CompressBatchCompressesRecordsSection) {
  RecordBatchBuilder b;
  for (int i = 0; i < 200; ++i) b.Add("key", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i);
  std::string plain = MustFinish(b);
  // A hint bit in the ignorable range must survive compression.
  Patch<uint16_t>(&plain, f::kBatchAttributesOffset, 0x0100);
  RestampBatch(std::span(Bytes(plain), plain.size()), SequenceNumber(10), Epoch(4), std::nullopt);
  Result<std::string> compressed = CompressBatch(MustParse(plain), 1);
  ASSERT_TRUE(compressed.ok());
  RecordBatchView v = MustParse(*compressed);
  EXPECT_EQ(v.header().codec(), f::Codec::kZstd);
  EXPECT_EQ(v.header().attributes, 0x0101);
  EXPECT_LT(compressed->size(), plain.size());
  EXPECT_EQ(v.header().base_offset, SequenceNumber(10));
  EXPECT_EQ(v.header().records_size, plain.size() - f::kBatchHeaderSize);
  std::string s1, s2;
  std::vector<Record> a = MustDecode(plain, &s1);
  std::vector<Record> c = MustDecode(*compressed, &s2);
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].offset, c[i].offset);
    EXPECT_EQ(a[i].timestamp, c[i].timestamp);
    EXPECT_EQ(a[i].key, c[i].key);
    EXPECT_EQ(a[i].value, c[i].value);
  }
}

TEST(RecordBatchTest, CompressBatchCopiesCompressedOrIncompressibleBatch) {
  RecordBatchBuilder z(f::Codec::kZstd);
  for (int i = 0; i < 50; ++i) z.Add("k", "zzzzzzzzzzzzzzzzzzzzzzzzz", i);
  std::string compressed = MustFinish(z);
  Result<std::string> again = CompressBatch(MustParse(compressed), 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, compressed);

  std::mt19937_64 rng(3);
  RecordBatchBuilder r;
  r.Add("", RandomBytes(rng, 1000), 0);
  std::string random = MustFinish(r);
  Result<std::string> copy = CompressBatch(MustParse(random), 1);
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(*copy, random);
}

TEST(RecordBatchTest, EveryBitFlipIsDetected) {
  std::string batch = SmallBatch();
  // A length with a single bit set could flip to zero, which reads as "no batch here".
  ASSERT_GT(std::popcount(static_cast<uint32_t>(batch.size())), 1);
  for (size_t bit = 0; bit < batch.size() * 8; ++bit) {
    std::string damaged = batch;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    const Status::Code code = ParseCode(damaged);
    SCOPED_TRACE("bit " + std::to_string(bit));
    if (bit < 64) {
      EXPECT_EQ(code, Status::Code::kCorruption);
    } else {
      EXPECT_TRUE(code == Status::Code::kCorruption || code == Status::Code::kTruncated ||
                  code == Status::Code::kNotSupported)
          << CodeName(code);
    }
  }
}

TEST(RecordBatchTest, ChecksumMismatchNamesExpectedAndActual) {
  std::string batch = SmallBatch();
  batch.back() = static_cast<char>(batch.back() ^ 1);
  Status s = RecordBatchView::Parse(AsBytes(batch)).status();
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("expected"), std::string_view::npos) << s.ToString();
  EXPECT_NE(s.message().find("actual"), std::string_view::npos) << s.ToString();
}

TEST(RecordBatchTest, TruncationAtEveryByteIsTruncated) {
  std::string batch = SmallBatch();
  for (size_t n = 0; n < batch.size(); ++n) {
    EXPECT_EQ(ParseCode(std::string_view(batch).substr(0, n)), Status::Code::kTruncated) << n;
    EXPECT_TRUE(
        PeekBatchHeader(AsBytes(std::string_view(batch).substr(0, n))).status().IsTruncated())
        << n;
  }
}

TEST(RecordBatchTest, ZeroFilledSpaceIsNotFound) {
  for (size_t n : {12, 13, 71, 72, 4096}) {
    EXPECT_EQ(ParseCode(std::string(n, '\0')), Status::Code::kNotFound) << n;
  }
  // With fewer than 12 bytes the length field is not there to read: a torn header, not "no
  // batch here" (a reader at a clean end has no bytes to parse at all).
  for (size_t n : {0, 1, 11}) {
    EXPECT_EQ(ParseCode(std::string(n, '\0')), Status::Code::kTruncated) << n;
  }
}

TEST(RecordBatchTest, ParsesFirstBatchOfSeveral) {
  std::string first = SmallBatch();
  std::string stream = first + SmallBatch() + std::string(100, '\0');
  RecordBatchView v = MustParse(stream);
  EXPECT_EQ(v.bytes().size(), first.size());
  std::string_view rest = std::string_view(stream).substr(first.size());
  EXPECT_EQ(ParseCode(rest), Status::Code::kOk);
  EXPECT_EQ(ParseCode(rest.substr(first.size())), Status::Code::kNotFound);
}

TEST(RecordBatchTest, WrongMagicIsCorruption) {
  std::string batch = SmallBatch();
  Patch<uint8_t>(&batch, f::kBatchMagicOffset, f::kBatchMagic + 1);
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
}

TEST(RecordBatchTest, LengthOutOfBoundsIsCorruption) {
  std::string batch = SmallBatch();
  Patch<uint32_t>(&batch, f::kBatchLengthOffset, f::kBatchHeaderSize);
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
  Patch<uint32_t>(&batch, f::kBatchLengthOffset, f::kMaxBatchBytes + 1);
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
}

TEST(RecordBatchTest, UnknownTypeWithIgnoreBitIsIgnorable) {
  std::string batch = SmallBatch();
  Patch<uint8_t>(&batch, f::kBatchTypeOffset, f::kTypeIgnoreIfUnknown | 0x05);
  Result<RecordBatchView> v = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ignorable());
  EXPECT_EQ(v->header().next_offset(), SequenceNumber(3));
  std::string scratch;
  EXPECT_EQ(v->DecodeRecords(&scratch).status().code(), Status::Code::kNotSupported);
  // The data type with the ignore bit is a different, unknown type.
  Patch<uint8_t>(&batch, f::kBatchTypeOffset, f::kTypeIgnoreIfUnknown | 0x01);
  EXPECT_TRUE(MustParse(batch).ignorable());
}

TEST(RecordBatchTest, UnknownTypeWithoutIgnoreBitIsNotSupported) {
  std::string batch = SmallBatch();
  for (uint8_t type : {0x00, 0x02, 0x7f}) {
    Patch<uint8_t>(&batch, f::kBatchTypeOffset, type);
    EXPECT_EQ(ParseCode(batch), Status::Code::kNotSupported) << int{type};
  }
}

TEST(RecordBatchTest, UnknownCodecIsNotSupported) {
  std::string batch = SmallBatch();
  for (uint16_t codec = 2; codec <= 7; ++codec) {
    Patch<uint16_t>(&batch, f::kBatchAttributesOffset, codec);
    EXPECT_EQ(ParseCode(batch), Status::Code::kNotSupported) << codec;
  }
}

TEST(RecordBatchTest, ReservedAttributeBitIsNotSupported) {
  std::string batch = SmallBatch();
  for (int bit = 4; bit <= 7; ++bit) {  // Bit 3 is kAttrLogAppendTime.
    Patch<uint16_t>(&batch, f::kBatchAttributesOffset, static_cast<uint16_t>(1 << bit));
    EXPECT_EQ(ParseCode(batch), Status::Code::kNotSupported) << bit;
  }
}

TEST(RecordBatchTest, HighAttributeBitsAreIgnored) {
  std::string batch = SmallBatch();
  Patch<uint16_t>(&batch, f::kBatchAttributesOffset, 0xFF00);
  std::string scratch;
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[1].value, "value two");
}

TEST(RecordBatchTest, UncompressedRecordsSizeMismatchIsCorruption) {
  std::string batch = SmallBatch();
  Patch<uint32_t>(&batch, f::kBatchRecordsSizeOffset,
                  static_cast<uint32_t>(batch.size() - f::kBatchHeaderSize + 1));
  EXPECT_EQ(ParseCode(batch), Status::Code::kCorruption);
}

TEST(RecordBatchTest, WellFormedHandBuiltBatchDecodes) {
  // Guards the helpers the malformed cases below are built with.
  std::string records =
      LengthPrefixed(RecordBody(0, 0, "k", "v")) + LengthPrefixed(RecordBody(1, -3, "", "w"));
  std::string scratch;
  const std::string batch = RawBatch(records, 2);
  std::vector<Record> rs = MustDecode(batch, &scratch);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].timestamp, -3);
  EXPECT_EQ(rs[1].value, "w");
}

TEST(RecordBatchTest, MalformedRecordsWithValidChecksumAreCorruption) {
  const std::string r0 = LengthPrefixed(RecordBody(0, 0, "k", "v"));
  const std::string r1 = LengthPrefixed(RecordBody(1, 0, "k", "v"));
  std::string headers_past_end = RecordBody(0, 0, "k", "v");
  headers_past_end.back() = 3;  // Three headers, no bytes for them.
  std::string header_key_past_end = RecordBody(0, 0, "k", "v");
  header_key_past_end.back() = 1;
  header_key_past_end +=
      "\x05"
      "ab";                                // One header whose key claims 5 bytes; 2 follow.
  std::string length_past_end(1, '\x7f');  // Claims 127 bytes; 7 follow.
  length_past_end += RecordBody(0, 0, "k", "v");
  std::string key_past_end = RecordBody(0, 0, "k", "v");
  key_past_end[2] = 50;  // Key length 50 in a 7-byte record.
  struct Case {
    const char* name;
    std::string records;
    uint32_t count;
  };
  const std::vector<Case> cases = {
      {"offset delta starts at 1", LengthPrefixed(RecordBody(1, 0, "k", "v")), 1},
      {"offset deltas out of order", r0 + LengthPrefixed(RecordBody(0, 0, "k", "v")), 2},
      {"offset deltas skip", r0 + LengthPrefixed(RecordBody(2, 0, "k", "v")), 2},
      {"fewer records than the count", LengthPrefixed(RecordBody(0, 0, "k", std::string(50, 'v'))),
       2},
      {"trailing bytes after last record", r0 + r1 + std::string(1, '\0'), 2},
      {"record length past the section", length_past_end, 1},
      {"key length past the record", LengthPrefixed(key_past_end), 1},
      {"value length past the record",
       LengthPrefixed(RecordBody(0, 0, "k", std::string(200, 'v')).substr(0, 60)), 1},
      {"missing header count", LengthPrefixed(RecordBody(0, 0, "k", "v").substr(0, 6)), 1},
      {"headers past the record", LengthPrefixed(headers_past_end), 1},
      {"header key past the record", LengthPrefixed(header_key_past_end), 1},
      {"trailing bytes inside a record", LengthPrefixed(RecordBody(0, 0, "k", "v") + "x"), 1},
      {"unterminated varint", std::string(12, '\xff'), 1},
      {"count larger than the section can hold", r0 + r1, 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string batch = RawBatch(c.records, c.count);
    Result<RecordBatchView> v = RecordBatchView::Parse(AsBytes(batch));
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    std::string scratch;
    Result<std::vector<Record>> rs = v->DecodeRecords(&scratch);
    EXPECT_TRUE(rs.status().IsCorruption()) << rs.status().ToString();
  }
}

TEST(RecordBatchTest, BadZstdSectionIsCorruption) {
  RecordBatchBuilder b(f::Codec::kZstd);
  for (int i = 0; i < 100; ++i) b.Add("key", "compressible compressible", i);
  const std::string good = MustFinish(b);
  const uint32_t size = MustParse(good).header().records_size;
  std::string scratch;
  for (uint32_t wrong : {size - 1, size + 1}) {
    std::string batch = good;
    Patch<uint32_t>(&batch, f::kBatchRecordsSizeOffset, wrong);
    EXPECT_TRUE(MustParse(batch).DecodeRecords(&scratch).status().IsCorruption()) << wrong;
  }
  std::string garbage =
      RawBatch("not a zstd frame at all", 1, 1, static_cast<uint16_t>(f::Codec::kZstd));
  Patch<uint32_t>(&garbage, f::kBatchRecordsSizeOffset, 100);
  EXPECT_TRUE(MustParse(garbage).DecodeRecords(&scratch).status().IsCorruption());
  // A records_size no builder could have written must not make the reader allocate it.
  std::string huge = good;
  Patch<uint32_t>(&huge, f::kBatchRecordsSizeOffset, UINT32_MAX);
  EXPECT_EQ(ParseCode(huge), Status::Code::kCorruption);
}

}  // namespace
}  // namespace sluice::log
