// SPDX-License-Identifier: Apache-2.0
// Record batches: building, validating, decoding, restamping and (de)compressing the bytes that
// format.h describes. A batch is the same bytes on disk, in replication and on the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "log/base/result.h"
#include "log/base/types.h"
#include "log/format.h"

namespace sluice::log {

inline std::span<const std::byte> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view AsChars(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The decoded fixed header of a batch.
struct BatchHeader {
  uint64_t checksum = 0;
  uint32_t length = 0;
  uint8_t magic = format::kBatchMagic;
  uint8_t type = static_cast<uint8_t>(format::BatchType::kData);
  uint16_t attributes = 0;
  SequenceNumber base_offset;
  TimestampMs first_timestamp = 0;
  TimestampMs max_timestamp = 0;
  Epoch leader_epoch;
  ProducerId producer_id;  // 0: not from an idempotent producer.
  uint64_t producer_seq = 0;
  uint32_t record_count = 0;
  uint32_t records_size = 0;  // Uncompressed size of the records section.
  uint64_t records_checksum = 0;

  bool log_append_time() const { return (attributes & format::kAttrLogAppendTime) != 0; }
  format::Codec codec() const {
    return static_cast<format::Codec>(attributes & format::kAttrCodecMask);
  }
  // Sequence number of the last record; record_count >= 1 for any valid batch.
  SequenceNumber last_offset() const {
    return SequenceNumber(base_offset.value() + record_count - 1);
  }
  SequenceNumber next_offset() const { return SequenceNumber(base_offset.value() + record_count); }
};

struct RecordHeader {
  std::string_view key;
  std::string_view value;
};

// One decoded record. The views point into the batch bytes or into the scratch buffer passed
// to DecodeRecords, and live as long as both do.
struct Record {
  SequenceNumber offset;
  TimestampMs timestamp = 0;
  std::string_view key;
  std::string_view value;
  std::vector<RecordHeader> headers;
};

// Accumulates records and encodes them as one batch with base offset 0 (the log assigns the
// real one on append). Not thread-safe.
class RecordBatchBuilder {
 public:
  // `codec` kZstd compresses the records section at `zstd_level` (1..22; negative = fast).
  explicit RecordBatchBuilder(format::Codec codec = format::Codec::kNone, int zstd_level = 1);

  void SetProducer(ProducerId id, uint64_t seq) {
    producer_id_ = id;
    producer_seq_ = seq;
  }
  void SetLeaderEpoch(Epoch epoch) { epoch_ = epoch; }
  void Add(std::string_view key, std::string_view value, TimestampMs timestamp,
           std::span<const RecordHeader> headers = {});

  size_t record_count() const { return count_; }
  // Bytes of the batch if finished now without compression.
  size_t UncompressedBytes() const { return format::kBatchHeaderSize + records_.size(); }
  bool empty() const { return count_ == 0; }

  // Encodes the batch. InvalidArgument when empty or over the format's limits. Resets the
  // builder for reuse.
  Result<std::string> Finish();

 private:
  format::Codec codec_;
  int zstd_level_;
  ProducerId producer_id_;
  uint64_t producer_seq_ = 0;
  Epoch epoch_;
  std::string records_;  // Encoded records section.
  uint32_t count_ = 0;
  TimestampMs first_ts_ = 0;
  TimestampMs max_ts_ = 0;
};

// Decodes the header of the batch at the front of `bytes` without checking the checksum.
// Truncated when fewer than kBatchHeaderSize bytes, or fewer than `length` bytes, are present;
// Corruption when the length is out of bounds or the magic is wrong. A length of zero (the
// zero-filled space after the last batch) is reported as NotFound: "no batch here".
Result<BatchHeader> PeekBatchHeader(std::span<const std::byte> bytes);

// A validated view of one whole batch. Does not own the bytes; they must outlive the view.
class RecordBatchView {
 public:
  // Validates bounds, magic, checksum, the type rule and the attribute rule for the batch at
  // the front of `bytes` (which may extend past it). Errors as PeekBatchHeader, plus
  // Corruption for a checksum mismatch and NotSupported for an unknown must-understand type
  // or attribute.
  static Result<RecordBatchView> Parse(std::span<const std::byte> bytes);

  const BatchHeader& header() const { return header_; }
  // Exactly header().length bytes.
  std::span<const std::byte> bytes() const { return bytes_; }
  // True for a batch of an unknown type that carries the ignore-if-unknown bit: readers skip it.
  bool ignorable() const;

  // Decodes every record, decompressing into `*scratch` when needed. Corruption on any
  // malformed record (bad varint, length past the end, count or offsets that disagree with
  // the header).
  Result<std::vector<Record>> DecodeRecords(std::string* scratch) const;

 private:
  RecordBatchView(BatchHeader h, std::span<const std::byte> b) : header_(h), bytes_(b) {}
  BatchHeader header_;
  std::span<const std::byte> bytes_;
};

// Rewrites the base offset and leader epoch of a valid batch in place and, if an append time is
// given, stamps every record with it (first = max = the stamp, and the kAttrLogAppendTime
// attribute), then recomputes the header checksum (O(1): the records section is untouched).
// `batch` must be exactly one batch.
void RestampBatch(std::span<std::byte> batch, SequenceNumber base_offset, Epoch epoch,
                  std::optional<TimestampMs> first_timestamp);

// Computes and stores both checksums of a complete batch (`batch` is exactly one batch whose
// length field is set). For code that edits batch bytes by hand, such as tests.
void SealBatchChecksums(std::span<std::byte> batch);

// Returns a copy of `batch` with its records section compressed with Zstandard at `level`
// (header, offsets and checksum updated). A batch that is already compressed is copied as is.
Result<std::string> CompressBatch(const RecordBatchView& batch, int level);

}  // namespace sluice::log
