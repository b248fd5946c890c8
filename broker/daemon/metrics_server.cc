// SPDX-License-Identifier: Apache-2.0
#include "broker/daemon/metrics_server.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string_view>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace sluice::daemon {
namespace {

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
// After answering, unread request bytes are drained for at most this long before close, so
// that the close does not reset the connection and destroy the response in flight.
constexpr int64_t kLingerMs = 200;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Owns a descriptor until Release().
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string Response(int code, std::string_view reason, std::string_view content_type,
                     std::string_view body, bool head_only, std::string_view extra = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  r += "Content-Type: ";
  r += content_type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra;
  r += "Connection: close\r\n\r\n";
  if (!head_only) r += body;
  return r;
}

std::string PlainError(int code, std::string_view reason, std::string_view extra = {}) {
  return Response(code, reason, "text/plain; charset=utf-8", std::string(reason) + "\n",
                  /*head_only=*/false, extra);
}

// The request head's length including its blank line, or npos while incomplete. Bare "\n" line
// ends are accepted as well as "\r\n".
size_t HeadLength(std::string_view buf) {
  size_t crlf = buf.find("\r\n\r\n");
  size_t lf = buf.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

// The response to a complete request head.
std::string Answer(std::string_view head, const std::function<std::string()>& render) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  // METHOD SP request-target SP HTTP-version, nothing else.
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return PlainError(400, "Bad Request");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !target.starts_with('/') ||
      (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    return PlainError(400, "Bad Request");
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return PlainError(404, "Not Found");
  if (method != "GET" && method != "HEAD") {
    return PlainError(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  }
  return Response(200, "OK", kMetricsContentType, render(), /*head_only=*/method == "HEAD");
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, uint16_t port,
                                                            std::function<std::string()> render,
                                                            MetricsServerOptions options) {
  const std::string where = "metrics listener " + host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addrs = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &addrs); rc != 0) {
    return Status::InvalidArgument(where + ": " + gai_strerror(rc));
  }
  Status last = Status::InvalidArgument(where + ": no address");
  int listen_fd = -1;
  for (addrinfo* a = addrs; a != nullptr; a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last = Status::FromErrno(errno, where + ": socket");
      continue;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || listen(fd.get(), 16) != 0) {
      last = Status::FromErrno(errno, where);
      continue;
    }
    listen_fd = fd.Release();
    break;
  }
  freeaddrinfo(addrs);
  if (listen_fd < 0) return last;
  Fd listener(listen_fd);

  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return Status::FromErrno(errno, where + ": getsockname");
  }
  const uint16_t bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  Fd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) return Status::FromErrno(errno, where + ": eventfd");

  std::unique_ptr<MetricsServer> server(new MetricsServer(listener.Release(), wake.Release(),
                                                          bound_port, std::move(render), options));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

MetricsServer::MetricsServer(int listen_fd, int wake_fd, uint16_t port,
                             std::function<std::string()> render, MetricsServerOptions options)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      render_(std::move(render)),
      options_(options) {}

MetricsServer::~MetricsServer() {
  Stop();
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsServer::Stop() {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  // Cannot fail: the counter is far from overflow, and the descriptor is ours.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

bool MetricsServer::WaitFor(int fd, short events, int64_t deadline_ms) const {
  for (;;) {
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1'000'000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

void MetricsServer::Run() {
  // Blocks in poll on the listener and the wake eventfd: Stop() ends it at once, with no
  // polling interval to wait out.
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;  // The client went away, or a transient ENFILE/EMFILE.
    Fd conn(fd);
    Serve(conn.get());
  }
}

bool MetricsServer::SendAll(int fd, const std::string& bytes) {
  const int64_t deadline = NowMs() + options_.write_timeout_ms;
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

void MetricsServer::Serve(int fd) {
  const int64_t deadline = NowMs() + options_.header_timeout_ms;
  std::string buf;
  char chunk[4096];
  size_t head = std::string::npos;
  std::string response;
  while ((head = HeadLength(buf)) == std::string::npos) {
    if (buf.size() >= options_.max_header_bytes) {
      response = PlainError(431, "Request Header Fields Too Large");
      break;
    }
    const size_t want = std::min(sizeof(chunk), options_.max_header_bytes - buf.size());
    ssize_t n = recv(fd, chunk, want, 0);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(fd, POLLIN, deadline)) return;  // Too slow, or stopping: no answer.
    } else {
      return;  // EOF or error before a whole head.
    }
  }
  if (head != std::string::npos) response = Answer(std::string_view(buf).substr(0, head), render_);
  if (!SendAll(fd, response)) return;
  // Lingering close: half-close, then drain what the client still sends until it closes.
  shutdown(fd, SHUT_WR);
  const int64_t linger_deadline = NowMs() + kLingerMs;
  while (WaitFor(fd, POLLIN, linger_deadline)) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

}  // namespace sluice::daemon
