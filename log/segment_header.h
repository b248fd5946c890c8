// SPDX-License-Identifier: Apache-2.0
// The page-sized header at the start of every segment file (layout in format.h).
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "log/base/result.h"
#include "log/base/types.h"
#include "log/format.h"

namespace sluice::log {

struct SegmentHeader {
  SegmentId base;
  TimestampMs created_ms = 0;
};

// Encodes into exactly kSegmentHeaderSize bytes (zero padded).
void EncodeSegmentHeader(const SegmentHeader& h,
                         std::span<std::byte, format::kSegmentHeaderSize> out);
// Corruption on a wrong magic, checksum or header size; NotSupported on a newer version;
// Truncated when fewer than kSegmentHeaderUsed bytes are given.
Result<SegmentHeader> DecodeSegmentHeader(std::span<const std::byte> in);

}  // namespace sluice::log
