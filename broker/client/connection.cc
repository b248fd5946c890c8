// SPDX-License-Identifier: Apache-2.0
#include "broker/client/connection.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "broker/native_frame_decoder.h"

namespace sluice::client {
namespace {

using Clock = std::chrono::steady_clock;

// Responses may carry stored batches bigger than a request may be (a batch can reach
// log::format::kMaxBatchBytes), so the client accepts more than the server's request limit.
constexpr size_t kMaxResponseFrameBytes = (64u << 20) + (1u << 20);

std::string Endpoint(const ConnectionOptions& o) {
  return (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
         std::to_string(o.port);
}

Status ErrnoStatus(int err, std::string_view context) {
  return Status::Unavailable(std::string(context) + ": " + std::strerror(err));
}

int64_t RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max<int64_t>(0, left.count());
}

// One non-blocking connect attempt bounded by `deadline`; the fd is blocking on success.
Result<int> ConnectOne(const addrinfo* ai, Clock::time_point deadline) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  auto fail = [fd](Status s) -> Result<int> {
    ::close(fd);
    return s;
  };
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return fail(ErrnoStatus(errno, "connect"));
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(RemainingMs(deadline)));
    } while (n < 0 && errno == EINTR);
    if (n == 0) return fail(Status::Unavailable("connect: timed out"));
    if (n < 0) return fail(ErrnoStatus(errno, "poll"));
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return fail(ErrnoStatus(err, "connect"));
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fail(ErrnoStatus(errno, "fcntl"));
  }
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void SetIoTimeout(int fd, int64_t ms) {
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// The Status an Error frame stands for.
Status ErrorFrameStatus(const native::Frame& frame) {
  auto err = native::DecodeMessage<native::ErrorResponse>(frame);
  if (!err.ok()) return Status::Corruption("malformed Error frame from server");
  if (err->code == native::ErrorCode::kUnsupportedVersion) {
    return Status::NotSupported("server speaks native protocol versions up to " +
                                std::to_string(err->max_version) + ": " + err->message);
  }
  return native::StatusFromError(err->code, err->message);
}

}  // namespace

Status ParseAddress(std::string_view address, ConnectionOptions* options) {
  std::string_view host = address;
  std::string_view port;
  if (address.starts_with('[')) {
    size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("bad address '" + std::string(address) + "': missing ]");
    }
    host = address.substr(1, close - 1);
    std::string_view rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) {
        return Status::InvalidArgument("bad address '" + std::string(address) + "'");
      }
      port = rest.substr(1);
    }
  } else if (size_t colon = address.rfind(':'); colon != std::string_view::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) {
    return Status::InvalidArgument("bad address '" + std::string(address) + "': empty host");
  }
  uint16_t port_value = 4568;
  if (!port.empty() || address.ends_with(':')) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535) {
      return Status::InvalidArgument("bad address '" + std::string(address) +
                                     "': port must be 1..65535");
    }
    port_value = static_cast<uint16_t>(v);
  }
  options->host = std::string(host);
  options->port = port_value;
  return Status::OK();
}

Connection::Connection(ConnectionOptions options, int fd) : options_(std::move(options)), fd_(fd) {}

Connection::~Connection() {
  Close();
  ::close(fd_);
}

Result<std::unique_ptr<Connection>> Connection::Open(ConnectionOptions options) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  const std::string endpoint = Endpoint(options);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string port = std::to_string(options.port);
  if (int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    return Status::Unavailable("resolve " + options.host + ": " + ::gai_strerror(rc));
  }
  Status last = Status::Unavailable("no address");
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    auto r = ConnectOne(ai, deadline);
    if (r.ok()) {
      fd = *r;
    } else {
      last = r.status();
    }
  }
  ::freeaddrinfo(list);
  if (fd < 0) return last.WithContext(endpoint);

  std::unique_ptr<Connection> conn(new Connection(std::move(options), fd));
  SetIoTimeout(fd, std::max<int64_t>(1, RemainingMs(deadline)));
  if (Status s = conn->Handshake(); !s.ok()) {
    conn->Fail(s);
    return s.WithContext(endpoint);
  }
  SetIoTimeout(fd, 0);
  conn->reader_ = std::thread([c = conn.get()] { c->ReaderLoop(); });
  return conn;
}

