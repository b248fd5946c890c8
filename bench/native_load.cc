// SPDX-License-Identifier: Apache-2.0
// sluice-native-load: a produce load generator for a running sluiced, over the native
// protocol. Each connection pipelines Produce requests (one batch of records each, shards in
// turn) and measures publish-to-ack latency per request. With --rate it paces requests to a
// fixed record rate (for latency at a given load); without, it runs flat out (throughput).
//
//   sluice-native-load --addr 127.0.0.1:4568 --stream bench --shards 16 --create
//       --connections 4 --inflight 8 --batch-records 1000 --record-bytes 100 --seconds 10
#include <CLI/CLI.hpp>
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "broker/native_frame_decoder.h"
#include "broker/native_protocol.h"
#include "broker/native_records.h"
#include "log/record_batch.h"

namespace sluice::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace native = broker::native;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 4568;
  std::string stream = "bench";
  uint32_t shards = 16;
  bool create = false;
  int connections = 4;
  int inflight = 8;
  int batch_records = 1000;
  int record_bytes = 100;
  double seconds = 10;
  double rate = 0;  // Records per second over all connections; 0 = as fast as possible.
};

class Socket {
 public:
  Socket(const std::string& host, uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Socket() { ::close(fd_); }
  void SendAll(std::string_view b) {
    while (!b.empty()) {
      ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        std::perror("send");
        std::exit(1);
      }
      b.remove_prefix(static_cast<size_t>(n));
    }
  }
  native::Frame Recv() {
    for (;;) {
      if (!pending_.empty()) {
        std::span<const std::byte> in(reinterpret_cast<const std::byte*>(pending_.data()),
                                      pending_.size());
        auto f = decoder_.Decode(&in);
        const size_t used = pending_.size() - in.size();
        pending_.erase(0, used);
        if (!f.ok()) {
          std::fprintf(stderr, "decode: %s\n", f.status().ToString().c_str());
          std::exit(1);
        }
        if (f->has_value()) return std::move(**f);
      }
      char buf[1 << 16];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        std::fprintf(stderr, "connection closed by the server\n");
        std::exit(1);
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
  }
  template <typename R, typename M>
  R Call(const M& m, uint64_t corr) {
    SendAll(native::EncodeMessage(m, corr));
    native::Frame f = Recv();
    if (f.header.type == native::FrameType::kError) {
      native::ErrorResponse e;
      (void)native::DecodeBody(f.body, &e);
      throw std::runtime_error(e.message);
    }
    auto r = native::DecodeMessage<R>(f);
    if (!r.ok()) throw std::runtime_error(r.status().ToString());
    return *r;
  }

 private:
  int fd_;
  std::string pending_;
  native::FrameDecoder decoder_;
};

struct ConnStats {
  uint64_t records = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::vector<int64_t> latency_us;
};

// One connection: a sender pacing/pipelining requests and this thread reading the answers.
void RunConnection(const Options& o, int index, Clock::time_point start, Clock::time_point end,
                   ConnStats* stats) {
  Socket s(o.host, o.port);
  s.Call<native::HelloResponse>(native::Hello{1, 1, "native-load"}, 1);
  // One pre-built request per shard (the broker assigns offsets and times; the bytes can repeat).
  std::vector<std::string> frames_body;
  for (uint32_t shard = 0; shard < o.shards; ++shard) {
    log::RecordBatchBuilder b;
    const std::string value(static_cast<size_t>(o.record_bytes), 'x');
    for (int i = 0; i < o.batch_records; ++i) b.Add("k" + std::to_string(i), value, 0);
    native::ProduceRequest p;
    p.stream = o.stream;
    p.selector.shard_id = shard;
    p.batches = {*b.Finish()};
    frames_body.push_back(native::EncodeBody(p));
  }
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool sender_done = false;
  std::map<uint64_t, Clock::time_point> sent_at;
  const double per_conn_rate = o.rate / o.connections;
  const auto interval = per_conn_rate > 0
                            ? std::chrono::duration<double>(o.batch_records / per_conn_rate)
                            : std::chrono::duration<double>(0);
  std::thread sender([&] {
    uint64_t corr = 1000;
    uint32_t shard = static_cast<uint32_t>(index) % o.shards;
    auto next_send = start;
    while (Clock::now() < end) {
      if (interval.count() > 0) {
        std::this_thread::sleep_until(next_send);
        next_send += std::chrono::duration_cast<Clock::duration>(interval);
      }
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return outstanding < o.inflight; });
        ++outstanding;
        sent_at[corr] = Clock::now();
      }
      const std::string& body = frames_body[shard];
      auto header = native::EncodeFrameHeader(native::FrameType::kProduce, 0, corr, body.size());
      s.SendAll(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
      s.SendAll(body);
      ++corr;
      shard = (shard + 1) % o.shards;
    }
    std::lock_guard<std::mutex> l(mu);
    sender_done = true;
  });
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu);
      if (sender_done && outstanding == 0) break;
    }
    native::Frame f = s.Recv();
    const auto now = Clock::now();
    Clock::time_point t0;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = sent_at.find(f.header.correlation_id);
      if (it == sent_at.end()) continue;
      t0 = it->second;
      sent_at.erase(it);
      --outstanding;
    }
    cv.notify_one();
    auto r = native::DecodeMessage<native::ProduceResponse>(f);
    if (!r.ok() || r->results.empty() || r->results[0].code != native::ErrorCode::kOk) {
      if (stats->errors++ == 0) {
        std::fprintf(
            stderr, "produce error: %s\n",
            r.ok() && !r->results.empty() ? r->results[0].message.c_str() : f.body.c_str());
      }
      continue;
    }
    stats->requests++;
    stats->records += static_cast<uint64_t>(o.batch_records);
    stats->latency_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count());
  }
  sender.join();
}

