// SPDX-License-Identifier: Apache-2.0
// Checksums: XXH3-64 everywhere (batches, segment and index headers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <xxhash.h>

namespace sluice {

inline uint64_t Checksum(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

}  // namespace sluice