// Runs before the reader thread starts, so it reads the socket itself.
Status Connection::Handshake() {
  native::Hello hello;
  hello.client_id = options_.client_id;
  uint64_t cid;
  {
    MutexLock l(&mu_);
    cid = next_correlation_id_++;
  }
  SLUICE_TRY(WriteAll(native::EncodeMessage(hello, cid)));
  native::FrameDecoder decoder(kMaxResponseFrameBytes);
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return Status::Unavailable("server closed the connection during Hello");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::Unavailable("timed out waiting for HelloResponse");
      }
      return ErrnoStatus(errno, "recv");
    }
    std::span<const std::byte> in(reinterpret_cast<const std::byte*>(buf), n);
    auto frame = decoder.Decode(&in);
    if (!frame.ok()) return frame.status().WithContext("HelloResponse");
    if (!frame->has_value()) continue;
    // The server sends nothing unasked before HelloResponse, so no bytes can follow it yet.
    const native::Frame& f = **frame;
    if (f.header.type == native::FrameType::kError) return ErrorFrameStatus(f);
    SLUICE_ASSIGN_OR_RETURN(auto resp, native::DecodeMessage<native::HelloResponse>(f));
    if (resp.version < native::kMinProtocolVersion || resp.version > native::kProtocolVersion) {
      return Status::NotSupported("server chose native protocol version " +
                                  std::to_string(resp.version));
    }
    version_ = resp.version;
    max_frame_bytes_ = resp.max_frame_bytes;
    server_id_ = std::move(resp.server_id);
    return Status::OK();
  }
}

Status Connection::WriteAll(std::string_view bytes) {
  MutexLock l(&write_mu_);
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Result<uint64_t> Connection::Send(native::FrameType type, std::string_view body,
                                  StreamCallback on_frame) {
  uint64_t cid;
  {
    MutexLock l(&mu_);
    if (!failure_.ok()) return Status::Unavailable(failure_.message());
    if (native::kFrameHeaderSize + body.size() > max_frame_bytes_) {
      return Status::InvalidArgument("request of " + std::to_string(body.size()) +
                                     " bytes exceeds the server's frame limit of " +
                                     std::to_string(max_frame_bytes_));
    }
    cid = next_correlation_id_++;
    pending_.emplace(cid, Pending{std::move(on_frame)});
  }
  auto header = native::EncodeFrameHeader(type, 0, cid, body.size());
  Status s;
  {
    MutexLock l(&write_mu_);
    iovec iov[2] = {{header.data(), header.size()}, {const_cast<char*>(body.data()), body.size()}};
    size_t skip = 0;
    const size_t total = header.size() + body.size();
    while (skip < total) {
      iovec v[2];
      int cnt = 0;
      size_t off = skip;
      for (const iovec& part : iov) {
        if (off >= part.iov_len) {
          off -= part.iov_len;
          continue;
        }
        v[cnt++] = {static_cast<char*>(part.iov_base) + off, part.iov_len - off};
        off = 0;
      }
      msghdr msg{};
      msg.msg_iov = v;
      msg.msg_iovlen = cnt;
      ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        s = ErrnoStatus(errno, "send");
        break;
      }
      skip += static_cast<size_t>(n);
    }
  }
  // The request is registered: Fail() answers it, keeping "called exactly once".
  if (!s.ok()) Fail(s);
  return cid;
}

Result<uint64_t> Connection::CallAsync(native::FrameType type, std::string_view body,
                                       ResponseCallback done) {
  return Send(type, body, [done = std::move(done)](Result<native::Frame> r) {
    done(std::move(r));
    return false;
  });
}

Result<uint64_t> Connection::CallStream(native::FrameType type, std::string_view body,
                                        StreamCallback on_frame) {
  return Send(type, body, std::move(on_frame));
}

