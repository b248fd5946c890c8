// SPDX-License-Identifier: Apache-2.0
#include "log/index.h"

#include <algorithm>
#include <climits>

#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::log {

using namespace format;  // NOLINT: offsets read better unqualified here.

void Index::Add(SequenceNumber batch_base, SequenceNumber batch_next, uint64_t position,
                uint64_t batch_bytes, TimestampMs batch_max_ts, bool force) {
  max_ts_ = std::max(max_ts_, batch_max_ts);
  if (entries_.empty() || force || position - last_entry_pos_ >= kIndexIntervalBytes) {
    entries_.push_back({static_cast<uint32_t>(batch_base.value() - base_.value()),
                        static_cast<uint32_t>(position), max_ts_});
    last_entry_pos_ = position;
  }
  next_ = batch_next;
  data_end_ = position + batch_bytes;
}

uint64_t Index::LookupOffset(SequenceNumber offset) const {
  if (offset.value() < base_.value()) return kSegmentHeaderSize;
  uint64_t rel = offset.value() - base_.value();
  // First entry with relative_offset > rel; the one before it is the start.
  auto it = std::upper_bound(entries_.begin(), entries_.end(), rel,
                             [](uint64_t r, const IndexEntry& e) { return r < e.relative_offset; });
  if (it == entries_.begin()) return kSegmentHeaderSize;
  return std::prev(it)->position;
}

uint64_t Index::LookupTimestamp(TimestampMs ts) const {
  // max_timestamp is a running maximum, so entries are sorted by it. Every batch up to the
  // entry before the first entry with max_timestamp >= ts has only older records.
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), ts,
                       [](const IndexEntry& e, TimestampMs t) { return e.max_timestamp < t; });
  if (it == entries_.begin()) return kSegmentHeaderSize;
  return std::prev(it)->position;
}

void Index::TruncateAt(uint64_t end, SequenceNumber next, TimestampMs max_ts) {
  while (!entries_.empty() && entries_.back().position >= end) entries_.pop_back();
  last_entry_pos_ = entries_.empty() ? 0 : entries_.back().position;
  next_ = next;
  data_end_ = end;
  max_ts_ = max_ts;
}

std::string Index::Encode(bool clean) const {
  std::string out(kIndexHeaderSize + entries_.size() * kIndexEntrySize, '\0');
  auto* p = reinterpret_cast<std::byte*>(out.data());
  std::byte* e = p + kIndexHeaderSize;
  for (const IndexEntry& entry : entries_) {
    EncodeFixed<uint32_t>(e + kIdxEntryRelOffsetOffset, entry.relative_offset);
    EncodeFixed<uint32_t>(e + kIdxEntryPositionOffset, entry.position);
    EncodeFixed<int64_t>(e + kIdxEntryTimestampOffset, entry.max_timestamp);
    e += kIndexEntrySize;
  }
  EncodeFixed<uint64_t>(p + kIdxMagicOffset, kIndexMagic);
  EncodeFixed<uint16_t>(p + kIdxVersionOffset, kIndexVersion);
  EncodeFixed<uint16_t>(p + kIdxFlagsOffset, clean ? 1 : 0);
  EncodeFixed<uint32_t>(p + kIdxEntrySizeOffset, static_cast<uint32_t>(kIndexEntrySize));
  EncodeFixed<uint64_t>(p + kIdxBaseOffsetOffset, base_.value());
  EncodeFixed<uint64_t>(p + kIdxSegmentBytesOffset, data_end_);
  EncodeFixed<uint64_t>(p + kIdxNextOffsetOffset, next_.value());
  EncodeFixed<int64_t>(p + kIdxMaxTimestampOffset, max_ts_);
  EncodeFixed<uint32_t>(p + kIdxEntryCountOffset, static_cast<uint32_t>(entries_.size()));
  EncodeFixed<uint32_t>(p + kIdxReservedOffset, 0);
  // Entries first, then the header bytes before the checksum field.
  uint64_t sum = Checksum({p + kIndexHeaderSize, out.size() - kIndexHeaderSize}) ^
                 Checksum({p, kIdxChecksumOffset});
  EncodeFixed<uint64_t>(p + kIdxChecksumOffset, sum);
  return out;
}

Result<Index> Index::Decode(std::span<const std::byte> bytes, SegmentId base, bool* clean) {
  if (bytes.size() < kIndexHeaderSize) return Status::Corruption("index: short header");
  const std::byte* p = bytes.data();
  if (DecodeFixed<uint64_t>(p + kIdxMagicOffset) != kIndexMagic) {
    return Status::Corruption("index: bad magic");
  }
  if (DecodeFixed<uint16_t>(p + kIdxVersionOffset) != kIndexVersion ||
      DecodeFixed<uint32_t>(p + kIdxEntrySizeOffset) != kIndexEntrySize) {
    return Status::Corruption("index: unknown version or entry size");
  }
  uint32_t count = DecodeFixed<uint32_t>(p + kIdxEntryCountOffset);
  if (bytes.size() != kIndexHeaderSize + uint64_t{count} * kIndexEntrySize) {
    return Status::Corruption("index: size does not match entry count");
  }
  uint64_t sum = Checksum({p + kIndexHeaderSize, bytes.size() - kIndexHeaderSize}) ^
                 Checksum({p, kIdxChecksumOffset});
  if (sum != DecodeFixed<uint64_t>(p + kIdxChecksumOffset)) {
    return Status::Corruption("index: checksum mismatch");
  }
  if (DecodeFixed<uint64_t>(p + kIdxBaseOffsetOffset) != base.value()) {
    return Status::Corruption("index: base offset does not match its file name");
  }
  Index index(base);
  index.data_end_ = DecodeFixed<uint64_t>(p + kIdxSegmentBytesOffset);
  index.next_ = SequenceNumber(DecodeFixed<uint64_t>(p + kIdxNextOffsetOffset));
  index.max_ts_ = DecodeFixed<int64_t>(p + kIdxMaxTimestampOffset);
  if (index.next_.value() < base.value() || index.data_end_ < kSegmentHeaderSize) {
    return Status::Corruption("index: header values out of range");
  }
  *clean = (DecodeFixed<uint16_t>(p + kIdxFlagsOffset) & 1) != 0;
  index.entries_.reserve(count);
  const std::byte* e = p + kIndexHeaderSize;
  for (uint32_t i = 0; i < count; ++i, e += kIndexEntrySize) {
    IndexEntry entry{DecodeFixed<uint32_t>(e + kIdxEntryRelOffsetOffset),
                     DecodeFixed<uint32_t>(e + kIdxEntryPositionOffset),
                     DecodeFixed<int64_t>(e + kIdxEntryTimestampOffset)};
    if (!index.entries_.empty()) {
      const IndexEntry& prev = index.entries_.back();
      if (entry.relative_offset <= prev.relative_offset || entry.position <= prev.position ||
          entry.max_timestamp < prev.max_timestamp) {
        return Status::Corruption("index: entries out of order");
      }
    }
    if (entry.position < kSegmentHeaderSize || entry.position >= index.data_end_) {
      return Status::Corruption("index: entry position outside the segment");
    }
    index.entries_.push_back(entry);
  }
  index.last_entry_pos_ = index.entries_.empty() ? 0 : index.entries_.back().position;
  return index;
}

}  // namespace sluice::log
