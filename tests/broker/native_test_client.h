// SPDX-License-Identifier: Apache-2.0
// A deliberately simple blocking native-protocol client for engine tests: raw frames over a
// loopback socket, so tests can also send what a real client never would.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "broker/native_frame_decoder.h"
#include "broker/native_protocol.h"
#include "broker/native_records.h"
#include "log/record_batch.h"

namespace sluice::broker::testing {

class TestClient {
 public:
  explicit TestClient(uint16_t port, bool hello = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (connected_ && hello) {
      Send(native::EncodeMessage(native::Hello{1, 1, "test"}, 1));
      auto f = Recv();
      hello_ok_ = f && f->header.type == native::FrameType::kHelloResponse;
    }
  }
  ~TestClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return connected_ && hello_ok_; }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Sends all of `bytes` unless the socket stays full for `timeout_ms`; false then.
  bool SendWithTimeout(std::string_view bytes, int timeout_ms) {
    while (!bytes.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // The next frame, or nullopt on timeout / close / decode error. `closed()` tells which.
  std::optional<native::Frame> Recv(int timeout_ms = 10'000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (!pending_.empty()) {
        std::span<const std::byte> in(reinterpret_cast<const std::byte*>(pending_.data()),
                                      pending_.size());
        auto frame = decoder_.Decode(&in);
        pending_.erase(0, pending_.size() - in.size());
        if (!frame.ok()) return std::nullopt;
        if (frame->has_value()) return std::move(**frame);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[1 << 16];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        return std::nullopt;
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
  }
  bool closed() const { return closed_; }

  // Sends `m` and returns the decoded answer of type R (fails the test on an Error frame).
  template <typename R, typename M>
  R Call(const M& m) {
    const uint64_t corr = next_corr_++;
    Send(native::EncodeMessage(m, corr));
    auto f = Recv();
    EXPECT_TRUE(f.has_value());
    if (!f) return R{};
    EXPECT_EQ(f->header.correlation_id, corr);
    if (f->header.type == native::FrameType::kError) {
      native::ErrorResponse e;
      EXPECT_TRUE(native::DecodeBody(f->body, &e).ok());
      ADD_FAILURE() << "error " << static_cast<int>(e.code) << ": " << e.message;
      return R{};
    }
    auto r = native::DecodeMessage<R>(*f);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : R{};
  }
  // Sends `m`, expects an Error frame and returns it.
  template <typename M>
  native::ErrorResponse CallError(const M& m) {
    const uint64_t corr = next_corr_++;
    Send(native::EncodeMessage(m, corr));
    auto f = Recv();
    native::ErrorResponse e;
    EXPECT_TRUE(f.has_value());
    if (!f) return e;
    EXPECT_EQ(f->header.type, native::FrameType::kError);
    EXPECT_TRUE(native::DecodeBody(f->body, &e).ok());
    return e;
  }
  uint64_t NextCorrelation() { return next_corr_++; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool hello_ok_ = true;
  bool closed_ = false;
  uint64_t next_corr_ = 100;
  std::string pending_;
  native::FrameDecoder decoder_;
};

// One batch of `n` records "key<i>" → "<prefix><i>".
inline std::string MakeBatch(int n, const std::string& prefix = "v",
                             std::optional<std::pair<uint64_t, uint64_t>> producer = {}) {
  log::RecordBatchBuilder b;
  if (producer) b.SetProducer(ProducerId(producer->first), producer->second);
  for (int i = 0; i < n; ++i) b.Add("key" + std::to_string(i), prefix + std::to_string(i), 0);
  auto r = b.Finish();
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : std::string();
}

// Values of every record in a FetchResponse's batches at or after `from`.
inline std::vector<std::string> Values(const native::FetchResponse& r, uint64_t from = 0) {
  std::vector<std::string> out;
  std::string_view rest = r.batches;
  std::string scratch;
  while (!rest.empty()) {
    auto view = log::RecordBatchView::Parse(log::AsBytes(rest));
    EXPECT_TRUE(view.ok());
    if (!view.ok()) break;
    auto records = view->DecodeRecords(&scratch);
    EXPECT_TRUE(records.ok());
    for (const log::Record& rec : *records) {
      if (rec.offset.value() >= from) out.emplace_back(rec.value);
    }
    rest.remove_prefix(view->header().length);
  }
  return out;
}

}  // namespace sluice::broker::testing
