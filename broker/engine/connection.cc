// SPDX-License-Identifier: Apache-2.0
#include "broker/engine/connection.h"

#include <cerrno>
#include <span>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker/native_protocol.h"

namespace sluice::broker::engine {
namespace {

constexpr size_t kReadChunk = 256u << 10;
constexpr int kMaxIov = 64;
// A connection told to close after an error frame gets this long to take the frame.
constexpr auto kCloseGrace = std::chrono::seconds(2);

}  // namespace

Connection::Connection(Reactor* reactor, int fd, uint64_t id, ConnectionLimits limits,
                       FrameHandler* handler)
    : reactor_(reactor),
      fd_(fd),
      id_(id),
      limits_(limits),
      handler_(handler),
      decoder_(limits.max_frame_bytes),
      last_activity_(std::chrono::steady_clock::now()) {
  fd_handler_ = [this](uint32_t events) { OnEvents(events); };
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Status Connection::Open() {
  interest_ = EPOLLIN | EPOLLRDHUP;
  return reactor_->Watch(fd_, interest_, &fd_handler_);
}

void Connection::OnEvents(uint32_t events) {
  // Keep this object alive while its handlers run: a frame handler may close it.
  std::shared_ptr<Connection> self = shared_from_this();
  if (events & (EPOLLERR | EPOLLHUP)) {
    Close();
    return;
  }
  if (lingering_) {
    DiscardInput();
    return;
  }
  if (events & EPOLLOUT) Flush();
  if (fd_ >= 0 && (events & (EPOLLIN | EPOLLRDHUP)) && reading_) ReadSome();
}

// A close with unread input makes the kernel send a reset, and a reset discards the replies
// the peer has not read yet. So a graceful close first sends FIN (shutdown SHUT_WR), then
// reads and drops whatever the peer still sends until it closes too (or kCloseGrace passes).
void Connection::Linger() {
  if (fd_ < 0 || lingering_) return;
  lingering_ = true;
  reading_ = false;
  ::shutdown(fd_, SHUT_WR);
  interest_ = EPOLLIN | EPOLLRDHUP;
  if (!reactor_->Rewatch(fd_, interest_, &fd_handler_).ok()) {
    Close();
    return;
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  reactor_->RunAt(std::chrono::steady_clock::now() + kCloseGrace, [weak] {
    if (auto c = weak.lock()) c->Close();
  });
  DiscardInput();
}

void Connection::DiscardInput() {
  char buf[16 << 10];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close();  // EOF (the peer closed too) or an error.
    return;
  }
}

void Connection::ReadSome() {
  char buf[kReadChunk];
  // A few reads per wake-up, then the other connections of this reactor get their turn.
  for (int round = 0; round < 4 && reading_ && fd_ >= 0; ++round) {
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) {  // Peer closed its side: answer what we have, then close.
      closing_ = true;
      reading_ = false;
      if (out_bytes_ == 0) {
        Close();
      } else {
        UpdateInterest();
      }
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      Close();
      return;
    }
    Touch();
    if (!ProcessInput(std::string_view(buf, static_cast<size_t>(n)))) return;
  }
}

bool Connection::ProcessInput(std::string_view bytes) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  while (!in.empty() && fd_ >= 0 && !closing_) {
    // Over the cap (or stopping): keep the rest unparsed and read nothing more until the
    // connection drains, so TCP pushes back on the client.
    if (draining || queued() > limits_.max_queued_bytes) {
      over_cap_ = !draining;
      held_input_.assign(reinterpret_cast<const char*>(in.data()), in.size());
      reading_ = false;
      UpdateInterest();
      return false;
    }
    Result<std::optional<native::Frame>> frame = decoder_.Decode(&in);
    if (!frame.ok()) {
      FailAndClose(decoder_.error_code(), frame.status().message());
      return false;
    }
    if (!frame->has_value()) break;
    handler_->OnFrame(shared_from_this(), std::move(**frame));
  }
  return fd_ >= 0 && !closing_;
}

