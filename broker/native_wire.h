// SPDX-License-Identifier: Apache-2.0
// The body encoding of native frames: fixed little-endian ints, LEB128 varints, and strings
// and byte blobs as varint length + bytes. Strict: a reader fails on any short, overlong or
// trailing input. Body layouts are versioned by the frame header's version byte; version 1 is
// the only one, so readers take no version argument yet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "log/base/coding.h"
#include "log/base/status.h"

namespace sluice::broker::native {

// Appends to a body. Not thread-safe.
class BodyWriter {
 public:
  template <typename T>
  void Fixed(T v) {
    std::byte buf[sizeof(T)];
    EncodeFixed<T>(buf, v);
    out_.append(reinterpret_cast<const char*>(buf), sizeof(T));
  }
  void Varint(uint64_t v) { PutVarint64(&out_, v); }
  void Bool(bool v) { Fixed<uint8_t>(v ? 1 : 0); }
  // String and byte blob share one encoding: varint length, then the bytes.
  void String(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  std::string Finish() && { return std::move(out_); }

 private:
  std::string out_;
};

// Reads a body front to back. The first failure is sticky: later reads return zero values and
// Finish() reports the failure. Views returned by String() point into the body.
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : in_(body) {}
  explicit BodyReader(std::string_view body)
      : in_(reinterpret_cast<const std::byte*>(body.data()), body.size()) {}

  template <typename T>
  T Fixed() {
    if (!Need(sizeof(T), "fixed-width integer")) return T{};
    T v = DecodeFixed<T>(in_.data());
    in_ = in_.subspan(sizeof(T));
    return v;
  }
  uint64_t Varint();
  // A varint that must fit in 32 bits.
  uint32_t Varint32();
  bool Bool();
  // A length-prefixed string or blob of at most `max_len` bytes.
  std::string_view String(size_t max_len = SIZE_MAX);
  // A count of items that each take at least `min_item_bytes` (>= 1): bounded by what is left,
  // so a corrupt count cannot make the caller reserve unbounded memory.
  size_t Count(size_t min_item_bytes);
  // Marks the body malformed with `what`, unless already failed.
  void Invalid(std::string_view what);

  bool ok() const { return error_.empty(); }
  size_t remaining() const { return in_.size(); }
  // OK when every byte was consumed without error; otherwise Corruption naming `message`.
  Status Finish(std::string_view message) const;

 private:
  bool Need(size_t n, std::string_view what);

  std::span<const std::byte> in_;
  std::string error_;
};

}  // namespace sluice::broker::native
