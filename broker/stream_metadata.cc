// SPDX-License-Identifier: Apache-2.0
#include "broker/stream_metadata.h"

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include "log/base/checksum.h"
#include "log/base/coding.h"

namespace sluice::broker {

namespace {

constexpr std::array<std::string_view, 4> kStatusNames = {"CREATING", "ACTIVE", "UPDATING",
                                                          "DELETING"};
constexpr std::array<std::string_view, 2> kModeNames = {"PROVISIONED", "ON_DEMAND"};

constexpr uint8_t kHasParent = 1;
constexpr uint8_t kHasAdjacentParent = 2;
constexpr uint8_t kClosed = 4;
constexpr uint8_t kKnownShardFlags = kHasParent | kHasAdjacentParent | kClosed;
// id + start + end + flags + generation + starting_offset: a shard without optional fields.
constexpr size_t kMinShardBytes = 4 + 16 + 16 + 1 + 4 + 8;

std::span<const std::byte> AsBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

template <typename T>
void PutFixed(std::string* out, T v) {
  std::byte buf[sizeof(T)];
  EncodeFixed<T>(buf, v);
  out->append(reinterpret_cast<const char*>(buf), sizeof(T));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s);
}

void PutHashKey(std::string* out, HashKey k) {
  PutFixed<uint64_t>(out, k.hi());
  PutFixed<uint64_t>(out, k.lo());
}

// Reads a payload front to back. Every getter returns false (and reads nothing more) once the
// bytes run out; the caller turns that into one Corruption.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : in_(AsBytes(payload)) {}

  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    *v = DecodeFixed<T>(in_.data());
    in_ = in_.subspan(sizeof(T));
    return true;
  }
  bool Varint(uint64_t* v) {
    std::optional<uint64_t> got = GetVarint64(&in_);
    if (!got) return false;
    *v = *got;
    return true;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(reinterpret_cast<const char*>(in_.data()), n);
    in_ = in_.subspan(n);
    return true;
  }
  bool Key(HashKey* k) {
    uint64_t hi = 0, lo = 0;
    if (!Fixed(&hi) || !Fixed(&lo)) return false;
    *k = HashKey::FromParts(hi, lo);
    return true;
  }
  bool Done() const { return in_.empty(); }
  size_t Remaining() const { return in_.size(); }

 private:
  std::span<const std::byte> in_;
};

Status Corrupt(std::string_view what) {
  return Status::Corruption(std::string("stream metadata: ").append(what));
}

void EncodeShard(std::string* out, const ShardMetadata& s) {
  PutFixed<uint32_t>(out, s.id.value());
  PutHashKey(out, s.range.start);
  PutHashKey(out, s.range.end);
  const uint8_t flags = (s.parent ? kHasParent : 0) | (s.adjacent_parent ? kHasAdjacentParent : 0) |
                        (s.ending_offset ? kClosed : 0);
  PutFixed<uint8_t>(out, flags);
  if (s.parent) PutFixed<uint32_t>(out, s.parent->value());
  if (s.adjacent_parent) PutFixed<uint32_t>(out, s.adjacent_parent->value());
  PutFixed<uint32_t>(out, s.generation.value());
  PutFixed<uint64_t>(out, s.starting_offset.value());
  if (s.ending_offset) PutFixed<uint64_t>(out, s.ending_offset->value());
}

Status DecodeShard(PayloadReader* in, ShardMetadata* s) {
  uint32_t id = 0, generation = 0;
  uint8_t flags = 0;
  uint64_t start = 0;
  if (!in->Fixed(&id) || !in->Key(&s->range.start) || !in->Key(&s->range.end) ||
      !in->Fixed(&flags)) {
    return Corrupt("truncated shard");
  }
  if ((flags & ~kKnownShardFlags) != 0) return Corrupt("unknown shard flags");
  if (s->range.start > s->range.end) return Corrupt("shard hash-key range start > end");
  s->id = ShardId(id);
  uint32_t parent = 0;
  if (flags & kHasParent) {
    if (!in->Fixed(&parent)) return Corrupt("truncated shard parent");
    s->parent = ShardId(parent);
  }
  if (flags & kHasAdjacentParent) {
    if (!in->Fixed(&parent)) return Corrupt("truncated shard adjacent parent");
    s->adjacent_parent = ShardId(parent);
  }
  if (!in->Fixed(&generation) || !in->Fixed(&start)) return Corrupt("truncated shard");
  if (ShardGeneration(generation) > kMaxShardGeneration) return Corrupt("shard generation");
  s->generation = ShardGeneration(generation);
  s->starting_offset = SequenceNumber(start);
  if (flags & kClosed) {
    uint64_t end = 0;
    if (!in->Fixed(&end)) return Corrupt("truncated shard ending offset");
    s->ending_offset = SequenceNumber(end);
  }
  return Status::OK();
}

}  // namespace

std::string_view StreamStatusName(StreamStatus status) {
  return kStatusNames[static_cast<size_t>(status)];
}
std::optional<StreamStatus> ParseStreamStatus(std::string_view name) {
  auto it = std::find(kStatusNames.begin(), kStatusNames.end(), name);
  if (it == kStatusNames.end()) return std::nullopt;
  return static_cast<StreamStatus>(it - kStatusNames.begin());
}
std::string_view StreamModeName(StreamMode mode) { return kModeNames[static_cast<size_t>(mode)]; }
std::optional<StreamMode> ParseStreamMode(std::string_view name) {
  auto it = std::find(kModeNames.begin(), kModeNames.end(), name);
  if (it == kModeNames.end()) return std::nullopt;
  return static_cast<StreamMode>(it - kModeNames.begin());
}

