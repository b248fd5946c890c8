// SPDX-License-Identifier: Apache-2.0
// Record batch encoding and decoding; the byte layout is log/format.h and nothing else.
#include "log/record_batch.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include <zstd.h>

#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::log {
namespace {

namespace f = format;

// Smallest possible encoded record: a one-byte length, then one byte each for offset_delta,
// ts_delta, key_len, value_len and header_count. Bounds the record count a section can hold.
constexpr size_t kMinRecordBytes = 6;
// Largest uncompressed records section: the builder never writes a batch whose uncompressed
// form exceeds kMaxBatchBytes, so a larger records_size can only be damage (and must not make
// a reader allocate gigabytes).
constexpr size_t kMaxRecordsSectionBytes = f::kMaxBatchBytes - f::kBatchHeaderSize;
constexpr uint16_t kAttrReservedMask =
    f::kAttrMustUnderstandMask & ~f::kAttrCodecMask & ~f::kAttrLogAppendTime;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One context per thread: creating a context costs far more than compressing a small batch.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  SLUICE_CHECK(cctx != nullptr, "ZSTD_createCCtx failed");
  return cctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  SLUICE_CHECK(dctx != nullptr, "ZSTD_createDCtx failed");
  return dctx.get();
}

std::byte* Bytes(std::string& s) { return reinterpret_cast<std::byte*>(s.data()); }

// Wrapping arithmetic: timestamps are arbitrary i64 values and their deltas may not fit.
int64_t WrappingSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

void EncodeHeader(std::byte* dst, const BatchHeader& h) {
  EncodeFixed<uint64_t>(dst + f::kBatchChecksumOffset, h.checksum);
  EncodeFixed<uint64_t>(dst + f::kBatchRecordsChecksumOffset, h.records_checksum);
  EncodeFixed<uint32_t>(dst + f::kBatchLengthOffset, h.length);
  EncodeFixed<uint8_t>(dst + f::kBatchMagicOffset, h.magic);
  EncodeFixed<uint8_t>(dst + f::kBatchTypeOffset, h.type);
  EncodeFixed<uint16_t>(dst + f::kBatchAttributesOffset, h.attributes);
  EncodeFixed<uint64_t>(dst + f::kBatchBaseOffsetOffset, h.base_offset.value());
  EncodeFixed<int64_t>(dst + f::kBatchFirstTimestampOffset, h.first_timestamp);
  EncodeFixed<int64_t>(dst + f::kBatchMaxTimestampOffset, h.max_timestamp);
  EncodeFixed<uint64_t>(dst + f::kBatchLeaderEpochOffset, h.leader_epoch.value());
  EncodeFixed<uint64_t>(dst + f::kBatchProducerIdOffset, h.producer_id.value());
  EncodeFixed<uint64_t>(dst + f::kBatchProducerSeqOffset, h.producer_seq);
  EncodeFixed<uint32_t>(dst + f::kBatchRecordCountOffset, h.record_count);
  EncodeFixed<uint32_t>(dst + f::kBatchRecordsSizeOffset, h.records_size);
}

BatchHeader DecodeHeader(const std::byte* src) {
  BatchHeader h;
  h.checksum = DecodeFixed<uint64_t>(src + f::kBatchChecksumOffset);
  h.length = DecodeFixed<uint32_t>(src + f::kBatchLengthOffset);
  h.magic = DecodeFixed<uint8_t>(src + f::kBatchMagicOffset);
  h.type = DecodeFixed<uint8_t>(src + f::kBatchTypeOffset);
  h.attributes = DecodeFixed<uint16_t>(src + f::kBatchAttributesOffset);
  h.base_offset = SequenceNumber(DecodeFixed<uint64_t>(src + f::kBatchBaseOffsetOffset));
  h.first_timestamp = DecodeFixed<int64_t>(src + f::kBatchFirstTimestampOffset);
  h.max_timestamp = DecodeFixed<int64_t>(src + f::kBatchMaxTimestampOffset);
  h.leader_epoch = Epoch(DecodeFixed<uint64_t>(src + f::kBatchLeaderEpochOffset));
  h.producer_id = ProducerId(DecodeFixed<uint64_t>(src + f::kBatchProducerIdOffset));
  h.producer_seq = DecodeFixed<uint64_t>(src + f::kBatchProducerSeqOffset);
  h.record_count = DecodeFixed<uint32_t>(src + f::kBatchRecordCountOffset);
  h.records_size = DecodeFixed<uint32_t>(src + f::kBatchRecordsSizeOffset);
  h.records_checksum = DecodeFixed<uint64_t>(src + f::kBatchRecordsChecksumOffset);
  return h;
}

