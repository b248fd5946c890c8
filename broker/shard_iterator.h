// SPDX-License-Identifier: Apache-2.0
// Shard iterators: the Kinesis iterator types and IteratorCodec, which turns a resolved read
// position into the opaque, signed, expiring token GetShardIterator returns and GetRecords takes.
// Semantics: /work/shared/reference/kinesis-api.md section 6 ("Iterators").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "log/base/clock.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"

namespace sluice::broker {

// ShardIteratorType (and SubscribeToShard StartingPosition.Type).
enum class IteratorType {
  kTrimHorizon,          // TRIM_HORIZON: the oldest untrimmed record.
  kLatest,               // LATEST: just after the newest record.
  kAtSequenceNumber,     // AT_SEQUENCE_NUMBER
  kAfterSequenceNumber,  // AFTER_SEQUENCE_NUMBER
  kAtTimestamp,          // AT_TIMESTAMP: first record with arrival time >= Timestamp.
};

// The Kinesis wire name, e.g. "TRIM_HORIZON".
std::string_view IteratorTypeName(IteratorType type);
// Exact, case-sensitive wire name → type. Anything else is InvalidArgument carrying Kinesis's
// ValidationException text ("... at 'shardIteratorType' failed to satisfy constraint: Member
// must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, ...]").
Result<IteratorType> ParseIteratorType(std::string_view name);

// Where the next GetRecords on a token starts. The iterator type is already resolved: a token
// never says "LATEST", it says which offset LATEST meant when it was issued.
struct IteratorPosition {
  std::string stream;  // A name that passes ValidateStreamName.
  ShardId shard;
  // The stream's incarnation (the broker uses its StreamId): changes when a stream is deleted
  // and recreated under the same name, so tokens for the old one are refused. Opaque to the
  // codec.
  uint64_t incarnation = 0;
  SequenceNumber offset;  // Resolved log offset the next read starts at.

  friend bool operator==(const IteratorPosition&, const IteratorPosition&) = default;
};

inline constexpr int64_t kIteratorTtlMs = 300'000;  // Kinesis: 5 minutes after issue.
// A token whose issue time is further than this ahead of the clock is invalid (not ours, or the
// clock was stepped back far); a smaller step back is tolerated.
inline constexpr int64_t kIteratorMaxFutureSkewMs = 1'000;
inline constexpr size_t kMaxIteratorTokenLength = 512;  // ShardIterator is S 1-512.
inline constexpr size_t kIteratorSecretBytes = 32;      // Minimum secret size.
inline constexpr std::string_view kInvalidIteratorMessage = "Invalid ShardIterator.";

// Token format, version 1: standard base64 (with padding) of
//
//   0       1               9        13              21              29      30      30+n
//   +-------+---------------+--------+---------------+---------------+-------+-------+-------+
//   |version|issued_at_ms   |shard   |shard_gen      |offset         |n      |stream |mac    |
//   |u8 = 1 |i64            |u32     |u64            |u64            |u8     |n bytes|16 B   |
//   +-------+---------------+--------+---------------+---------------+-------+-------+-------+
//
// integers little-endian, n in 1..128, mac = HMAC-SHA256(secret, bytes [0, 30+n)) truncated to
// 16 bytes. The longest token (n = 128) is 174 bytes → 232 characters, well under 512. Tokens
// are bound to one node's secret: a token from another node (or before a restart with a new
// secret) is invalid, not expired.
//
// Errors from Decode (the design): exactly two kinds, told apart by the status code.
//  - Invalid: Status::InvalidArgument, message kInvalidIteratorMessage ("Invalid
//    ShardIterator."). Malformed base64, wrong length or version, bad signature, bad fields,
//    issued in the future. Never retriable; maps to InvalidArgumentException.
//  - Expired: Status::Aborted, message exactly Kinesis's ExpiredIteratorException text:
//    "Iterator expired. The iterator was created at time <t> while right now it is <now> which
//    is further in the future than the tolerated delay of 300000 milliseconds." with times as
//    "Thu Jan 22 01:22:02 UTC 2015" (Java Date.toString in UTC, as kinesalite reproduces it).
//    Aborted = "restart at a higher level" (a new GetShardIterator); it is neither
//    InvalidArgument nor Unavailable, which would tell a generic retry loop to repeat the call.
// The protocol layer uses IsExpiredIterator() to pick the __type and sends message() verbatim.
// Expiry is exclusive: a token is still good exactly ttl_ms after issue and expired 1 ms later
// (kinesalite: `now - iteratorTime > 300000`).
bool IsExpiredIterator(const Status& decode_status);
bool IsInvalidIterator(const Status& decode_status);

// Issues and checks iterator tokens. Immutable after construction: Issue and Decode are
// thread-safe. The secret is wiped on destruction. Not copyable: one codec per node.
class IteratorCodec {
 public:
  // `secret`: at least kIteratorSecretBytes random bytes (NewSecret()); aborts if shorter.
  // `clock` must outlive the codec. `ttl_ms` (> 0) is configurable for tests only.
  IteratorCodec(std::string secret, Clock* clock, int64_t ttl_ms = kIteratorTtlMs);
  ~IteratorCodec();
  IteratorCodec(const IteratorCodec&) = delete;
  IteratorCodec& operator=(const IteratorCodec&) = delete;

  // kIteratorSecretBytes bytes from OpenSSL's CSPRNG (RAND_bytes); aborts if it fails, since a
  // node cannot serve iterators without one.
  static std::string NewSecret();

  // A token for `pos`, stamped with the clock's NowMs(). `pos.stream` must pass
  // ValidateStreamName (checked: callers validate request input first). The result is at most
  // kMaxIteratorTokenLength characters of the standard base64 alphabet.
  std::string Issue(const IteratorPosition& pos) const;

  // The position in `token`, or an invalid / expired status as described above.
  Result<IteratorPosition> Decode(std::string_view token) const;

  int64_t ttl_ms() const { return ttl_ms_; }

 private:
  std::string secret_;
  Clock* const clock_;
  const int64_t ttl_ms_;
};

// Building blocks exposed for tests (OpenSSL stays private to sluice_broker).
namespace iterator_internal {
// Standard alphabet, '=' padding (OpenSSL EVP_EncodeBlock).
std::string Base64Encode(std::string_view bytes);
// Strict inverse of Base64Encode: nullopt unless `text` is exactly what Base64Encode would
// produce for some input (no whitespace, no line breaks, canonical padding bits).
std::optional<std::string> Base64Decode(std::string_view text);
// "Thu Jan 22 01:22:02 UTC 2015" for a Unix-epoch millisecond time (UTC).
std::string FormatKinesisTime(TimestampMs ms);
}  // namespace iterator_internal

}  // namespace sluice::broker
