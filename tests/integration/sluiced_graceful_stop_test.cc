// SPDX-License-Identifier: Apache-2.0
// SIGTERM with requests in flight: every request the daemon read is answered (long polls
// included, at once), the process exits 0 with `event=stopped`, and what it acknowledged is
// there after a restart. Before that, /metrics counts the records appended per stream.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

constexpr int kPipelined = 100;  // Produce requests per writer, sent in one write.

// Sum of the samples of `metric` whose labels start with `labels` in a text exposition.
uint64_t SumOf(const std::string& exposition, const std::string& metric,
               const std::string& labels) {
  std::istringstream in(exposition);
  uint64_t sum = 0;
  const std::string prefix = metric + "{" + labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) continue;
    sum += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class SluicedGracefulStopTest : public ::testing::Test {
 protected:
  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedGracefulStopTest, InFlightRequestsAreAnsweredAndMetricsCountRecords) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient admin(daemon_.native_port());
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(Exchange<native::Ack>(admin, native::CreateStreamRequest{"graceful", 2, 24}).ok());
  ASSERT_TRUE(Exchange<native::Ack>(admin, native::CreateStreamRequest{"idle", 1, 24}).ok());
  std::set<std::string> acked;
  int produced = 0;
  for (int i = 0; i < 10; ++i) {
    native::ProduceRequest p;
    p.stream = "graceful";
    p.selector.shard_id = static_cast<uint32_t>(i % 2);
    const std::string v = "warm-" + std::to_string(i) + "-";
    p.batches = {BuildBatch({{"k", v + "0"}, {"k", v + "1"}, {"k", v + "2"}})};
    auto a = Exchange<native::ProduceResponse>(admin, p);
    ASSERT_TRUE(a.ok() && a.response->results[0].code == native::ErrorCode::kOk);
    for (const char* r : {"0", "1", "2"}) acked.insert(v + r);
    produced += 3;
  }

  // /metrics over plain HTTP counts what was appended, per stream and shard.
  const std::string metrics = HttpGet(daemon_.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.starts_with("HTTP/1.1 200")) << metrics.substr(0, 200);
  EXPECT_NE(metrics.find("sluice_records_in_total{stream=\"graceful\",shard=\"0\"} 15"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(SumOf(metrics, "sluice_records_in_total", "stream=\"graceful\""),
            static_cast<uint64_t>(produced));
  EXPECT_EQ(SumOf(metrics, "sluice_records_in_total", "stream=\"idle\""), 0u);

  // In flight at SIGTERM: a long poll on an idle shard, and two writers' pipelined Produces.
  TestClient poller(daemon_.native_port());
  ASSERT_TRUE(poller.ok());
  native::FetchRequest wait;
  wait.stream = "idle";
  wait.from = native::FetchRequest::From::kOffset;
  wait.max_wait_ms = 30'000;
  const uint64_t poll_corr = poller.NextCorrelation();
  poller.Send(native::EncodeMessage(wait, poll_corr));

  std::vector<std::unique_ptr<TestClient>> writers;
  std::vector<std::map<uint64_t, std::vector<std::string>>> pending(2);
  for (int w = 0; w < 2; ++w) {
    writers.push_back(std::make_unique<TestClient>(daemon_.native_port()));
    ASSERT_TRUE(writers[w]->ok());
    std::string all;  // One write, so the daemon reads every request in one go.
    for (int i = 0; i < kPipelined; ++i) {
      native::ProduceRequest p;
      p.stream = "graceful";
      p.selector.shard_id = static_cast<uint32_t>(i % 2);
      const std::string v = "w" + std::to_string(w) + "-" + std::to_string(i) + "-";
      p.batches = {BuildBatch({{"k", v + "0"}, {"k", v + "1"}})};
      const uint64_t corr = writers[w]->NextCorrelation();
      pending[w][corr] = {v + "0", v + "1"};
      all += native::EncodeMessage(p, corr);
    }
    writers[w]->Send(all);
  }
  // Once each writer has its first answer, the daemon has read all of its requests.
  std::vector<std::optional<native::Frame>> first(2);
  for (int w = 0; w < 2; ++w) {
    first[w] = writers[w]->Recv();
    ASSERT_TRUE(first[w].has_value()) << "writer " << w;
  }
  const auto sigterm_at = std::chrono::steady_clock::now();
  daemon_.Signal(SIGTERM);

  auto poll_answer = poller.Recv(10'000);
  ASSERT_TRUE(poll_answer.has_value()) << "the long poll was not answered at stop";
  EXPECT_LT(std::chrono::steady_clock::now() - sigterm_at, std::chrono::seconds(5));
  EXPECT_EQ(poll_answer->header.correlation_id, poll_corr);
  auto polled = DecodeAnswer<native::FetchResponse>(*poll_answer);
  ASSERT_TRUE(polled.ok()) << (polled.error ? polled.error->message : "");
  EXPECT_TRUE(polled.response->batches.empty());
  EXPECT_FALSE(poller.Recv(10'000).has_value());
  EXPECT_TRUE(poller.closed());

  for (int w = 0; w < 2; ++w) {
    int answered = 0;
    for (std::optional<native::Frame> f = std::move(first[w]); f; f = writers[w]->Recv()) {
      auto it = pending[w].find(f->header.correlation_id);
      ASSERT_NE(it, pending[w].end()) << "writer " << w << ": unexpected answer";
      auto a = DecodeAnswer<native::ProduceResponse>(*f);
      ASSERT_TRUE(a.ok()) << (a.error ? a.error->message : "");
      EXPECT_EQ(a.response->results[0].code, native::ErrorCode::kOk)
          << a.response->results[0].message;
      acked.insert(it->second.begin(), it->second.end());
      pending[w].erase(it);
      ++answered;
    }
    EXPECT_TRUE(writers[w]->closed()) << "writer " << w;
    EXPECT_EQ(answered, kPipelined) << "writer " << w << ": requests read but not answered";
  }

  EXPECT_EQ(daemon_.WaitExit(), 0);
  const std::string log = daemon_.Stderr();
  EXPECT_NE(log.find(" event=stopping signal=SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find(" event=stopped exit=0"), std::string::npos) << log;

  // Everything acknowledged is there after the restart, once.
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  std::map<std::string, int> stored;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    for (const StoredRecord& r : ReadShard(c, "graceful", shard).records) ++stored[r.value];
  }
  EXPECT_EQ(stored.size(), acked.size());
  for (const std::string& v : acked) EXPECT_EQ(stored[v], 1) << v;
  EXPECT_EQ(daemon_.Terminate(), 0);
}

// SIGTERM while a client is still sending a long pipeline, so requests the daemon has not read
// are left in its socket when it stops, and reading its answers slowly, so answers are still
// queued in the kernel when it closes. Every request the daemon appended (it read it) must
// have been answered. Requests it never read may be dropped.
//
// Regression test: the engine used to close() such a connection with its unread requests still
// in the socket, so the kernel sent RST and discarded the answers not yet read (thousands of
// appended requests unanswered, ECONNRESET). Connections now close lingering: flush,
// shutdown(SHUT_WR), discard input until EOF or a grace period, then close.
TEST_F(SluicedGracefulStopTest, EveryAppendedRequestIsAnsweredWhenStoppedMidPipeline) {
  constexpr int kRequests = 100'000;  // About 11 MB of requests, 14 MB of answers.
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient client(daemon_.native_port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(Exchange<native::Ack>(client, native::CreateStreamRequest{"mid", 2, 24}).ok());
  std::map<uint64_t, std::string> value_of;  // Correlation id → the request's one record.
  std::string all;
  for (int i = 0; i < kRequests; ++i) {
    native::ProduceRequest p;
    p.stream = "mid";
    p.selector.shard_id = static_cast<uint32_t>(i % 2);
    const uint64_t corr = client.NextCorrelation();
    value_of[corr] = "m" + std::to_string(i);
    p.batches = {BuildBatch({{"k", value_of[corr]}})};
    all += native::EncodeMessage(p, corr);
  }
  // The sender only writes on the socket and the main thread only reads it: TestClient's Send
  // touches nothing that Recv does. The send ends when the daemon closes the connection.
  std::atomic<size_t> sent{0};
  std::thread sender([&] {
    constexpr size_t kChunk = 64u << 10;
    for (size_t at = 0; at < all.size(); at += kChunk) {
      client.Send(std::string_view(all).substr(at, kChunk));
      sent = at + kChunk;
    }
  });
  // Stop once a third is on its way: the daemon is still reading the rest.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sent.load() < all.size() / 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  daemon_.Signal(SIGTERM);
  std::set<std::string> answered;
  for (int frames = 1;; ++frames) {
    std::optional<native::Frame> f = client.Recv(10'000);
    if (!f) break;
    auto a = DecodeAnswer<native::ProduceResponse>(*f);
    ASSERT_TRUE(a.ok() && a.response->results[0].code == native::ErrorCode::kOk);
    answered.insert(value_of.at(f->header.correlation_id));
    // A slow reader (about 30 MB/s): the daemon's answers wait in its socket buffer.
    if (frames % 400 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(client.closed());
  sender.join();
  EXPECT_EQ(daemon_.WaitExit(), 0);

  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  size_t stored = 0;
  size_t unanswered = 0;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    for (const StoredRecord& r : ReadShard(c, "mid", shard, 1u << 20).records) {
      ++stored;
      unanswered += answered.contains(r.value) ? 0 : 1;
    }
  }
  std::printf("%d requests, %zu answered, %zu stored\n", kRequests, answered.size(), stored);
  EXPECT_LT(stored, static_cast<size_t>(kRequests)) << "the daemon read everything before it "
                                                       "stopped: the test proved nothing";
  EXPECT_EQ(unanswered, 0u) << "requests the daemon read and appended but never answered";
  EXPECT_EQ(stored, answered.size());
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
