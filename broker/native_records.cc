// SPDX-License-Identifier: Apache-2.0
#include "broker/native_records.h"

#include <utility>

#include "broker/native_wire.h"
#include "log/format.h"
#include "log/record_batch.h"

namespace sluice::broker::native {
namespace {

void EncodePosition(BodyWriter* w, const StartingPosition& p) {
  w->Fixed<uint8_t>(static_cast<uint8_t>(p.type));
  w->String(p.sequence);
  w->Varint(ZigZagEncode(p.timestamp_ms));
}
void DecodePosition(BodyReader* r, StartingPosition* p) {
  const uint8_t type = r->Fixed<uint8_t>();
  if (type > static_cast<uint8_t>(StartingPosition::Type::kAtTimestamp)) {
    r->Invalid("unknown starting position type");
  }
  p->type = static_cast<StartingPosition::Type>(type);
  p->sequence = r->String(kMaxNameBytes);
  p->timestamp_ms = ZigZagDecode(r->Varint());
}

}  // namespace

std::string EncodeBody(const ProduceRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Fixed<uint8_t>(static_cast<uint8_t>(m.selector.kind));
  if (m.selector.kind == ShardSelector::Kind::kShardId) {
    w.Varint(m.selector.shard_id);
  } else {
    w.String(m.selector.partition_key);
    w.String(m.selector.explicit_hash_key);
  }
  w.Bool(m.producer.has_value());
  if (m.producer) {
    w.Varint(m.producer->producer_id);
    w.Varint(m.producer->sequence);
  }
  w.Varint(m.batches.size());
  for (const std::string& b : m.batches) w.String(b);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, ProduceRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->selector = ShardSelector();
  const uint8_t kind = r.Fixed<uint8_t>();
  if (kind == static_cast<uint8_t>(ShardSelector::Kind::kShardId)) {
    out->selector.shard_id = r.Varint32();
  } else if (kind == static_cast<uint8_t>(ShardSelector::Kind::kPartitionKey)) {
    out->selector.kind = ShardSelector::Kind::kPartitionKey;
    out->selector.partition_key = r.String(kMaxNameBytes);
    out->selector.explicit_hash_key = r.String(kMaxHashKeyDigits);
    if (r.ok() && out->selector.partition_key.empty()) r.Invalid("empty partition key");
  } else {
    r.Invalid("unknown shard selector kind");
  }
  out->producer.reset();
  if (r.Bool()) out->producer = ProducerStamp{r.Varint(), r.Varint()};
  // Every batch blob is a one-byte-or-more length plus more than a batch header.
  const size_t n = r.Count(1 + log::format::kBatchHeaderSize);
  if (r.ok() && n == 0) r.Invalid("Produce carries no batch");
  out->batches.clear();
  out->batches.reserve(n);
  for (size_t i = 0; i < n && r.ok(); ++i) {
    std::string_view blob = r.String(log::format::kMaxBatchBytes);
    if (!r.ok()) break;
    Result<log::RecordBatchView> view = log::RecordBatchView::Parse(log::AsBytes(blob));
    if (!view.ok()) {
      return view.status().WithContext("Produce batch " + std::to_string(i));
    }
    if (view->header().length != blob.size()) r.Invalid("batch blob size != batch length");
    out->batches.emplace_back(blob);
  }
  return r.Finish("Produce");
}

std::string EncodeBody(const ProduceResponse& m) {
  BodyWriter w;
  w.Varint(m.results.size());
  for (const ProduceResult& p : m.results) {
    w.Fixed<uint16_t>(static_cast<uint16_t>(p.code));
    w.Varint(p.shard_id);
    w.String(p.first_sequence);
    w.String(p.last_sequence);
    w.String(p.message);
  }
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, ProduceResponse* out) {
  BodyReader r(body);
  const size_t n = r.Count(6);  // code u16 + four one-byte varints.
  out->results.clear();
  out->results.reserve(n);
  for (size_t i = 0; i < n && r.ok(); ++i) {
    ProduceResult& p = out->results.emplace_back();
    const uint16_t code = r.Fixed<uint16_t>();
    if (!IsKnownErrorCode(code)) r.Invalid("unknown error code");
    p.code = static_cast<ErrorCode>(code);
    p.shard_id = r.Varint32();
    p.first_sequence = r.String(kMaxNameBytes);
    p.last_sequence = r.String(kMaxNameBytes);
    p.message = r.String(kMaxMessageBytes);
  }
  return r.Finish("ProduceResponse");
}

std::string EncodeBody(const FetchRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_id);
  w.Fixed<uint8_t>(static_cast<uint8_t>(m.from));
  if (m.from == FetchRequest::From::kIterator) {
    w.String(m.iterator);
  } else {
    w.Varint(m.offset);
  }
  w.Varint(m.max_bytes);
  w.Varint(m.max_wait_ms);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, FetchRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_id = r.Varint32();
  const uint8_t from = r.Fixed<uint8_t>();
  out->iterator.clear();
  out->offset = 0;
  if (from == static_cast<uint8_t>(FetchRequest::From::kIterator)) {
    out->from = FetchRequest::From::kIterator;
    out->iterator = r.String(kMaxMessageBytes);
  } else if (from == static_cast<uint8_t>(FetchRequest::From::kOffset)) {
    out->from = FetchRequest::From::kOffset;
    out->offset = r.Varint();
  } else {
    r.Invalid("unknown fetch position kind");
  }
  out->max_bytes = r.Varint32();
  out->max_wait_ms = r.Varint32();
  return r.Finish("Fetch");
}

