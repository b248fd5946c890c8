// SPDX-License-Identifier: Apache-2.0
#include "broker/native_protocol.h"

#include <utility>

#include "broker/native_wire.h"

namespace sluice::broker::native {

std::string EncodeBody(const Hello& m) {
  BodyWriter w;
  w.Fixed<uint8_t>(m.min_version);
  w.Fixed<uint8_t>(m.max_version);
  w.String(m.client_id);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, Hello* out) {
  BodyReader r(body);
  out->min_version = r.Fixed<uint8_t>();
  out->max_version = r.Fixed<uint8_t>();
  out->client_id = r.String(kMaxNameBytes);
  if (r.ok() && out->min_version > out->max_version) r.Invalid("min_version > max_version");
  return r.Finish("Hello");
}

std::string EncodeBody(const HelloResponse& m) {
  BodyWriter w;
  w.Fixed<uint8_t>(m.version);
  w.Fixed<uint32_t>(m.max_frame_bytes);
  w.String(m.server_id);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, HelloResponse* out) {
  BodyReader r(body);
  out->version = r.Fixed<uint8_t>();
  out->max_frame_bytes = r.Fixed<uint32_t>();
  out->server_id = r.String(kMaxNameBytes);
  if (r.ok() && out->max_frame_bytes < kFrameHeaderSize) r.Invalid("max_frame_bytes too small");
  return r.Finish("HelloResponse");
}

std::string EncodeBody(const ErrorResponse& m) {
  BodyWriter w;
  w.Fixed<uint16_t>(static_cast<uint16_t>(m.code));
  w.Fixed<uint8_t>(m.max_version);
  w.String(m.message);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, ErrorResponse* out) {
  BodyReader r(body);
  const uint16_t code = r.Fixed<uint16_t>();
  out->max_version = r.Fixed<uint8_t>();
  out->message = r.String(kMaxMessageBytes);
  if (r.ok() && (code == 0 || !IsKnownErrorCode(code))) r.Invalid("unknown error code");
  out->code = static_cast<ErrorCode>(code);
  return r.Finish("Error");
}

std::string EncodeBody(const Ack&) { return {}; }
Status DecodeBody(std::string_view body, Ack*) { return BodyReader(body).Finish("Ack"); }

std::string EncodeBody(const CreateStreamRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_count);
  w.Varint(m.retention_hours);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, CreateStreamRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_count = r.Varint32();
  out->retention_hours = r.Varint32();
  return r.Finish("CreateStream");
}

std::string EncodeBody(const DeleteStreamRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, DeleteStreamRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  return r.Finish("DeleteStream");
}

std::string EncodeBody(const ListStreamsRequest& m) {
  BodyWriter w;
  w.String(m.exclusive_start);
  w.Varint(m.limit);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, ListStreamsRequest* out) {
  BodyReader r(body);
  out->exclusive_start = r.String(kMaxNameBytes);
  out->limit = r.Varint32();
  return r.Finish("ListStreams");
}

std::string EncodeBody(const ListStreamsResponse& m) {
  BodyWriter w;
  w.Varint(m.streams.size());
  for (const std::string& s : m.streams) w.String(s);
  w.Bool(m.has_more);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, ListStreamsResponse* out) {
  BodyReader r(body);
  const size_t n = r.Count(1);
  out->streams.clear();
  out->streams.reserve(n);
  for (size_t i = 0; i < n && r.ok(); ++i) out->streams.emplace_back(r.String(kMaxNameBytes));
  out->has_more = r.Bool();
  return r.Finish("ListStreamsResponse");
}

std::string EncodeBody(const DescribeStreamRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, DescribeStreamRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  return r.Finish("DescribeStream");
}

std::string EncodeBody(const DescribeStreamResponse& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Fixed<uint8_t>(static_cast<uint8_t>(m.status));
  w.Varint(m.retention_hours);
  w.Varint(m.shards.size());
  for (const ShardDescription& s : m.shards) {
    w.Varint(s.shard_id);
    w.Varint(s.parent_shards.size());
    for (uint32_t p : s.parent_shards) w.Varint(p);
    w.String(s.starting_hash_key);
    w.String(s.ending_hash_key);
    w.String(s.starting_sequence);
    w.String(s.ending_sequence);
  }
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, DescribeStreamResponse* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  const uint8_t status = r.Fixed<uint8_t>();
  if (status > static_cast<uint8_t>(StreamStatus::kUpdating)) r.Invalid("unknown stream status");
  out->status = static_cast<StreamStatus>(status);
  out->retention_hours = r.Varint32();
  const size_t n = r.Count(6);  // The smallest shard: six one-byte fields.
  out->shards.clear();
  out->shards.reserve(n);
  for (size_t i = 0; i < n && r.ok(); ++i) {
    ShardDescription& s = out->shards.emplace_back();
    s.shard_id = r.Varint32();
    const size_t parents = r.Count(1);
    if (parents > 2) r.Invalid("more than two parent shards");
    for (size_t p = 0; p < parents && r.ok(); ++p) s.parent_shards.push_back(r.Varint32());
    s.starting_hash_key = r.String(kMaxNameBytes);
    s.ending_hash_key = r.String(kMaxNameBytes);
    s.starting_sequence = r.String(kMaxNameBytes);
    s.ending_sequence = r.String(kMaxNameBytes);
  }
  return r.Finish("DescribeStreamResponse");
}

std::string EncodeBody(const SplitShardRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_id);
  w.String(m.new_starting_hash_key);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, SplitShardRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_id = r.Varint32();
  out->new_starting_hash_key = r.String(kMaxHashKeyDigits);
  return r.Finish("SplitShard");
}

std::string EncodeBody(const MergeShardsRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_id);
  w.Varint(m.adjacent_shard_id);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, MergeShardsRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_id = r.Varint32();
  out->adjacent_shard_id = r.Varint32();
  return r.Finish("MergeShards");
}

std::string EncodeBody(const UpdateShardCountRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.target_shard_count);
  return std::move(w).Finish();
}
Status DecodeBody(std::string_view body, UpdateShardCountRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->target_shard_count = r.Varint32();
  return r.Finish("UpdateShardCount");
}

}  // namespace sluice::broker::native
