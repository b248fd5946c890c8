// SPDX-License-Identifier: Apache-2.0
#include "broker/shard_iterator.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string>
#include <utility>

#include "broker/stream_name.h"
#include "log/base/check.h"
#include "log/base/coding.h"

namespace sluice::broker {
namespace {

// Token layout (see the diagram in shard_iterator.h). Each size is its field's width.
constexpr uint8_t kTokenVersion = 1;
constexpr size_t kVersionOffset = 0;
constexpr size_t kIssuedAtOffset = kVersionOffset + sizeof(uint8_t);
constexpr size_t kShardOffset = kIssuedAtOffset + sizeof(int64_t);
constexpr size_t kIncarnationOffset = kShardOffset + sizeof(ShardId::rep_type);
constexpr size_t kOffsetOffset = kIncarnationOffset + sizeof(uint64_t);
constexpr size_t kNameLengthOffset = kOffsetOffset + sizeof(SequenceNumber::rep_type);
constexpr size_t kHeaderSize = kNameLengthOffset + sizeof(uint8_t);  // Name follows.
constexpr size_t kMacSize = 16;  // HMAC-SHA256 truncated to 128 bits.
static_assert(kHeaderSize == 30, "token header layout drifted from the diagram");
static_assert(kMaxStreamNameLength <= UINT8_MAX, "the name length is one byte");

constexpr size_t kMaxTokenBytes = kHeaderSize + kMaxStreamNameLength + kMacSize;
constexpr size_t Base64Length(size_t n) { return 4 * ((n + 2) / 3); }
static_assert(Base64Length(kMaxTokenBytes) <= kMaxIteratorTokenLength,
              "the longest token must fit Kinesis's 512-character ShardIterator");

constexpr std::array<std::string_view, 5> kTypeNames = {
    "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"};

Status Invalid() { return Status::InvalidArgument(kInvalidIteratorMessage); }

const std::byte* At(const std::string& bytes, size_t offset) {
  return reinterpret_cast<const std::byte*>(bytes.data() + offset);
}

// HMAC-SHA256(secret, data) truncated to kMacSize bytes.
std::array<unsigned char, kMacSize> Mac(const std::string& secret, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> full{};
  unsigned int full_len = 0;
  const unsigned char* ok = HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                                 reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                 full.data(), &full_len);
  SLUICE_CHECK(ok != nullptr && full_len >= kMacSize, "HMAC-SHA256 failed");
  std::array<unsigned char, kMacSize> mac{};
  std::copy_n(full.begin(), kMacSize, mac.begin());
  OPENSSL_cleanse(full.data(), full.size());
  return mac;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

std::string_view IteratorTypeName(IteratorType type) {
  return kTypeNames[static_cast<size_t>(type)];
}

Result<IteratorType> ParseIteratorType(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (name == kTypeNames[i]) return static_cast<IteratorType>(i);
  }
  std::string msg = "1 validation error detected: Value '";
  msg.append(name).append(
      "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value "
      "set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]");
  return Status::InvalidArgument(msg);
}

bool IsExpiredIterator(const Status& decode_status) {
  return decode_status.code() == Status::Code::kAborted;
}

bool IsInvalidIterator(const Status& decode_status) {
  return decode_status.code() == Status::Code::kInvalidArgument;
}

IteratorCodec::IteratorCodec(std::string secret, Clock* clock, int64_t ttl_ms)
    : secret_(std::move(secret)), clock_(clock), ttl_ms_(ttl_ms) {
  SLUICE_CHECK(secret_.size() >= kIteratorSecretBytes, "iterator secret shorter than 32 bytes");
  SLUICE_CHECK(clock_ != nullptr, "IteratorCodec needs a clock");
  SLUICE_CHECK(ttl_ms_ > 0, "iterator TTL must be positive");
}

IteratorCodec::~IteratorCodec() { OPENSSL_cleanse(secret_.data(), secret_.size()); }

std::string IteratorCodec::NewSecret() {
  std::string secret(kIteratorSecretBytes, '\0');
  const int rc =
      RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size()));
  SLUICE_CHECK(rc == 1, "RAND_bytes failed: no randomness for the iterator secret");
  return secret;
}

