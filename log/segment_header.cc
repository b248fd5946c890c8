// SPDX-License-Identifier: Apache-2.0
#include "log/segment_header.h"

#include <cstring>
#include <string>

#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::log {

using namespace format;  // NOLINT: offsets read better unqualified here.

void EncodeSegmentHeader(const SegmentHeader& h, std::span<std::byte, kSegmentHeaderSize> out) {
  std::memset(out.data(), 0, out.size());
  std::byte* p = out.data();
  EncodeFixed<uint64_t>(p + kSegMagicOffset, kSegmentMagic);
  EncodeFixed<uint16_t>(p + kSegVersionOffset, kSegmentVersion);
  EncodeFixed<uint16_t>(p + kSegFlagsOffset, 0);
  EncodeFixed<uint32_t>(p + kSegHeaderSizeOffset, static_cast<uint32_t>(kSegmentHeaderSize));
  EncodeFixed<uint64_t>(p + kSegBaseOffsetOffset, h.base.value());
  EncodeFixed<int64_t>(p + kSegCreatedMsOffset, h.created_ms);
  EncodeFixed<uint64_t>(p + kSegChecksumOffset, Checksum({p, kSegChecksumOffset}));
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const std::byte> in) {
  if (in.size() < kSegmentHeaderUsed) return Status::Truncated("segment header is short");
  const std::byte* p = in.data();
  if (DecodeFixed<uint64_t>(p + kSegMagicOffset) != kSegmentMagic) {
    return Status::Corruption("segment header: bad magic");
  }
  if (DecodeFixed<uint64_t>(p + kSegChecksumOffset) != Checksum({p, kSegChecksumOffset})) {
    return Status::Corruption("segment header: checksum mismatch");
  }
  uint16_t version = DecodeFixed<uint16_t>(p + kSegVersionOffset);
  if (version != kSegmentVersion) {
    return Status::NotSupported("segment header: unknown version " + std::to_string(version));
  }
  if (DecodeFixed<uint32_t>(p + kSegHeaderSizeOffset) != kSegmentHeaderSize) {
    return Status::Corruption("segment header: unexpected header size");
  }
  return SegmentHeader{SegmentId(DecodeFixed<uint64_t>(p + kSegBaseOffsetOffset)),
                       DecodeFixed<int64_t>(p + kSegCreatedMsOffset)};
}

}  // namespace sluice::log