uint64_t HeaderChecksum(std::span<const std::byte> batch) {
  return Checksum(
      batch.subspan(f::kBatchChecksummedFrom, f::kBatchHeaderSize - f::kBatchChecksummedFrom));
}

// Stores the header checksum; the records checksum must already be in place.
void SealHeaderChecksum(std::span<std::byte> batch) {
  EncodeFixed<uint64_t>(batch.data() + f::kBatchChecksumOffset, HeaderChecksum(batch));
}

// Stores both checksums of a complete batch.
void SealChecksum(std::span<std::byte> batch) {
  EncodeFixed<uint64_t>(batch.data() + f::kBatchRecordsChecksumOffset,
                        Checksum(batch.subspan(f::kBatchHeaderSize)));
  SealHeaderChecksum(batch);
}

// Compresses `src` into `*out` starting at `out_offset` (resizing `*out`). Returns the
// compressed size, or 0 when compression failed or would not make the section smaller; `*out`
// is then left with unspecified bytes past `out_offset`.
size_t CompressInto(std::span<const std::byte> src, int level, std::string* out,
                    size_t out_offset) {
  const size_t bound = ZSTD_compressBound(src.size());
  out->resize(out_offset + bound);
  const size_t n = ZSTD_compressCCtx(ThreadCCtx(), out->data() + out_offset, bound, src.data(),
                                     src.size(), level);
  if (ZSTD_isError(n) || n >= src.size()) return 0;
  out->resize(out_offset + n);
  return n;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
  return buf;
}

// Sequential reader over a records section. Every getter fails (returns false / nullopt)
// rather than reading past the end.
class SectionReader {
 public:
  explicit SectionReader(std::span<const std::byte> in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }
  std::optional<uint64_t> Varint() { return GetVarint64(&in_); }
  // A varint length followed by that many bytes.
  bool LengthPrefixed(std::string_view* out) {
    auto len = GetVarint64(&in_);
    if (!len || *len > in_.size()) return false;
    *out = AsChars(in_.first(static_cast<size_t>(*len)));
    in_ = in_.subspan(static_cast<size_t>(*len));
    return true;
  }
  std::span<const std::byte> Take(size_t n) {
    auto r = in_.first(n);
    in_ = in_.subspan(n);
    return r;
  }

 private:
  std::span<const std::byte> in_;
};

Status BadRecord(uint32_t index, const char* what) {
  return Status::Corruption("record " + std::to_string(index) + ": " + what);
}

}  // namespace

// ----------------------------------------------------------------------------------------------
// RecordBatchBuilder

RecordBatchBuilder::RecordBatchBuilder(format::Codec codec, int zstd_level)
    : codec_(codec), zstd_level_(zstd_level) {}

void RecordBatchBuilder::Add(std::string_view key, std::string_view value, TimestampMs timestamp,
                             std::span<const RecordHeader> headers) {
  if (count_ == 0) {
    first_ts_ = timestamp;
    max_ts_ = timestamp;
  } else if (timestamp > max_ts_) {
    max_ts_ = timestamp;
  }
  const uint64_t ts_delta = ZigZagEncode(WrappingSub(timestamp, first_ts_));

  // The length prefix counts everything after itself, so size the body first.
  size_t body = VarintLength(count_) + VarintLength(ts_delta) + VarintLength(key.size()) +
                key.size() + VarintLength(value.size()) + value.size() +
                VarintLength(headers.size());
  for (const RecordHeader& h : headers) {
    body +=
        VarintLength(h.key.size()) + h.key.size() + VarintLength(h.value.size()) + h.value.size();
  }

  std::byte buf[4 * kMaxVarint64Bytes];
  auto flush = [&](size_t n) { records_.append(reinterpret_cast<const char*>(buf), n); };
  size_t n = EncodeVarint64(buf, body);
  n += EncodeVarint64(buf + n, count_);
  n += EncodeVarint64(buf + n, ts_delta);
  n += EncodeVarint64(buf + n, key.size());
  flush(n);
  records_.append(key);
  flush(EncodeVarint64(buf, value.size()));
  records_.append(value);
  flush(EncodeVarint64(buf, headers.size()));
  for (const RecordHeader& h : headers) {
    flush(EncodeVarint64(buf, h.key.size()));
    records_.append(h.key);
    flush(EncodeVarint64(buf, h.value.size()));
    records_.append(h.value);
  }
  ++count_;
}