std::string IteratorCodec::Issue(const IteratorPosition& pos) const {
  SLUICE_CHECK(ValidateStreamName(pos.stream).ok(), "Issue() needs a valid stream name");
  std::string bytes(kHeaderSize + pos.stream.size() + kMacSize, '\0');
  auto* p = reinterpret_cast<std::byte*>(bytes.data());
  EncodeFixed<uint8_t>(p + kVersionOffset, kTokenVersion);
  EncodeFixed<int64_t>(p + kIssuedAtOffset, clock_->NowMs());
  EncodeFixed<ShardId::rep_type>(p + kShardOffset, pos.shard.value());
  EncodeFixed<uint64_t>(p + kIncarnationOffset, pos.incarnation);
  EncodeFixed<SequenceNumber::rep_type>(p + kOffsetOffset, pos.offset.value());
  EncodeFixed<uint8_t>(p + kNameLengthOffset, static_cast<uint8_t>(pos.stream.size()));
  bytes.replace(kHeaderSize, pos.stream.size(), pos.stream);
  const size_t signed_len = kHeaderSize + pos.stream.size();
  const auto mac = Mac(secret_, std::string_view(bytes).substr(0, signed_len));
  std::copy(mac.begin(), mac.end(), bytes.begin() + static_cast<ptrdiff_t>(signed_len));
  return iterator_internal::Base64Encode(bytes);
}

Result<IteratorPosition> IteratorCodec::Decode(std::string_view token) const {
  if (token.empty() || token.size() > kMaxIteratorTokenLength) return Invalid();
  std::optional<std::string> decoded = iterator_internal::Base64Decode(token);
  if (!decoded) return Invalid();
  const std::string& bytes = *decoded;
  if (bytes.size() < kHeaderSize + 1 + kMacSize) return Invalid();
  if (DecodeFixed<uint8_t>(At(bytes, kVersionOffset)) != kTokenVersion) return Invalid();
  const size_t name_len = DecodeFixed<uint8_t>(At(bytes, kNameLengthOffset));
  if (name_len == 0 || bytes.size() != kHeaderSize + name_len + kMacSize) return Invalid();

  // Invariant: nothing below trusts a field before the signature over all of them checks out,
  // so a flipped issue time reads as invalid, never as expired.
  const size_t signed_len = kHeaderSize + name_len;
  const auto mac = Mac(secret_, std::string_view(bytes).substr(0, signed_len));
  if (CRYPTO_memcmp(mac.data(), bytes.data() + signed_len, kMacSize) != 0) return Invalid();

  IteratorPosition pos;
  pos.stream = bytes.substr(kHeaderSize, name_len);
  pos.shard = ShardId(DecodeFixed<ShardId::rep_type>(At(bytes, kShardOffset)));
  pos.incarnation = DecodeFixed<uint64_t>(At(bytes, kIncarnationOffset));
  pos.offset = SequenceNumber(DecodeFixed<SequenceNumber::rep_type>(At(bytes, kOffsetOffset)));
  if (!ValidateStreamName(pos.stream).ok()) return Invalid();  // Only a leaked secret gets here.

  const int64_t issued_at = DecodeFixed<int64_t>(At(bytes, kIssuedAtOffset));
  const int64_t now = clock_->NowMs();
  int64_t age = 0;
  if (__builtin_sub_overflow(now, issued_at, &age)) return Invalid();
  if (age < -kIteratorMaxFutureSkewMs) return Invalid();
  if (age > ttl_ms_) {
    std::string msg = "Iterator expired. The iterator was created at time ";
    msg.append(iterator_internal::FormatKinesisTime(issued_at));
    msg.append(" while right now it is ").append(iterator_internal::FormatKinesisTime(now));
    msg.append(" which is further in the future than the tolerated delay of ");
    msg.append(std::to_string(ttl_ms_)).append(" milliseconds.");
    return Status::Aborted(msg);
  }
  return pos;
}

namespace iterator_internal {

std::string Base64Encode(std::string_view bytes) {
  SLUICE_CHECK(bytes.size() <= (1u << 30), "Base64Encode input too large");
  std::string out(Base64Length(bytes.size()) + 1, '\0');  // EVP_EncodeBlock writes a NUL.
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > (1u << 30)) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  for (size_t i = 0; i < text.size() - padding; ++i) {
    if (!IsBase64Char(text[i])) return std::nullopt;
  }
  // EVP_DecodeBlock skips surrounding whitespace and decodes pad characters as zero bytes;
  // the checks above and the round trip below make it strict.
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  if (Base64Encode(out) != text) return std::nullopt;  // Non-zero bits under the padding.
  return out;
}

std::string FormatKinesisTime(TimestampMs ms) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Floor division: -1 ms is 23:59:59 on 31 Dec 1969, not 00:00:00.
  const std::time_t secs = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(ms) + " ms";
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%s %s %02d %02d:%02d:%02d UTC %d", kDays[tm.tm_wday],
                kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                tm.tm_year + 1900);
  return std::string(buf.data());
}

}  // namespace iterator_internal

}  // namespace sluice::broker
