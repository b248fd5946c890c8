// SPDX-License-Identifier: Apache-2.0
// The /metrics endpoint over real sockets: responses, errors, limits, and a prompt Stop.
#include "broker/daemon/metrics_server.h"

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

// A connected client socket, closed on destruction. Receives time out after 10 s so that a
// broken server fails the test instead of hanging it.
class Client {
 public:
  explicit Client(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Everything until the server closes (or the receive timeout).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd_, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class MetricsServerTest : public ::testing::Test {
 protected:
  void StartServer(MetricsServerOptions options = {}) {
    auto s = MetricsServer::Start(
        "127.0.0.1", 0,
        [this] {
          renders_.fetch_add(1);
          return body_;
        },
        options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_NE(server_->port(), 0);
  }

  std::string Request(const std::string& request) {
    Client c(server_->port());
    EXPECT_TRUE(c.connected());
    EXPECT_TRUE(c.Send(request));
    return c.ReadAll();
  }

  const std::string body_ = "# HELP up Up.\n# TYPE up gauge\nup 1\n";
  std::atomic<int> renders_{0};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, GetMetricsReturnsRenderedText) {
  StartServer();
  std::string r = Request("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: " +
                std::to_string(body_.size()) +
                "\r\n"
                "Connection: close\r\n\r\n" +
                body_);
  // A query string is ignored; HTTP/1.0 and bare LF line ends are accepted.
  EXPECT_THAT(Request("GET /metrics?x=1 HTTP/1.0\n\n"), EndsWith(body_));
  EXPECT_EQ(renders_.load(), 2);
}

TEST_F(MetricsServerTest, HeadHasHeadersOnly) {
  StartServer();
  std::string r = Request("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Length: " + std::to_string(body_.size()) + "\r\n"));
  EXPECT_THAT(r, EndsWith("\r\n\r\n"));
}

TEST_F(MetricsServerTest, OtherPathsMethodsAndGarbage) {
  StartServer();
  EXPECT_THAT(Request("GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Request("GET /metricsx HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 "));
  std::string post = Request("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  for (const char* bad : {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
                          "GET metrics HTTP/1.1\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "\x16\x03\x01 hello\r\n\r\n"}) {
    SCOPED_TRACE(bad);
    std::string r = Request(bad);
    EXPECT_THAT(r, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
    EXPECT_THAT(r, HasSubstr("Connection: close\r\n"));
  }
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsServerTest, OversizedHeadIsRefused) {
  StartServer();
  std::string head = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_THAT(Request(head), StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  // The server is still serving.
  EXPECT_THAT(Request("GET /metrics HTTP/1.1\r\n\r\n"), EndsWith(body_));
}

TEST_F(MetricsServerTest, SlowClientIsDroppedAfterHeaderTimeout) {
  MetricsServerOptions o;
  o.header_timeout_ms = 200;
  StartServer(o);
  Client slow(server_->port());
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.Send("GET /metr"));
  // A second client is answered once the slow one times out.
  auto start = Clock::now();
  EXPECT_THAT(Request("GET /metrics HTTP/1.1\r\n\r\n"), EndsWith(body_));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(slow.ReadAll(), "");  // Closed without an answer.
}

TEST_F(MetricsServerTest, StopIsPromptWhileClientHoldsConnection) {
  MetricsServerOptions o;
  o.header_timeout_ms = 60'000;
  StartServer(o);
  Client idle(server_->port());
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.Send("GET /metrics HTTP/1.1\r\n"));  // Head never finished.
  Client queued(server_->port());                       // Accepted by the kernel, not served.
  ASSERT_TRUE(queued.connected());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Let the server block on it.
  auto start = Clock::now();
  server_->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(500));
  server_->Stop();  // Idempotent.
  EXPECT_EQ(idle.ReadAll(), "");
  server_.reset();
}

TEST_F(MetricsServerTest, StartFailsOnBusyAddress) {
  StartServer();
  auto busy = MetricsServer::Start("127.0.0.1", server_->port(), [] { return std::string(); });
  EXPECT_FALSE(busy.ok());
  EXPECT_THAT(busy.status().ToString(), HasSubstr("127.0.0.1:" + std::to_string(server_->port())));
}

TEST_F(MetricsServerTest, ServesIpv6Loopback) {
  auto s = MetricsServer::Start("::1", 0, [] { return std::string("v6\n"); });
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback: " << s.status().ToString();
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons((*s)->port());
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_THAT(out, EndsWith("\r\n\r\nv6\n"));
}

}  // namespace
}  // namespace sluice::daemon