int Main(int argc, char** argv) {
  Options o;
  std::string addr = "127.0.0.1:4568";
  CLI::App app{"sluice-native-load: produce load against a running sluiced"};
  app.add_option("--addr", addr, "sluiced native address HOST:PORT");
  app.add_option("--stream", o.stream);
  app.add_option("--shards", o.shards, "shards to spread requests over (and to create)");
  app.add_flag("--create", o.create, "create the stream first (deleting one of that name)");
  app.add_option("--connections", o.connections);
  app.add_option("--inflight", o.inflight, "pipelined requests per connection");
  app.add_option("--batch-records", o.batch_records, "records per Produce request");
  app.add_option("--record-bytes", o.record_bytes, "record data size");
  app.add_option("--seconds", o.seconds);
  app.add_option("--rate", o.rate, "target records/s over all connections (0 = flat out)");
  CLI11_PARSE(app, argc, argv);
  const size_t colon = addr.rfind(':');
  o.host = addr.substr(0, colon);
  o.port = static_cast<uint16_t>(std::stoi(addr.substr(colon + 1)));

  if (o.create) {
    Socket s(o.host, o.port);
    s.Call<native::HelloResponse>(native::Hello{1, 1, "native-load"}, 1);
    try {
      s.Call<native::Ack>(native::DeleteStreamRequest{o.stream}, 2);
    } catch (const std::exception&) {
    }
    s.Call<native::Ack>(native::CreateStreamRequest{o.stream, o.shards, 24}, 3);
  }
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<ConnStats> stats(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i) {
    threads.emplace_back(RunConnection, std::cref(o), i, start, end,
                         &stats[static_cast<size_t>(i)]);
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ConnStats all;
  for (auto& s : stats) {
    all.records += s.records;
    all.requests += s.requests;
    all.errors += s.errors;
    all.latency_us.insert(all.latency_us.end(), s.latency_us.begin(), s.latency_us.end());
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto pct = [&](double p) {
    if (all.latency_us.empty()) return 0.0;
    return all.latency_us[std::min(all.latency_us.size() - 1,
                                   static_cast<size_t>(p * all.latency_us.size()))] /
           1000.0;
  };
  std::printf(
      "records=%llu requests=%llu errors=%llu seconds=%.2f records_per_s=%.0f MB_per_s=%.1f "
      "latency_ms p50=%.2f p99=%.2f p999=%.2f max=%.2f\n",
      static_cast<unsigned long long>(all.records), static_cast<unsigned long long>(all.requests),
      static_cast<unsigned long long>(all.errors), elapsed, all.records / elapsed,
      all.records * static_cast<double>(o.record_bytes) / elapsed / 1e6, pct(0.50), pct(0.99),
      pct(0.999), all.latency_us.empty() ? 0.0 : all.latency_us.back() / 1000.0);
  return all.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) { return sluice::bench::Main(argc, argv); }
