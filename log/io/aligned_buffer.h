// SPDX-License-Identifier: Apache-2.0
// AlignedBuffer: a heap buffer whose address and capacity are multiples of an alignment, for
// O_DIRECT I/O. Move-only; freed on destruction.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>

#include "log/base/check.h"

namespace sluice::log::io {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `capacity` is rounded up to a multiple of `alignment` (a power of two). Zero-filled.
  AlignedBuffer(size_t alignment, size_t capacity) : alignment_(alignment) {
    SLUICE_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment power of 2");
    capacity_ = RoundUp(capacity, alignment);
    if (capacity_ > 0) {
      data_ = static_cast<std::byte*>(std::aligned_alloc(alignment, capacity_));
      SLUICE_CHECK(data_ != nullptr, "aligned_alloc failed");
      std::memset(data_, 0, capacity_);
    }
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        capacity_(std::exchange(o.capacity_, 0)),
        alignment_(o.alignment_) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    std::swap(alignment_, o.alignment_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t capacity() const { return capacity_; }
  size_t alignment() const { return alignment_; }
  std::span<std::byte> span() { return {data_, capacity_}; }

  static size_t RoundUp(size_t n, size_t a) { return (n + a - 1) / a * a; }
  static size_t RoundDown(size_t n, size_t a) { return n / a * a; }

 private:
  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  size_t alignment_ = 1;
};

}  // namespace sluice::log::io