std::string EncodeBody(const FetchResponse& m) {
  BodyWriter w;
  w.String(m.batches);
  w.String(m.next_iterator);
  w.Varint(m.millis_behind_latest);
  w.Varint(m.child_shards.size());
  for (uint32_t c : m.child_shards) w.Varint(c);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, FetchResponse* out) {
  BodyReader r(body);
  out->batches = r.String();
  out->next_iterator = r.String(kMaxMessageBytes);
  out->millis_behind_latest = r.Varint();
  const size_t n = r.Count(1);
  if (n > 2) r.Invalid("more than two child shards");
  out->child_shards.clear();
  for (size_t i = 0; i < n && r.ok(); ++i) out->child_shards.push_back(r.Varint32());
  return r.Finish("FetchResponse");
}

Status ValidateBatches(std::string_view batches) {
  std::span<const std::byte> rest = log::AsBytes(batches);
  while (!rest.empty()) {
    SLUICE_ASSIGN_OR_RETURN(log::RecordBatchView view, log::RecordBatchView::Parse(rest));
    rest = rest.subspan(view.header().length);
  }
  return Status::OK();
}

std::string EncodeBody(const GetShardIteratorRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_id);
  EncodePosition(&w, m.position);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, GetShardIteratorRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_id = r.Varint32();
  DecodePosition(&r, &out->position);
  return r.Finish("GetShardIterator");
}

std::string EncodeBody(const GetShardIteratorResponse& m) {
  BodyWriter w;
  w.String(m.iterator);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, GetShardIteratorResponse* out) {
  BodyReader r(body);
  out->iterator = r.String(kMaxMessageBytes);
  return r.Finish("GetShardIteratorResponse");
}

std::string EncodeBody(const SubscribeRequest& m) {
  BodyWriter w;
  w.String(m.stream);
  w.Varint(m.shard_id);
  EncodePosition(&w, m.position);
  w.Varint(m.max_bytes_per_push);
  return std::move(w).Finish();
}

Status DecodeBody(std::string_view body, SubscribeRequest* out) {
  BodyReader r(body);
  out->stream = r.String(kMaxNameBytes);
  out->shard_id = r.Varint32();
  DecodePosition(&r, &out->position);
  out->max_bytes_per_push = r.Varint32();
  return r.Finish("Subscribe");
}

}  // namespace sluice::broker::native
