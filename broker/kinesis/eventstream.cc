// SPDX-License-Identifier: Apache-2.0
// Event stream encode/decode and the Kinesis SubscribeToShard messages.
#include "broker/kinesis/eventstream.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <unordered_set>
#include <zlib.h>

#include "log/base/check.h"

namespace sluice::kinesis {
namespace {

constexpr size_t kMaxHeaderNameSize = std::numeric_limits<uint8_t>::max();
constexpr size_t kMaxHeaderValueSize = std::numeric_limits<uint16_t>::max();

template <typename T>
void PutBigEndian(std::string* dst, T v) {
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(v);
  for (int shift = (sizeof(T) - 1) * 8; shift >= 0; shift -= 8) {
    dst->push_back(static_cast<char>(static_cast<uint8_t>(u >> shift)));
  }
}

template <typename T>
T LoadBigEndian(std::string_view src) {
  using U = std::make_unsigned_t<T>;
  U u = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    u = static_cast<U>((u << 8) | static_cast<uint8_t>(src[i]));
  }
  return static_cast<T>(u);
}

void PutSized(std::string* dst, std::string_view bytes) {
  SLUICE_CHECK(bytes.size() <= kMaxHeaderValueSize, "event stream header value over 65535 bytes");
  PutBigEndian(dst, static_cast<uint16_t>(bytes.size()));
  dst->append(bytes);
}

void PutHeader(std::string* dst, const EventHeader& h) {
  SLUICE_CHECK(!h.name.empty() && h.name.size() <= kMaxHeaderNameSize,
               "event stream header name must be 1..255 bytes");
  dst->push_back(static_cast<char>(h.name.size()));
  dst->append(h.name);
  dst->push_back(static_cast<char>(TypeOf(h.value)));
  std::visit(
      [dst](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          // The type byte is the value.
        } else if constexpr (std::is_integral_v<V>) {
          PutBigEndian(dst, v);
        } else if constexpr (std::is_same_v<V, HeaderBytes>) {
          PutSized(dst, v.data);
        } else if constexpr (std::is_same_v<V, std::string>) {
          PutSized(dst, v);
        } else if constexpr (std::is_same_v<V, HeaderTimestamp>) {
          PutBigEndian(dst, static_cast<int64_t>(v.time_since_epoch().count()));
        } else {
          static_assert(std::is_same_v<V, HeaderUuid>);
          dst->append(reinterpret_cast<const char*>(v.data()), v.size());
        }
      },
      h.value);
}

// Reads the headers block front to back. Every Take() is bounds-checked against the block, so
// a header that claims more bytes than remain is Corruption, never an overread.
class HeaderReader {
 public:
  explicit HeaderReader(std::string_view block) : rest_(block) {}
  bool done() const { return rest_.empty(); }

  Result<EventHeader> Next() {
    EventHeader h;
    std::string_view field;
    if (!Take(1, &field)) return Bad("header name length");
    const size_t name_len = static_cast<uint8_t>(field[0]);
    if (name_len == 0) return Status::Corruption("event stream: empty header name");
    if (!Take(name_len, &field)) return Bad("header name");
    h.name.assign(field);
    if (!Take(1, &field)) return Bad("header type");
    const uint8_t type = static_cast<uint8_t>(field[0]);
    switch (static_cast<HeaderType>(type)) {
      case HeaderType::kBoolTrue:
        h.value = true;
        return h;
      case HeaderType::kBoolFalse:
        h.value = false;
        return h;
      case HeaderType::kByte:
        return Fixed<int8_t>(std::move(h));
      case HeaderType::kShort:
        return Fixed<int16_t>(std::move(h));
      case HeaderType::kInt:
        return Fixed<int32_t>(std::move(h));
      case HeaderType::kLong:
        return Fixed<int64_t>(std::move(h));
      case HeaderType::kBytes:
        if (!TakeSized(&field)) return Bad("bytes header value");
        h.value = HeaderBytes{std::string(field)};
        return h;
      case HeaderType::kString:
        if (!TakeSized(&field)) return Bad("string header value");
        h.value = std::string(field);
        return h;
      case HeaderType::kTimestamp:
        if (!Take(8, &field)) return Bad("timestamp header value");
        h.value = HeaderTimestamp(std::chrono::milliseconds(LoadBigEndian<int64_t>(field)));
        return h;
      case HeaderType::kUuid: {
        if (!Take(16, &field)) return Bad("uuid header value");
        HeaderUuid uuid;
        std::copy(field.begin(), field.end(), uuid.begin());
        h.value = uuid;
        return h;
      }
    }
    return Status::Corruption("event stream: unknown header type " + std::to_string(type) +
                              " for header '" + h.name + "'");
  }