const ShardMetadata* StreamMetadata::FindShard(ShardId shard) const {
  auto it = std::find_if(shards.begin(), shards.end(),
                         [shard](const ShardMetadata& s) { return s.id == shard; });
  return it == shards.end() ? nullptr : &*it;
}
ShardMetadata* StreamMetadata::FindShard(ShardId shard) {
  return const_cast<ShardMetadata*>(std::as_const(*this).FindShard(shard));
}

StreamMetadata NewStreamMetadata(std::string name, StreamId id, uint32_t shard_count,
                                 TimestampMs now_ms) {
  StreamMetadata meta;
  meta.name = std::move(name);
  meta.id = id;
  meta.creation_time_ms = now_ms;
  const std::vector<HashKeyRange> ranges = EvenSplit(shard_count);
  for (uint32_t i = 0; i < shard_count; ++i) {
    meta.shards.push_back(ShardMetadata{.id = ShardId(i), .range = ranges[i]});
  }
  meta.next_shard_id = ShardId(shard_count);
  return meta;
}

std::string FrameImage(uint32_t magic, uint16_t version, std::string_view payload) {
  std::string out;
  out.reserve(kFrameOverhead + payload.size());
  PutFixed<uint32_t>(&out, magic);
  PutFixed<uint16_t>(&out, version);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
  PutFixed<uint64_t>(&out, Checksum(AsBytes(out)));
  return out;
}

Result<std::string_view> UnframeImage(std::string_view image, uint32_t magic, uint16_t version,
                                      std::string_view what) {
  auto corrupt = [what](std::string_view why) {
    return Status::Corruption(std::string(what).append(": ").append(why));
  };
  if (image.size() < kFrameOverhead) return corrupt("image shorter than its frame");
  const auto* bytes = reinterpret_cast<const std::byte*>(image.data());
  if (DecodeFixed<uint32_t>(bytes) != magic) return corrupt("bad magic");
  const uint32_t length = DecodeFixed<uint32_t>(bytes + 6);
  if (length != image.size() - kFrameOverhead) return corrupt("length does not match the image");
  const size_t body = kFrameHeaderSize + length;
  if (Checksum(AsBytes(image.substr(0, body))) != DecodeFixed<uint64_t>(bytes + body)) {
    return corrupt("checksum mismatch");
  }
  const uint16_t got_version = DecodeFixed<uint16_t>(bytes + 4);
  if (got_version != version) {
    return Status::NotSupported(std::string(what).append(": unsupported version ") +
                                std::to_string(got_version));
  }
  return image.substr(kFrameHeaderSize, length);
}

std::string EncodeStreamMetadata(const StreamMetadata& meta) {
  std::string p;
  PutString(&p, meta.name);
  PutFixed<uint64_t>(&p, meta.id.value());
  PutFixed<int64_t>(&p, meta.creation_time_ms);
  PutFixed<int32_t>(&p, meta.retention_hours);
  PutFixed<uint8_t>(&p, static_cast<uint8_t>(meta.status));
  PutFixed<uint8_t>(&p, static_cast<uint8_t>(meta.mode));
  PutFixed<uint32_t>(&p, meta.next_shard_id.value());
  PutString(&p, meta.encryption_type);
  PutString(&p, meta.key_id);
  PutVarint64(&p, meta.tags.size());
  for (const auto& [key, value] : meta.tags) {
    PutString(&p, key);
    PutString(&p, value);
  }
  PutVarint64(&p, meta.shards.size());
  for (const ShardMetadata& s : meta.shards) EncodeShard(&p, s);
  return FrameImage(kStreamImageMagic, kStreamImageVersion, p);
}

Result<StreamMetadata> DecodeStreamMetadata(std::string_view image) {
  SLUICE_ASSIGN_OR_RETURN(
      std::string_view payload,
      UnframeImage(image, kStreamImageMagic, kStreamImageVersion, "stream metadata"));
  PayloadReader in(payload);
  StreamMetadata meta;
  uint64_t id = 0;
  uint8_t status = 0, mode = 0;
  uint32_t next_shard = 0;
  if (!in.String(&meta.name) || !in.Fixed(&id) || !in.Fixed(&meta.creation_time_ms) ||
      !in.Fixed(&meta.retention_hours) || !in.Fixed(&status) || !in.Fixed(&mode) ||
      !in.Fixed(&next_shard) || !in.String(&meta.encryption_type) || !in.String(&meta.key_id)) {
    return Corrupt("truncated stream fields");
  }
  if (status >= kStatusNames.size()) return Corrupt("unknown stream status");
  if (mode >= kModeNames.size()) return Corrupt("unknown stream mode");
  meta.id = StreamId(id);
  meta.status = static_cast<StreamStatus>(status);
  meta.mode = static_cast<StreamMode>(mode);
  meta.next_shard_id = ShardId(next_shard);
  uint64_t count = 0;
  if (!in.Varint(&count)) return Corrupt("truncated tag count");
  for (uint64_t i = 0; i < count; ++i) {
    std::string key, value;
    if (!in.String(&key) || !in.String(&value)) return Corrupt("truncated tag");
    if (!meta.tags.emplace(std::move(key), std::move(value)).second) {
      return Corrupt("duplicate tag key");
    }
  }
  if (!in.Varint(&count)) return Corrupt("truncated shard count");
  // A count the remaining bytes cannot hold is damage, not a reason to reserve gigabytes.
  if (count > in.Remaining() / kMinShardBytes) return Corrupt("shard count exceeds the payload");
  meta.shards.resize(count);
  for (ShardMetadata& s : meta.shards) SLUICE_TRY(DecodeShard(&in, &s));
  if (!in.Done()) return Corrupt("trailing bytes after the shards");
  return meta;
}

}  // namespace sluice::broker