Result<std::string> RecordBatchBuilder::Finish() {
  // Every return, error or not, resets the builder (producer and epoch included, so a stale
  // producer sequence is never reused by accident); records_ keeps its capacity for reuse.
  BatchHeader h;
  h.base_offset = SequenceNumber(0);
  h.first_timestamp = first_ts_;
  h.max_timestamp = max_ts_;
  h.leader_epoch = epoch_;
  h.producer_id = producer_id_;
  h.producer_seq = producer_seq_;
  const uint32_t count = count_;
  const size_t uncompressed_bytes = UncompressedBytes();
  auto reset = [this] {
    records_.clear();
    count_ = 0;
    first_ts_ = 0;
    max_ts_ = 0;
    producer_id_ = ProducerId();
    producer_seq_ = 0;
    epoch_ = Epoch();
  };

  if (count == 0) {
    reset();
    return Status::InvalidArgument("record batch is empty");
  }
  if (count > f::kMaxRecordsPerBatch) {
    reset();
    return Status::InvalidArgument("record batch has " + std::to_string(count) +
                                   " records; the limit is " +
                                   std::to_string(f::kMaxRecordsPerBatch));
  }
  if (uncompressed_bytes > f::kMaxBatchBytes) {
    reset();
    return Status::InvalidArgument("record batch is " + std::to_string(uncompressed_bytes) +
                                   " bytes; the limit is " + std::to_string(f::kMaxBatchBytes));
  }
  h.record_count = count;
  h.records_size = static_cast<uint32_t>(records_.size());

  std::string out;
  size_t section = 0;
  if (codec_ == f::Codec::kZstd) {
    section = CompressInto(AsBytes(records_), zstd_level_, &out, f::kBatchHeaderSize);
    if (section != 0) h.attributes = static_cast<uint16_t>(f::Codec::kZstd);
  }
  if (section == 0) {
    out.resize(f::kBatchHeaderSize + records_.size());
    std::memcpy(out.data() + f::kBatchHeaderSize, records_.data(), records_.size());
    section = records_.size();
  }
  h.length = static_cast<uint32_t>(f::kBatchHeaderSize + section);
  EncodeHeader(Bytes(out), h);
  SealChecksum(std::span(Bytes(out), out.size()));
  reset();
  return out;
}

// ----------------------------------------------------------------------------------------------
// Parsing

Result<BatchHeader> PeekBatchHeader(std::span<const std::byte> bytes) {
  // Order matters: the length is read before anything else so that zero-filled space reads as
  // "no batch" even when too short for a header, and a torn batch reads as Truncated.
  if (bytes.size() < f::kBatchLengthOffset + 4) {
    return Status::Truncated("batch header: " + std::to_string(bytes.size()) + " bytes");
  }
  const uint32_t length = DecodeFixed<uint32_t>(bytes.data() + f::kBatchLengthOffset);
  if (length == 0) {
    // Only an all-zero header is "no batch here"; a zero length among other header bytes is
    // a damaged batch, not the end of the data.
    auto header = bytes.first(std::min(bytes.size(), f::kBatchHeaderSize));
    bool all_zero =
        std::all_of(header.begin(), header.end(), [](std::byte b) { return b == std::byte{0}; });
    if (all_zero) return Status::NotFound("no batch (zero length)");
    return Status::Corruption("batch length is zero but its header is not");
  }
  if (length < f::kBatchHeaderSize + 1 || length > f::kMaxBatchBytes) {
    return Status::Corruption("batch length " + std::to_string(length) + " out of bounds");
  }
  if (bytes.size() < f::kBatchHeaderSize) {
    return Status::Truncated("batch header: " + std::to_string(bytes.size()) + " of " +
                             std::to_string(f::kBatchHeaderSize) + " bytes");
  }
  BatchHeader h = DecodeHeader(bytes.data());
  if (h.magic != f::kBatchMagic) {
    return Status::Corruption("batch magic " + Hex(h.magic) + ", expected " + Hex(f::kBatchMagic));
  }
  if (h.record_count == 0 || h.record_count > f::kMaxRecordsPerBatch) {
    return Status::Corruption("batch record count " + std::to_string(h.record_count) +
                              " out of bounds");
  }
  if (bytes.size() < length) {
    return Status::Truncated("batch: " + std::to_string(bytes.size()) + " of " +
                             std::to_string(length) + " bytes");
  }
  return h;
}

