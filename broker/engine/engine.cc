// SPDX-License-Identifier: Apache-2.0
// Engine lifecycle: reactors, the listener, accepting, idle sweeps and the graceful stop.
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "broker/engine/engine_impl.h"

namespace sluice::broker {

Result<std::unique_ptr<Engine>> Engine::Start(Broker* broker, EngineOptions options) {
  auto engine = std::make_unique<engine::EngineImpl>(broker, std::move(options));
  SLUICE_TRY(engine->Init());
  return std::unique_ptr<Engine>(std::move(engine));
}

namespace engine {
namespace {

constexpr auto kIdleSweepPeriod = std::chrono::seconds(1);
constexpr auto kStopDeadline = std::chrono::seconds(10);

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// Runs `fn` on `r`'s loop and waits for it.
void RunOn(Reactor* r, const std::function<void()>& fn) {
  std::atomic<bool> done{false};
  r->Post([&] {
    fn();
    done.store(true, std::memory_order_release);
    done.notify_one();
  });
  done.wait(false, std::memory_order_acquire);
}

}  // namespace

EngineImpl::EngineImpl(Broker* broker, EngineOptions options)
    : broker_(broker), opts_(std::move(options)) {}

EngineImpl::~EngineImpl() {
  if (Status s = Stop(); !s.ok()) {
    std::fprintf(stderr, "sluice engine: stop: %s\n", s.ToString().c_str());
  }
}

Status EngineImpl::Init() {
  if (opts_.idle_timeout_ms <= 0) {
    return Status::InvalidArgument("idle_timeout_ms must be positive");
  }
  if (opts_.max_connection_bytes < opts_.max_frame_bytes) {
    return Status::InvalidArgument("max_connection_bytes must be at least max_frame_bytes");
  }
  uint32_t n = opts_.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  if (n > 1024) return Status::InvalidArgument("threads must be at most 1024");
  const uint32_t appenders = opts_.append_threads == 0 ? 4 * n : opts_.append_threads;
  if (appenders > 4096) return Status::InvalidArgument("append_threads must be at most 4096");
  append_pool_ = std::make_unique<BlockingPool>(appenders);
  for (uint32_t i = 0; i < n; ++i) {
    auto pr = std::make_unique<PerReactor>();
    pr->reactor = std::make_unique<Reactor>(i);
    SLUICE_TRY(pr->reactor->Start());
    reactors_.push_back(pr->reactor.get());
    per_.push_back(std::move(pr));
  }
  for (auto& pr : per_) {
    PerReactor* p = pr.get();
    p->reactor->Post([this, p] { IdleSweep(p); });
  }
  return Listen();
}

Status EngineImpl::Listen() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(opts_.native_port);
  if (int rc = ::getaddrinfo(opts_.native_host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument("native address " + opts_.native_host + ":" + port + ": " +
                                   ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    Status s = Errno("listening on " + opts_.native_host + ":" + port);
    ::close(fd);
    return s;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = fd;
  accept_handler_ = [this](uint32_t) { Accept(); };
  Status watched;
  RunOn(reactors_[0], [&] { watched = reactors_[0]->Watch(fd, EPOLLIN, &accept_handler_); });
  return watched;
}

// On reactor 0. Connections are spread over the reactors round-robin; each request then goes
// to the reactor owning its shard.
void EngineImpl::Accept() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of fds (EMFILE: retried on the next readiness).
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    PerReactor* pr = per_[next_reactor_.fetch_add(1) % per_.size()].get();
    if (pr->reactor->InLoop()) {
      AdoptConnection(pr, fd);
    } else {
      pr->reactor->Post([this, pr, fd] { AdoptConnection(pr, fd); });
    }
  }
}

void EngineImpl::AdoptConnection(PerReactor* pr, int fd) {
  if (stopping_.load()) {
    ::close(fd);
    return;
  }
  auto conn = std::make_shared<Connection>(
      pr->reactor.get(), fd, next_conn_id_.fetch_add(1),
      ConnectionLimits{opts_.max_frame_bytes, opts_.max_connection_bytes, &peak_connection_bytes_},
      this);
  if (!conn->Open().ok()) return;  // The destructor closes fd.
  // Subscriptions paused by this connection's back-pressure resume when it drains.
  conn->OnDrained([this] {
    for (auto& other : per_) {
      PerReactor* p = other.get();
      p->reactor->Post([p] {
        for (auto& [key, owner] : p->owners) owner->Resume();
      });
    }
  });
  pr->conns.emplace(conn->id(), conn);
  if (opts_.observer != nullptr) opts_.observer->OnConnectionOpened();
}

void EngineImpl::OnClosed(Connection* conn) {
  if (opts_.observer != nullptr) opts_.observer->OnConnectionClosed();
  PerReactor& pr = Local(*conn);
  auto it = pr.conns.find(conn->id());
  if (it == pr.conns.end()) return;
  // Destroy after the current callback: the connection is still on the stack.
  std::shared_ptr<Connection> keep = std::move(it->second);
  pr.conns.erase(it);
  pr.reactor->Post([keep] {});
}

void EngineImpl::PurgeOwners(PerReactor* pr) {
  const uint64_t version = broker_->metadata_version();
  if (version == pr->owners_checked_version) return;
  pr->owners_checked_version = version;
  for (auto it = pr->owners.begin(); it != pr->owners.end();) {
    ShardOwner& owner = *it->second;
    Result<std::shared_ptr<const Stream>> stream = broker_->GetStream(owner.stream_name());
    if (stream.ok() && (*stream)->meta().id.value() == owner.stream_id()) {
      ++it;
      continue;
    }
    owner.Retire(broker_->StreamNotFound(owner.stream_name()));
    it = pr->owners.erase(it);
  }
}

size_t EngineImpl::shard_owner_count() const {
  size_t n = 0;
  for (const auto& pr : per_) {
    const PerReactor* p = pr.get();
    RunOn(p->reactor.get(), [&n, p] { n += p->owners.size(); });
  }
  return n;
}

void EngineImpl::IdleSweep(PerReactor* pr) {
  PurgeOwners(pr);
  const SteadyTime now = std::chrono::steady_clock::now();
  const auto idle = std::chrono::milliseconds(opts_.idle_timeout_ms);
  std::vector<std::shared_ptr<Connection>> expired;
  for (auto& [id, conn] : pr->conns) {
    if (conn->active_waits == 0 && conn->queued() == 0 && now - conn->last_activity() > idle) {
      expired.push_back(conn);
    }
  }
  for (auto& c : expired) c->Close();
  if (!stopping_.load()) pr->reactor->RunAt(now + kIdleSweepPeriod, [this, pr] { IdleSweep(pr); });
}

Status EngineImpl::Stop() {
  if (stopped_) return Status::OK();
  stopped_ = true;
  stopping_.store(true);
  if (per_.empty()) return Status::OK();
  // 1. No new connections; no new requests on the open ones.
  RunOn(reactors_[0], [&] {
    if (listen_fd_ >= 0) {
      reactors_[0]->Unwatch(listen_fd_);
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
  });
  // Every reactor stops reading before any owner drains: otherwise a connection still read on
  // one reactor could park a new long poll on an owner drained on another.
  for (auto& pr : per_) {
    PerReactor* p = pr.get();
    RunOn(p->reactor.get(), [p] {
      for (auto& [id, conn] : p->conns) conn->StopReading();
    });
  }
  for (auto& pr : per_) {
    PerReactor* p = pr.get();
    RunOn(p->reactor.get(), [p] {
      for (auto& [key, owner] : p->owners) owner->Drain();  // Long polls answer now.
    });
  }
  // 2. Requests already read finish (appends complete, replies reach their connections).
  const auto deadline = std::chrono::steady_clock::now() + kStopDeadline;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // 3. Replies are written, then connections close.
  for (auto& pr : per_) {
    PerReactor* p = pr.get();
    RunOn(p->reactor.get(), [p] {
      std::vector<std::shared_ptr<Connection>> conns;
      for (auto& [id, conn] : p->conns) conns.push_back(conn);
      for (auto& c : conns) c->CloseWhenFlushed();
    });
  }
  while (std::chrono::steady_clock::now() < deadline) {
    size_t open = 0;
    for (auto& pr : per_) {
      PerReactor* p = pr.get();
      RunOn(p->reactor.get(), [&open, p] { open += p->conns.size(); });
    }
    if (open == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& pr : per_) {
    PerReactor* p = pr.get();
    RunOn(p->reactor.get(), [p] {
      std::vector<std::shared_ptr<Connection>> conns;
      for (auto& [id, conn] : p->conns) conns.push_back(conn);
      for (auto& c : conns) c->Close();
    });
  }
  // 4. Appends still on the pool finish (their replies have nowhere to go by now), the loops
  // end (tasks already posted run once); then the owners detach from their logs.
  if (append_pool_) append_pool_->Stop();
  // A listener firing after that posts to a stopped reactor, which drops the task.
  for (auto& pr : per_) pr->reactor->Stop();
  for (auto& pr : per_) {
    pr->owners.clear();
    pr->conns.clear();
    pr->streams.clear();
  }
  return Status::OK();
}

}  // namespace engine
}  // namespace sluice::broker