 private:
  bool Take(size_t n, std::string_view* out) {
    if (rest_.size() < n) return false;
    *out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool TakeSized(std::string_view* out) {
    std::string_view len;
    return Take(2, &len) && Take(LoadBigEndian<uint16_t>(len), out);
  }
  template <typename T>
  Result<EventHeader> Fixed(EventHeader h) {
    std::string_view field;
    if (!Take(sizeof(T), &field)) return Bad("integer header value");
    h.value = LoadBigEndian<T>(field);
    return h;
  }
  static Status Bad(std::string_view what) {
    return Status::Corruption("event stream: " + std::string(what) + " runs past the headers");
  }

  std::string_view rest_;
};

void AppendJsonEscaped(std::string* dst, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"':
        dst->append("\\\"");
        break;
      case '\\':
        dst->append("\\\\");
        break;
      case '\b':
        dst->append("\\b");
        break;
      case '\f':
        dst->append("\\f");
        break;
      case '\n':
        dst->append("\\n");
        break;
      case '\r':
        dst->append("\\r");
        break;
      case '\t':
        dst->append("\\t");
        break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          dst->append(buf);
        } else {
          dst->push_back(c);  // UTF-8 bytes pass through unchanged.
        }
    }
  }
}

EventHeader StringHeaderOf(std::string_view name, std::string_view value) {
  return EventHeader{std::string(name), std::string(value)};
}

}  // namespace

HeaderType TypeOf(const HeaderValue& value) {
  if (const bool* b = std::get_if<bool>(&value)) {
    return *b ? HeaderType::kBoolTrue : HeaderType::kBoolFalse;
  }
  // Alternatives after bool are in wire order from kByte on.
  return static_cast<HeaderType>(value.index() + 1);
}
static_assert(std::variant_size_v<HeaderValue> == 9, "HeaderValue alternatives map to types");