Result<native::Frame> Connection::Call(native::FrameType type, std::string_view body,
                                       int64_t extra_wait_ms) {
  auto promise = std::make_shared<std::promise<Result<native::Frame>>>();
  auto future = promise->get_future();
  SLUICE_ASSIGN_OR_RETURN(uint64_t cid, CallAsync(type, body, [promise](Result<native::Frame> r) {
                            promise->set_value(std::move(r));
                          }));
  if (options_.request_timeout_ms > 0) {
    auto wait = std::chrono::milliseconds(options_.request_timeout_ms + extra_wait_ms);
    if (future.wait_for(wait) == std::future_status::timeout) {
      Cancel(cid);
      return Status::Unavailable("request timed out after " + std::to_string(wait.count()) + " ms");
    }
  }
  return future.get();
}

void Connection::Cancel(uint64_t correlation_id) {
  MutexLock l(&mu_);
  pending_.erase(correlation_id);
  if (correlation_id == dispatching_) dispatching_cancelled_ = true;
}

void Connection::ReaderLoop() {
  native::FrameDecoder decoder(kMaxResponseFrameBytes);
  std::vector<char> buf(64 << 10);
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n == 0) {
      Fail(Status::Unavailable("connection closed by the server"));
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      Fail(ErrnoStatus(errno, "recv"));
      return;
    }
    std::span<const std::byte> in(reinterpret_cast<const std::byte*>(buf.data()), n);
    while (!in.empty()) {
      auto frame = decoder.Decode(&in);
      if (!frame.ok()) {
        Fail(Status::Unavailable("bad frame from server: " + frame.status().ToString()));
        return;
      }
      if (!frame->has_value()) break;
      Dispatch(std::move(**frame));
    }
  }
}

void Connection::Dispatch(native::Frame frame) {
  const uint64_t cid = frame.header.correlation_id;
  const bool is_error = frame.header.type == native::FrameType::kError;
  if (cid == 0 && is_error) {  // About the connection itself (e.g. version); it closes next.
    Fail(Status::Unavailable("server error: " + ErrorFrameStatus(frame).ToString()));
    return;
  }
  std::shared_ptr<StreamCallback> callback;
  {
    MutexLock l(&mu_);
    auto it = pending_.find(cid);
    if (it == pending_.end()) return;  // Cancelled, or an unsolicited frame.
    // Moved out while it runs; put back if the stream goes on.
    callback = std::make_shared<StreamCallback>(std::move(it->second.on_frame));
    pending_.erase(it);
    dispatching_ = cid;
    dispatching_cancelled_ = false;
  }
  bool keep =
      is_error ? ((*callback)(ErrorFrameStatus(frame)), false) : (*callback)(std::move(frame));
  {
    MutexLock l(&mu_);
    dispatching_ = 0;
    if (!keep || dispatching_cancelled_) return;
    if (failure_.ok()) {
      pending_.emplace(cid, Pending{std::move(*callback)});
      return;
    }
  }
  // The connection failed while the callback ran: Fail() could not see this request.
  (*callback)(Status::Unavailable(failure().message()));
}

void Connection::Fail(Status cause) {
  std::map<uint64_t, Pending> pending;
  Status failure;
  {
    MutexLock l(&mu_);
    if (failure_.ok()) failure_ = std::move(cause);
    failure = failure_;
    pending.swap(pending_);
  }
  ::shutdown(fd_, SHUT_RDWR);
  Status answer = Status::Unavailable(failure.message());
  for (auto& [cid, p] : pending) p.on_frame(answer);
}

void Connection::Close() {
  Fail(Status::Unavailable("connection closed"));
  bool join = false;
  {
    MutexLock l(&mu_);
    if (!closed_ && reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) {
      closed_ = true;
      join = true;
    }
  }
  if (join) reader_.join();
}

bool Connection::is_open() const {
  MutexLock l(&mu_);
  return failure_.ok();
}

Status Connection::failure() const {
  MutexLock l(&mu_);
  return failure_;
}

}  // namespace sluice::client