void Connection::Send(std::string frame, size_t reserved) {
  if (reserved > 0) Release(reserved);
  if (fd_ < 0 || lingering_) return;
  out_bytes_ += frame.size();
  Reserve(frame.size());
  out_.push_back(std::move(frame));
  if (!flush_scheduled_ && !want_write_) {
    flush_scheduled_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    reactor_->AtIterationEnd([weak] {
      if (auto c = weak.lock()) {
        c->flush_scheduled_ = false;
        c->Flush();
      }
    });
  }
}

void Connection::SendError(uint64_t corr, native::ErrorCode code, std::string_view message) {
  native::ErrorResponse e{code, native::kProtocolVersion,
                          std::string(message.substr(0, native::kMaxMessageBytes))};
  Send(native::EncodeMessage(e, corr));
}

void Connection::FailAndClose(native::ErrorCode code, std::string_view message) {
  if (fd_ < 0 || closing_) return;
  SendError(0, code, message);
  CloseWhenFlushed();
}

void Connection::StopReading() {
  draining = true;
  reading_ = false;
  UpdateInterest();
}

void Connection::CloseWhenFlushed() {
  if (fd_ < 0) return;
  closing_ = true;
  reading_ = false;
  if (out_.empty()) {
    Linger();
    return;
  }
  UpdateInterest();
  std::weak_ptr<Connection> weak = weak_from_this();
  reactor_->RunAt(std::chrono::steady_clock::now() + kCloseGrace, [weak] {
    if (auto c = weak.lock()) c->Close();
  });
}

void Connection::Flush() {
  while (fd_ >= 0 && !out_.empty()) {
    iovec iov[kMaxIov];
    int n = 0;
    for (auto it = out_.begin(); it != out_.end() && n < kMaxIov; ++it, ++n) {
      const size_t skip = n == 0 ? out_offset_ : 0;
      iov[n].iov_base = it->data() + skip;
      iov[n].iov_len = it->size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    const ssize_t written = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close();
      return;
    }
    size_t left = static_cast<size_t>(written);
    out_bytes_ -= left;
    Release(left);
    while (left > 0) {
      const size_t rest = out_.front().size() - out_offset_;
      if (left >= rest) {
        left -= rest;
        out_.pop_front();
        out_offset_ = 0;
      } else {
        out_offset_ += left;
        left = 0;
      }
    }
  }
  if (fd_ < 0) return;
  if (out_.empty() && closing_) {
    Linger();
    return;
  }
  want_write_ = !out_.empty();
  UpdateInterest();
  CheckDrained();
}

void Connection::Release(size_t bytes) {
  queued_.fetch_sub(bytes, std::memory_order_relaxed);
  if (reactor_->InLoop()) CheckDrained();
}

void Connection::CheckDrained() {
  if (fd_ < 0 || closing_ || draining) return;
  if (!reading_ && queued() <= limits_.max_queued_bytes / 2) {
    reading_ = true;
    UpdateInterest();
    if (!held_input_.empty()) {
      std::string held = std::move(held_input_);
      held_input_.clear();
      // Parsing may run handlers that call back into this function; it is re-entrant because
      // held_input_ was emptied first.
      ProcessInput(held);
    }
  }
  if (queued() <= limits_.max_queued_bytes / 2) {
    const bool asked = want_drain_signal_.exchange(false, std::memory_order_acq_rel);
    if ((over_cap_ || asked) && on_drained_) on_drained_();
    over_cap_ = false;
  }
}

void Connection::UpdateInterest() {
  if (fd_ < 0 || lingering_) return;
  uint32_t want = EPOLLRDHUP;
  if (reading_) want |= EPOLLIN;
  if (want_write_) want |= EPOLLOUT;
  if (want == interest_) return;
  interest_ = want;
  if (!reactor_->Rewatch(fd_, want, &fd_handler_).ok()) Close();
}

void Connection::Close() {
  if (fd_ < 0) return;
  reactor_->Unwatch(fd_);
  ::close(fd_);
  fd_ = -1;
  closed_.store(true, std::memory_order_release);
  out_.clear();
  Release(out_bytes_);
  out_bytes_ = 0;
  handler_->OnClosed(this);
}

}  // namespace sluice::broker::engine
