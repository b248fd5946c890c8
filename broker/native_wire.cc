// SPDX-License-Identifier: Apache-2.0
#include "broker/native_wire.h"

namespace sluice::broker::native {

void BodyReader::Invalid(std::string_view what) {
  if (error_.empty()) error_ = std::string(what);
  in_ = {};
}

bool BodyReader::Need(size_t n, std::string_view what) {
  if (!ok()) return false;
  if (in_.size() < n) {
    Invalid(std::string("body ends inside a ") + std::string(what));
    return false;
  }
  return true;
}

uint64_t BodyReader::Varint() {
  if (!ok()) return 0;
  std::optional<uint64_t> v = GetVarint64(&in_);
  if (!v) {
    Invalid("bad or truncated varint");
    return 0;
  }
  return *v;
}

uint32_t BodyReader::Varint32() {
  uint64_t v = Varint();
  if (v > UINT32_MAX) {
    Invalid("varint exceeds 32 bits");
    return 0;
  }
  return static_cast<uint32_t>(v);
}

bool BodyReader::Bool() {
  uint8_t v = Fixed<uint8_t>();
  if (v > 1) Invalid("boolean is neither 0 nor 1");
  return v == 1;
}

std::string_view BodyReader::String(size_t max_len) {
  uint64_t len = Varint();
  if (!ok()) return {};
  if (len > max_len) {
    Invalid("string or blob longer than its limit");
    return {};
  }
  if (!Need(len, "string or blob")) return {};
  std::string_view s(reinterpret_cast<const char*>(in_.data()), len);
  in_ = in_.subspan(len);
  return s;
}

size_t BodyReader::Count(size_t min_item_bytes) {
  uint64_t n = Varint();
  if (!ok()) return 0;
  if (n > in_.size() / (min_item_bytes == 0 ? 1 : min_item_bytes)) {
    Invalid("item count exceeds what the body can hold");
    return 0;
  }
  return n;
}

Status BodyReader::Finish(std::string_view message) const {
  if (!ok()) return Status::Corruption(std::string(message) + ": " + error_);
  if (!in_.empty()) {
    return Status::Corruption(std::string(message) + ": " + std::to_string(in_.size()) +
                              " trailing bytes");
  }
  return Status::OK();
}

}  // namespace sluice::broker::native
