// SPDX-License-Identifier: Apache-2.0
#include "log/recovery.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "log/format.h"
#include "log/segment_header.h"
#include "log/segment_reader.h"

namespace sluice::log {

std::string RecoveryReport::ToString() const {
  std::string s = "recovered " + std::to_string(segments) + " segment(s), scanned " +
                  std::to_string(scanned_bytes) + " bytes";
  for (const DroppedRange& d : dropped) {
    s += "; dropped " + std::to_string(d.bytes) + " bytes at " + d.file + ":" +
         std::to_string(d.position) + " (" + d.reason + ")";
  }
  for (const DamagedRange& d : damaged) {
    s += "; damaged " + std::to_string(d.bytes) + " bytes at " + d.file + ":" +
         std::to_string(d.position) + " holding records [" + std::to_string(d.first.value()) +
         ", " + std::to_string(d.end.value()) + ") (" + d.reason + ")";
  }
  for (const std::string& n : notes) s += "; " + n;
  return s;
}

Result<SegmentScan> ScanSegment(const io::File& file, SegmentId base, const std::string& path) {
  SegmentScan scan{Index(base)};
  SLUICE_ASSIGN_OR_RETURN(scan.file_size, file.Size());
  std::string header(format::kSegmentHeaderSize, '\0');
  auto hspan = std::span<std::byte>(reinterpret_cast<std::byte*>(header.data()), header.size());
  SLUICE_ASSIGN_OR_RETURN(size_t n, file.ReadAt(0, hspan));
  auto decoded = DecodeSegmentHeader(hspan.first(n));
  if (!decoded.ok() || decoded->base != base) scan.header_damaged = true;
  scan.valid_end = format::kSegmentHeaderSize;
  if (scan.file_size < format::kSegmentHeaderSize) {
    scan.stop = Status::Truncated("segment shorter than its header");
    scan.valid_end = scan.file_size;
    return scan;
  }
  auto reader = std::make_unique<SegmentReader>(&file, format::kSegmentHeaderSize, scan.file_size);
  SequenceNumber expected(base.value());
  bool after_damage = false;
  for (;;) {
    auto next = reader->Next();
    Status bad = next.ok() ? Status::OK() : next.status();
    if (bad.ok() && next->has_value() && (*next)->header().base_offset != expected) {
      bad = Status::Corruption("batch at position " + std::to_string(reader->position()) +
                               " has base offset " +
                               std::to_string((*next)->header().base_offset.value()) +
                               ", expected " + std::to_string(expected.value()));
    }
    if (bad.ok() && !next->has_value() && reader->position() < scan.file_size) {
      // An end of data must be followed by nothing but zeros; anything else means the bytes
      // that looked like the end (a zeroed header: a lost sector, a flipped length) hide data.
      SLUICE_ASSIGN_OR_RETURN(uint64_t last,
                              LastNonZeroEnd(file, reader->position(), scan.file_size));
      if (last > reader->position()) {
        bad = Status::Corruption("zero bytes at position " + std::to_string(reader->position()) +
                                 " but data follows up to " + std::to_string(last));
      }
    }
    if (!bad.ok()) {
      if (bad.IsIOError()) return bad;
      uint64_t at = scan.valid_end;
      SLUICE_ASSIGN_OR_RETURN(auto resume,
                              FindNextValidBatch(file, at + 1, scan.file_size, expected));
      if (!resume) {
        scan.stop = bad;
        break;
      }
      SegmentReader peek(&file, *resume, scan.file_size);
      SLUICE_ASSIGN_OR_RETURN(auto found, peek.Next());
      SequenceNumber resume_base = found->header().base_offset;
      scan.damaged.push_back(
          DamagedRange{path, at, *resume - at, expected, resume_base, bad.ToString()});
      expected = resume_base;
      scan.valid_end = *resume;
      reader = std::make_unique<SegmentReader>(&file, *resume, scan.file_size);
      after_damage = true;
      continue;
    }
    if (!next->has_value()) break;
    const BatchHeader& h = (*next)->header();
    uint64_t pos = reader->position() - h.length;
    scan.index.Add(h.base_offset, h.next_offset(), pos, h.length, h.max_timestamp, after_damage);
    after_damage = false;
    expected = h.next_offset();
    scan.valid_end = reader->position();
  }
  return scan;
}

Result<std::optional<uint64_t>> FindNextValidBatch(const io::File& file, uint64_t from,
                                                   uint64_t end, SequenceNumber min_base) {
  // Candidates are found by their magic byte, then fully validated (checksum included).
  constexpr size_t kChunk = 1 << 20;
  std::string buf(kChunk + format::kBatchHeaderSize, '\0');
  for (uint64_t pos = from; pos + format::kBatchHeaderSize <= end; pos += kChunk) {
    auto out = std::span<std::byte>(reinterpret_cast<std::byte*>(buf.data()),
                                    std::min<uint64_t>(buf.size(), end - pos));
    SLUICE_ASSIGN_OR_RETURN(size_t n, file.ReadAt(pos, out));
    if (n < format::kBatchHeaderSize) break;
    const char* base = buf.data();
    size_t limit = std::min(n - format::kBatchHeaderSize, kChunk - 1) + 1;  // Candidate starts.
    for (size_t i = 0; i < limit;) {
      const void* hit =
          std::memchr(base + i + format::kBatchMagicOffset, format::kBatchMagic, limit - i);
      if (hit == nullptr) break;
      size_t cand = static_cast<const char*>(hit) - base - format::kBatchMagicOffset;
      SegmentReader probe(&file, pos + cand, end, format::kBatchHeaderSize);
      auto batch = probe.Next();
      if (batch.ok() && batch->has_value() && (*batch)->header().base_offset > min_base) {
        return std::optional<uint64_t>(pos + cand);
      }
      if (!batch.ok() && batch.status().IsIOError()) return batch.status();
      i = cand + 1;
    }
  }
  return std::optional<uint64_t>();
}

Result<uint64_t> LastNonZeroEnd(const io::File& file, uint64_t from, uint64_t file_size) {
  // The remainder is usually a whole preallocated segment of zeros: compare it with memcmp
  // against a zero slice (SIMD in libc, even in unoptimised builds) and scan bytes only in a
  // slice that is not all zero.
  constexpr size_t kSlice = 64 << 10;
  static const std::string kZeros(kSlice, '\0');
  std::string buf(1 << 20, '\0');
  uint64_t last = from;
  for (uint64_t pos = from; pos < file_size;) {
    auto out = std::span<std::byte>(reinterpret_cast<std::byte*>(buf.data()),
                                    std::min<uint64_t>(buf.size(), file_size - pos));
    SLUICE_ASSIGN_OR_RETURN(size_t n, file.ReadAt(pos, out));
    if (n == 0) break;
    for (size_t slice = (n - 1) / kSlice + 1; slice > 0; --slice) {
      const size_t begin = (slice - 1) * kSlice;
      const size_t len = std::min(kSlice, n - begin);
      if (std::memcmp(buf.data() + begin, kZeros.data(), len) == 0) continue;
      size_t i = begin + len;
      while (buf[i - 1] == 0) --i;
      last = pos + i;
      break;
    }
    pos += n;
  }
  return last;
}

}  // namespace sluice::log