const EventHeader* DecodedMessage::Find(std::string_view name) const {
  for (const EventHeader& h : headers) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

std::string_view DecodedMessage::StringHeader(std::string_view name) const {
  const EventHeader* h = Find(name);
  if (h == nullptr) return {};
  const std::string* s = std::get_if<std::string>(&h->value);
  return s == nullptr ? std::string_view() : std::string_view(*s);
}

uint32_t EventStreamCrc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed in chunks so a > 4 GiB view cannot truncate.
  while (!bytes.empty()) {
    const size_t n = std::min<size_t>(bytes.size(), std::numeric_limits<uInt>::max());
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
    bytes.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

std::string EncodeMessage(const std::vector<EventHeader>& headers, std::string_view payload) {
  std::string block;
  for (const EventHeader& h : headers) PutHeader(&block, h);
  SLUICE_CHECK(block.size() <= kMaxHeadersSize, "event stream headers over 128 KiB");
  SLUICE_CHECK(payload.size() <= kMaxPayloadSize, "event stream payload over 24 MiB");

  std::string out;
  const size_t total = kPreludeSize + block.size() + payload.size() + kMessageCrcSize;
  out.reserve(total);
  PutBigEndian(&out, static_cast<uint32_t>(total));
  PutBigEndian(&out, static_cast<uint32_t>(block.size()));
  PutBigEndian(&out, EventStreamCrc32(out));
  out.append(block);
  out.append(payload);
  PutBigEndian(&out, EventStreamCrc32(out));
  return out;
}

Result<DecodedMessage> DecodeMessage(std::string_view bytes, size_t* consumed) {
  if (bytes.size() < kPreludeSize) {
    return Status::Truncated("event stream: prelude incomplete");
  }
  const uint32_t total = LoadBigEndian<uint32_t>(bytes.substr(0, 4));
  const uint32_t headers_len = LoadBigEndian<uint32_t>(bytes.substr(4, 4));
  const uint32_t prelude_crc = LoadBigEndian<uint32_t>(bytes.substr(8, 4));
  if (EventStreamCrc32(bytes.substr(0, 8)) != prelude_crc) {
    return Status::Corruption("event stream: prelude CRC mismatch");
  }
  // Invariant from here: total >= kMinMessageSize and headers fit, so the payload length
  // below cannot underflow.
  if (total < kMinMessageSize) {
    return Status::Corruption("event stream: total length " + std::to_string(total) +
                              " below the 16-byte minimum");
  }
  if (headers_len > kMaxHeadersSize) {
    return Status::Corruption("event stream: headers length " + std::to_string(headers_len) +
                              " over 128 KiB");
  }
  if (headers_len > total - kMinMessageSize) {
    return Status::Corruption("event stream: headers length " + std::to_string(headers_len) +
                              " exceeds total length " + std::to_string(total));
  }
  const size_t payload_len = total - kMinMessageSize - headers_len;
  if (payload_len > kMaxPayloadSize) {
    return Status::Corruption("event stream: payload length " + std::to_string(payload_len) +
                              " over 24 MiB");
  }
  if (bytes.size() < total) {
    return Status::Truncated("event stream: message incomplete");
  }

  const std::string_view message = bytes.substr(0, total);
  const size_t crc_at = total - kMessageCrcSize;
  if (EventStreamCrc32(message.substr(0, crc_at)) !=
      LoadBigEndian<uint32_t>(message.substr(crc_at))) {
    return Status::Corruption("event stream: message CRC mismatch");
  }

  DecodedMessage out;
  HeaderReader reader(message.substr(kPreludeSize, headers_len));
  std::unordered_set<std::string> seen;
  while (!reader.done()) {
    SLUICE_ASSIGN_OR_RETURN(EventHeader h, reader.Next());
    if (!seen.insert(h.name).second) {
      return Status::Corruption("event stream: duplicate header '" + h.name + "'");
    }
    out.headers.push_back(std::move(h));
  }
  out.payload.assign(message.substr(kPreludeSize + headers_len, payload_len));
  *consumed = total;
  return out;
}

std::string InitialResponseEvent() {
  return EncodeMessage(
      {StringHeaderOf(":message-type", "event"), StringHeaderOf(":event-type", "initial-response"),
       StringHeaderOf(":content-type", "application/json")},
      "{}");
}

std::string SubscribeToShardEvent(std::string_view json_payload) {
  return EncodeMessage({StringHeaderOf(":message-type", "event"),
                        StringHeaderOf(":event-type", "SubscribeToShardEvent"),
                        StringHeaderOf(":content-type", "application/json")},
                       json_payload);
}

std::string ExceptionEvent(std::string_view exception_type, std::string_view message) {
  std::string payload = "{\"message\":\"";
  AppendJsonEscaped(&payload, message);
  payload.append("\"}");
  return EncodeMessage({StringHeaderOf(":message-type", "exception"),
                        StringHeaderOf(":exception-type", exception_type),
                        StringHeaderOf(":content-type", "application/json")},
                       payload);
}

}  // namespace sluice::kinesis
