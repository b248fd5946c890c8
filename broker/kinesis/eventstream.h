// SPDX-License-Identifier: Apache-2.0
// The `application/vnd.amazon.eventstream` message codec SubscribeToShard streams in, plus the
// three messages Kinesis sends on it. See broker/kinesis/README.md "eventstream" and
// /work/shared/reference/kinesis-api.md §5.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "log/base/result.h"

namespace sluice::kinesis {

// One message on the wire; every integer is big-endian, both CRCs are zlib's CRC32 (IEEE):
//
//   +-----------+-------------+-------------+---------+---------+-------------+
//   | total_len | headers_len | prelude_crc | headers | payload | message_crc |
//   |   u32     |    u32      | u32 over 8B |  ...    |  ...    | u32 over    |
//   |           |             |             |         |         | all before  |
//   +-----------+-------------+-------------+---------+---------+-------------+
//
// A header is [name_len u8][name][type u8][value], the value laid out per HeaderType.
constexpr size_t kPreludeSize = 4     // total_len
                                + 4   // headers_len
                                + 4;  // prelude_crc
constexpr size_t kMessageCrcSize = 4;
constexpr size_t kMinMessageSize = kPreludeSize + kMessageCrcSize;
constexpr size_t kMaxHeadersSize = 128 * 1024;        // botocore _MAX_HEADERS_LENGTH
constexpr size_t kMaxPayloadSize = 24 * 1024 * 1024;  // botocore _MAX_PAYLOAD_LENGTH
static_assert(kMinMessageSize == 16);

// The wire tag of a header value. Types 0 and 1 carry no value bytes.
enum class HeaderType : uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,       // i8
  kShort = 3,      // i16
  kInt = 4,        // i32
  kLong = 5,       // i64
  kBytes = 6,      // u16 length + bytes
  kString = 7,     // u16 length + UTF-8
  kTimestamp = 8,  // i64 milliseconds since the Unix epoch
  kUuid = 9,       // 16 bytes
};

// Opaque bytes (type 6), kept apart from std::string (type 7) by type.
struct HeaderBytes {
  std::string data;
  friend bool operator==(const HeaderBytes&, const HeaderBytes&) = default;
};
using HeaderTimestamp = std::chrono::sys_time<std::chrono::milliseconds>;  // type 8
using HeaderUuid = std::array<uint8_t, 16>;                                // type 9

// Each alternative maps to exactly one wire type (bool to 0 or 1), so no tag can disagree with
// its value.
using HeaderValue = std::variant<bool, int8_t, int16_t, int32_t, int64_t, HeaderBytes, std::string,
                                 HeaderTimestamp, HeaderUuid>;

HeaderType TypeOf(const HeaderValue& value);

struct EventHeader {
  std::string name;  // 1..255 bytes
  HeaderValue value;
  friend bool operator==(const EventHeader&, const EventHeader&) = default;
};

struct DecodedMessage {
  std::vector<EventHeader> headers;  // in wire order; names are unique
  std::string payload;

  // The header named `name`, or nullptr.
  const EventHeader* Find(std::string_view name) const;
  // The value of the string (type 7) header `name`; empty when absent or of another type.
  std::string_view StringHeader(std::string_view name) const;
};

// CRC32 (IEEE, zlib's crc32) of `bytes`: the checksum both CRC fields hold.
uint32_t EventStreamCrc32(std::string_view bytes);

// Encodes one message. Preconditions (SLUICE_CHECK, they are caller bugs): header names are
// 1..255 bytes, string and bytes values <= 65535 bytes, the encoded headers <= kMaxHeadersSize
// and the payload <= kMaxPayloadSize. Duplicate names are the caller's to avoid.
std::string EncodeMessage(const std::vector<EventHeader>& headers, std::string_view payload);

// Decodes the message at the front of `bytes` and sets *consumed to its length; bytes after it
// are left alone (the next message). Errors, with *consumed untouched:
//   Truncated  - `bytes` ends before the message does: read more and call again;
//   Corruption - a CRC mismatch, lengths that disagree or exceed the limits, an unknown header
//                type, an empty header name, a header running past the headers block, or a
//                duplicate header name.
// Prelude lengths and CRC are checked as soon as 12 bytes are present, so a corrupt length is
// reported at once instead of waiting for bytes that will never come. String values are not
// checked for UTF-8.
Result<DecodedMessage> DecodeMessage(std::string_view bytes, size_t* consumed);

// The first message of every subscription: `:message-type`=event, `:event-type`=
// initial-response, `:content-type`=application/json, payload `{}`. botocore raises
// NoInitialResponseError without it.
std::string InitialResponseEvent();
// A data message: `:event-type`=SubscribeToShardEvent, payload `json_payload` verbatim
// ({"Records":[...],"ContinuationSequenceNumber":"...","MillisBehindLatest":n,...}).
std::string SubscribeToShardEvent(std::string_view json_payload);
// A mid-stream error: `:message-type`=exception, `:exception-type`=`exception_type`,
// `:content-type`=application/json, payload {"message":"<message, JSON-escaped>"}.
std::string ExceptionEvent(std::string_view exception_type, std::string_view message);

}  // namespace sluice::kinesis
