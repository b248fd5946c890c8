// SPDX-License-Identifier: Apache-2.0
// Little-endian fixed-width integers and LEB128 varints, the only encodings the formats use.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

namespace sluice {

// Fixed-width stores/loads. `dst`/`src` must hold sizeof(T) bytes. x86-64 and aarch64 Linux are
// little-endian; the static_assert keeps a big-endian port from silently writing another format.
static_assert(std::endian::native == std::endian::little, "Sluice formats are little-endian");

template <typename T>
inline void EncodeFixed(std::byte* dst, T v) {
  std::memcpy(dst, &v, sizeof(T));
}
template <typename T>
inline T DecodeFixed(const std::byte* src) {
  T v;
  std::memcpy(&v, src, sizeof(T));
  return v;
}

constexpr size_t kMaxVarint64Bytes = 10;

// Writes `v` as an unsigned LEB128 varint; returns the byte count (1..10).
inline size_t EncodeVarint64(std::byte* dst, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    dst[n++] = static_cast<std::byte>(v | 0x80);
    v >>= 7;
  }
  dst[n++] = static_cast<std::byte>(v);
  return n;
}

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  std::byte buf[kMaxVarint64Bytes];
  size_t n = EncodeVarint64(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), n);
}

inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Reads a varint from the front of `*in` and advances it. nullopt when `*in` ends inside the
// varint or the varint is longer than 10 bytes (malformed).
inline std::optional<uint64_t> GetVarint64(std::span<const std::byte>* in) {
  uint64_t result = 0;
  for (size_t i = 0; i < in->size() && i < kMaxVarint64Bytes; ++i) {
    uint64_t b = static_cast<uint64_t>((*in)[i]);
    result |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (i == kMaxVarint64Bytes - 1 && b > 1) return std::nullopt;  // Overflows 64 bits.
      *in = in->subspan(i + 1);
      return result;
    }
  }
  return std::nullopt;
}

}  // namespace sluice