Result<RecordBatchView> RecordBatchView::Parse(std::span<const std::byte> bytes) {
  SLUICE_ASSIGN_OR_RETURN(BatchHeader h, PeekBatchHeader(bytes));
  std::span<const std::byte> batch = bytes.first(h.length);
  const uint64_t actual = HeaderChecksum(batch);
  if (actual != h.checksum) {
    return Status::Corruption("batch checksum mismatch: expected " + Hex(h.checksum) + ", actual " +
                              Hex(actual));
  }
  const uint64_t records = Checksum(batch.subspan(f::kBatchHeaderSize));
  if (records != h.records_checksum) {
    return Status::Corruption("batch records checksum mismatch: expected " +
                              Hex(h.records_checksum) + ", actual " + Hex(records));
  }
  RecordBatchView view(h, batch);
  if (h.type != static_cast<uint8_t>(f::BatchType::kData)) {
    if ((h.type & f::kTypeIgnoreIfUnknown) == 0) {
      return Status::NotSupported("unknown batch type " + std::to_string(h.type));
    }
    // Readers skip it; its attributes and records may mean something we do not know.
    return view;
  }
  const uint16_t codec = h.attributes & f::kAttrCodecMask;
  if (codec != static_cast<uint16_t>(f::Codec::kNone) &&
      codec != static_cast<uint16_t>(f::Codec::kZstd)) {
    return Status::NotSupported("unknown batch codec " + std::to_string(codec));
  }
  if ((h.attributes & kAttrReservedMask) != 0) {
    return Status::NotSupported("reserved batch attribute bits set: " + Hex(h.attributes));
  }
  const size_t section = h.length - f::kBatchHeaderSize;
  if (h.codec() == f::Codec::kNone ? h.records_size != section
                                   : h.records_size > kMaxRecordsSectionBytes) {
    return Status::Corruption("batch records size " + std::to_string(h.records_size) +
                              " disagrees with length " + std::to_string(h.length));
  }
  return view;
}

bool RecordBatchView::ignorable() const {
  return header_.type != static_cast<uint8_t>(f::BatchType::kData) &&
         (header_.type & f::kTypeIgnoreIfUnknown) != 0;
}

