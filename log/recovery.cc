// SPDX-License-Identifier: Apache-2.0
#include "log/recovery.h"

#include <algorithm>

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
  for (const std::string& n : notes) s += "; " + n;
  return s;
}

Result<SegmentScan> ScanSegment(const io::File& file, SegmentId base) {
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
  SegmentReader reader(&file, format::kSegmentHeaderSize, scan.file_size);
  SequenceNumber expected(base.value());
  for (;;) {
    auto next = reader.Next();
    if (!next.ok()) {
      if (next.status().IsIOError()) return next.status();
      scan.stop = next.status();
      break;
    }
    if (!next->has_value()) break;
    const BatchHeader& h = (*next)->header();
    if (h.base_offset != expected) {
      scan.stop = Status::Corruption("batch at position " + std::to_string(reader.position()) +
                                     " has base offset " + std::to_string(h.base_offset.value()) +
                                     ", expected " + std::to_string(expected.value()));
      break;
    }
    uint64_t pos = reader.position() - h.length;
    scan.index.Add(h.base_offset, h.next_offset(), pos, h.length, h.max_timestamp);
    expected = h.next_offset();
    scan.valid_end = reader.position();
  }
  return scan;
}

Result<uint64_t> LastNonZeroEnd(const io::File& file, uint64_t from, uint64_t file_size) {
  std::string buf(1 << 20, '\0');
  uint64_t last = from;
  for (uint64_t pos = from; pos < file_size;) {
    auto out = std::span<std::byte>(reinterpret_cast<std::byte*>(buf.data()),
                                    std::min<uint64_t>(buf.size(), file_size - pos));
    SLUICE_ASSIGN_OR_RETURN(size_t n, file.ReadAt(pos, out));
    if (n == 0) break;
    for (size_t i = n; i > 0; --i) {
      if (buf[i - 1] != 0) {
        last = pos + i;
        break;
      }
    }
    pos += n;
  }
  return last;
}

}  // namespace sluice::log
