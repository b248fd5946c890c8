// SPDX-License-Identifier: Apache-2.0
// What the integration tests share on top of the raw blocking TestClient
// (tests/broker/native_test_client.h): batches of chosen records, one request/answer exchange
// that accepts Error frames, reading a whole shard back by iterator, and an HTTP GET.
#pragma once

#include <arpa/inet.h>
#include <cstdint>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker/native_records.h"
#include "broker/sequence_number.h"
#include "log/record_batch.h"
#include "tests/broker/native_test_client.h"

namespace sluice::integration {

using broker::testing::TestClient;
namespace native = broker::native;

// One record as read back from a shard.
struct StoredRecord {
  uint32_t shard = 0;
  uint64_t offset = 0;
  uint64_t batch_base = 0;  // Base offset of the batch that holds it.
  uint64_t producer_id = 0;
  uint64_t producer_seq = 0;
  std::string key;
  std::string value;
};

// One batch of `records` (key, value), stamped for producer `stamp` when given.
inline std::string BuildBatch(const std::vector<std::pair<std::string, std::string>>& records,
                              std::optional<native::ProducerStamp> stamp = std::nullopt) {
  log::RecordBatchBuilder b;
  if (stamp) b.SetProducer(ProducerId(stamp->producer_id), stamp->sequence);
  for (const auto& [key, value] : records) b.Add(key, value, 0);
  Result<std::string> batch = b.Finish();
  EXPECT_TRUE(batch.ok()) << batch.status().ToString();
  return batch.ok() ? *batch : std::string();
}

// The answer to one request: `response` (type R) or `error` (an Error frame); neither when the
// connection closed or the answer did not come in time.
template <typename R>
struct Answer {
  std::optional<R> response;
  std::optional<native::ErrorResponse> error;
  bool ok() const { return response.has_value(); }
};

// Decodes `frame` as R or as an Error frame; anything else fails the test.
template <typename R>
Answer<R> DecodeAnswer(const native::Frame& frame) {
  Answer<R> out;
  if (frame.header.type == native::FrameType::kError) {
    native::ErrorResponse e;
    EXPECT_TRUE(native::DecodeBody(frame.body, &e).ok());
    out.error = std::move(e);
    return out;
  }
  Result<R> r = native::DecodeMessage<R>(frame);
  EXPECT_TRUE(r.ok()) << "frame type " << static_cast<int>(frame.header.type) << ": "
                      << r.status().ToString();
  if (r.ok()) out.response = std::move(*r);
  return out;
}

// Sends `m` with a fresh correlation id and waits (bounded) for its answer.
template <typename R, typename M>
Answer<R> Exchange(TestClient& c, const M& m, int timeout_ms = 10'000) {
  const uint64_t corr = c.NextCorrelation();
  c.Send(native::EncodeMessage(m, corr));
  std::optional<native::Frame> f = c.Recv(timeout_ms);
  if (!f) return {};
  EXPECT_EQ(f->header.correlation_id, corr);
  return DecodeAnswer<R>(*f);
}

// The parts of a sequence number the daemon issued; fails the test when malformed.
inline broker::SequenceNumberParts Seq(std::string_view text) {
  Result<broker::SequenceNumberParts> p = broker::ParseSequenceNumber(text);
  EXPECT_TRUE(p.ok()) << "'" << text << "': " << p.status().ToString();
  return p.ok() ? *p : broker::SequenceNumberParts{};
}

// Appends the records of `batches` (whole stored batches, as a Fetch returns them).
inline void AppendRecords(uint32_t shard, std::string_view batches,
                          std::vector<StoredRecord>* out) {
  ASSERT_TRUE(native::ValidateBatches(batches).ok());
  std::string scratch;
  while (!batches.empty()) {
    Result<log::RecordBatchView> view = log::RecordBatchView::Parse(log::AsBytes(batches));
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    const log::BatchHeader& h = view->header();
    Result<std::vector<log::Record>> records = view->DecodeRecords(&scratch);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    for (const log::Record& r : *records) {
      out->push_back(StoredRecord{shard, r.offset.value(), h.base_offset.value(),
                                  h.producer_id.value(), h.producer_seq, std::string(r.key),
                                  std::string(r.value)});
    }
    batches.remove_prefix(h.length);
  }
}

struct ShardContents {
  std::vector<StoredRecord> records;
  bool closed = false;                 // The last Fetch had no next iterator.
  std::vector<uint32_t> child_shards;  // That last Fetch's children (closed shards only).
};

// Every record of shard `shard`, from GetShardIterator(TRIM_HORIZON) and a Fetch loop of
// `max_bytes` per Fetch: an open shard is read until a Fetch returns no batch, a closed one
// until a Fetch returns no next iterator. Fails the test on any error.
inline ShardContents ReadShard(TestClient& c, const std::string& stream, uint32_t shard,
                               uint32_t max_bytes = 64u << 10) {
  ShardContents out;
  native::GetShardIteratorRequest gi{stream, shard, {}};
  Answer<native::GetShardIteratorResponse> it = Exchange<native::GetShardIteratorResponse>(c, gi);
  EXPECT_TRUE(it.ok()) << (it.error ? it.error->message : "no answer");
  if (!it.ok()) return out;
  native::FetchRequest f;
  f.stream = stream;
  f.shard_id = shard;
  f.iterator = it.response->iterator;
  f.max_bytes = max_bytes;
  // Bounded: every round but the last returns at least one record.
  for (int round = 0; round < 1'000'000; ++round) {
    Answer<native::FetchResponse> r = Exchange<native::FetchResponse>(c, f);
    EXPECT_TRUE(r.ok()) << "shard " << shard << ": " << (r.error ? r.error->message : "no answer");
    if (!r.ok()) return out;
    const size_t before = out.records.size();
    AppendRecords(shard, r.response->batches, &out.records);
    if (r.response->next_iterator.empty()) {
      out.closed = true;
      out.child_shards = r.response->child_shards;
      return out;
    }
    if (out.records.size() == before) return out;
    f.iterator = r.response->next_iterator;
  }
  ADD_FAILURE() << "shard " << shard << " never ended";
  return out;
}

// GET `path` from 127.0.0.1:`port` over a plain socket (5 s timeouts): the whole response,
// head and body; empty on failure.
inline std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace sluice::integration