Result<std::vector<Record>> RecordBatchView::DecodeRecords(std::string* scratch) const {
  if (ignorable()) {
    return Status::NotSupported("cannot decode batch of unknown type " +
                                std::to_string(header_.type));
  }
  std::span<const std::byte> section = bytes_.subspan(f::kBatchHeaderSize);
  if (header_.codec() == f::Codec::kZstd) {
    scratch->resize(header_.records_size);
    const size_t n = ZSTD_decompressDCtx(ThreadDCtx(), scratch->data(), scratch->size(),
                                         section.data(), section.size());
    if (ZSTD_isError(n)) {
      return Status::Corruption(std::string("batch decompression failed: ") + ZSTD_getErrorName(n));
    }
    if (n != header_.records_size) {
      return Status::Corruption("batch decompressed to " + std::to_string(n) +
                                " bytes, header says " + std::to_string(header_.records_size));
    }
    section = AsBytes(*scratch);
  }

  const uint32_t count = header_.record_count;
  if (section.size() / kMinRecordBytes < count) {
    return Status::Corruption("records section of " + std::to_string(section.size()) +
                              " bytes cannot hold " + std::to_string(count) + " records");
  }
  const uint64_t base = header_.base_offset.value();
  std::vector<Record> records(count);
  SectionReader in(section);
  for (uint32_t i = 0; i < count; ++i) {
    auto len = in.Varint();
    if (!len) return BadRecord(i, "bad length varint");
    if (*len > in.remaining()) return BadRecord(i, "length past the end of the section");
    SectionReader rec(in.Take(static_cast<size_t>(*len)));

    auto offset_delta = rec.Varint();
    if (!offset_delta || *offset_delta != i) return BadRecord(i, "bad offset delta");
    auto ts_delta = rec.Varint();
    if (!ts_delta) return BadRecord(i, "bad timestamp delta");
    Record& r = records[i];
    r.offset = SequenceNumber(base + i);
    r.timestamp = (header_.attributes & f::kAttrLogAppendTime) != 0
                      ? header_.first_timestamp
                      : WrappingAdd(header_.first_timestamp, ZigZagDecode(*ts_delta));
    if (!rec.LengthPrefixed(&r.key)) return BadRecord(i, "bad key");
    if (!rec.LengthPrefixed(&r.value)) return BadRecord(i, "bad value");
    auto header_count = rec.Varint();
    if (!header_count) return BadRecord(i, "bad header count");
    if (*header_count != 0) {
      // Each header takes at least two bytes; this bounds the reservation.
      if (*header_count > rec.remaining() / 2) return BadRecord(i, "header count too large");
      r.headers.resize(static_cast<size_t>(*header_count));
      for (RecordHeader& h : r.headers) {
        if (!rec.LengthPrefixed(&h.key) || !rec.LengthPrefixed(&h.value)) {
          return BadRecord(i, "bad header");
        }
      }
    }
    if (!rec.empty()) return BadRecord(i, "trailing bytes in record");
  }
  if (!in.empty()) {
    return Status::Corruption(std::to_string(in.remaining()) +
                              " trailing bytes after the last record");
  }
  return records;
}

// ----------------------------------------------------------------------------------------------
// Rewriting

void RestampBatch(std::span<std::byte> batch, SequenceNumber base_offset, Epoch epoch,
                  std::optional<TimestampMs> first_timestamp) {
  SLUICE_CHECK(batch.size() >= f::kBatchHeaderSize, "RestampBatch: shorter than a header");
  SLUICE_CHECK(DecodeFixed<uint32_t>(batch.data() + f::kBatchLengthOffset) == batch.size(),
               "RestampBatch: span is not exactly one batch");
  std::byte* p = batch.data();
  EncodeFixed<uint64_t>(p + f::kBatchBaseOffsetOffset, base_offset.value());
  EncodeFixed<uint64_t>(p + f::kBatchLeaderEpochOffset, epoch.value());
  if (first_timestamp) {
    // Append time: every record takes the stamp (the attribute tells readers so).
    EncodeFixed<int64_t>(p + f::kBatchFirstTimestampOffset, *first_timestamp);
    EncodeFixed<int64_t>(p + f::kBatchMaxTimestampOffset, *first_timestamp);
    const uint16_t attrs = DecodeFixed<uint16_t>(p + f::kBatchAttributesOffset);
    EncodeFixed<uint16_t>(p + f::kBatchAttributesOffset,
                          static_cast<uint16_t>(attrs | f::kAttrLogAppendTime));
  }
  SealHeaderChecksum(batch);
}

void SealBatchChecksums(std::span<std::byte> batch) { SealChecksum(batch); }

Result<std::string> CompressBatch(const RecordBatchView& batch, int level) {
  const BatchHeader& src = batch.header();
  std::span<const std::byte> bytes = batch.bytes();
  auto copy = [&] { return std::string(AsChars(bytes)); };
  // Already compressed, or of a type whose records we do not understand: leave alone.
  if (src.codec() != f::Codec::kNone || batch.ignorable()) return copy();

  std::string out;
  const size_t n =
      CompressInto(bytes.subspan(f::kBatchHeaderSize), level, &out, f::kBatchHeaderSize);
  if (n == 0) return copy();  // Incompressible: the builder would have stored it as is too.
  BatchHeader h = src;
  h.length = static_cast<uint32_t>(f::kBatchHeaderSize + n);
  h.attributes = static_cast<uint16_t>((src.attributes & ~f::kAttrCodecMask) |
                                       static_cast<uint16_t>(f::Codec::kZstd));
  EncodeHeader(Bytes(out), h);
  SealChecksum(std::span(Bytes(out), out.size()));
  return out;
}

}  // namespace sluice::log
