// SPDX-License-Identifier: Apache-2.0
// MetricsServer: the Prometheus scrape endpoint, GET /metrics over HTTP/1.1 on plain sockets.
// One endpoint with one client (the scraper) needs no HTTP library: this file is the whole of
// it, and the daemon takes no extra dependency for it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "log/base/result.h"

namespace sluice::daemon {

struct MetricsServerOptions {
  // A request head (request line and headers) larger than this is answered 431 and closed.
  size_t max_header_bytes = 8 << 10;
  // The whole head must arrive within this, or the connection is closed without an answer:
  // a slow client holds the (single) serving thread at most this long.
  int64_t header_timeout_ms = 2'000;
  // Sending the response must finish within this.
  int64_t write_timeout_ms = 5'000;
};

// Serves, one connection at a time on its own thread:
//   GET|HEAD /metrics[?...]  200, Content-Type: text/plain; version=0.0.4; charset=utf-8
//   other methods there      405;  other paths 404;  malformed request line 400
// Every response has Content-Length and Connection: close. Thread-safe: Stop() may be called
// from any thread; `render` runs on the server's thread and must be thread-safe with respect to
// whatever it reads.
class MetricsServer {
 public:
  // Binds host:port (port 0: a free one, see port()) and starts serving. Errors: the address
  // does not resolve or cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& host, uint16_t port,
                                                      std::function<std::string()> render,
                                                      MetricsServerOptions options = {});
  ~MetricsServer();  // Stop()s.
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }
  // Closes the listener and any connection being served (without finishing its response) and
  // joins the thread; returns promptly even while a client holds a connection open. Idempotent.
  void Stop();

 private:
  MetricsServer(int listen_fd, int wake_fd, uint16_t port, std::function<std::string()> render,
                MetricsServerOptions options);
  void Run();
  void Serve(int fd);
  // Waits until `fd` has `events` (POLLIN or POLLOUT) or the deadline (steady clock, ms).
  // False on timeout or Stop().
  bool WaitFor(int fd, short events, int64_t deadline_ms) const;
  bool SendAll(int fd, const std::string& bytes);

  const int listen_fd_;
  const int wake_fd_;  // eventfd: readable once Stop() is called; every poll includes it.
  const uint16_t port_;
  const std::function<std::string()> render_;
  const MetricsServerOptions options_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace sluice::daemon
