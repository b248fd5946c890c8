// SPDX-License-Identifier: Apache-2.0
#include "broker/engine/reactor.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log/base/check.h"

namespace sluice::broker::engine {
namespace {

constexpr int kMaxEvents = 256;
// The loop wakes at least this often even with nothing to do, so that timers posted from the
// loop itself and Stop() are seen promptly.
constexpr int kMaxSleepMs = 100;

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace

Reactor::Reactor(uint32_t index) : index_(index) {}

Reactor::~Reactor() {
  Stop();
  // Tasks never run (posted after the loop ended) are freed here.
  Task* t = nullptr;
  while (inbox_.pop(t)) delete t;
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Reactor::Start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Errno("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Errno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up fd.
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) return Errno("epoll_ctl");
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void Reactor::Post(Task task) {
  inbox_.push(new Task(std::move(task)));
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the loop will wake anyway.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
}

Status Reactor::Watch(int fd, uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Errno("epoll_ctl add");
  return Status::OK();
}

Status Reactor::Rewatch(int fd, uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return Errno("epoll_ctl mod");
  return Status::OK();
}

void Reactor::Unwatch(int fd) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void Reactor::Stop() {
  if (!stopping_.exchange(true)) Post([] {});
  if (thread_.joinable() && !InLoop()) thread_.join();
}

void Reactor::DrainInbox() {
  wake_pending_.store(false, std::memory_order_release);
  uint64_t counter = 0;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &counter, sizeof(counter));
  Task* t = nullptr;
  while (inbox_.pop(t)) {
    (*t)();
    delete t;
  }
}

void Reactor::RunTimers() {
  const SteadyTime now = std::chrono::steady_clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Task task = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    task();
  }
}

void Reactor::Loop() {
  epoll_event events[kMaxEvents];
  while (!stopping_.load(std::memory_order_acquire)) {
    int timeout = kMaxSleepMs;
    if (!iteration_end_.empty()) timeout = 0;
    if (!timers_.empty()) {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                             timers_.begin()->first - std::chrono::steady_clock::now())
                             .count();
      timeout = std::max<int>(0, std::min<int64_t>(timeout, until + 1));
    }
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
    SLUICE_CHECK(n >= 0 || errno == EINTR, "epoll_wait failed");
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<FdHandler*>(events[i].data.ptr);
      if (handler == nullptr) {
        woken = true;
        continue;
      }
      (*handler)(events[i].events);
    }
    if (woken || wake_pending_.load(std::memory_order_acquire)) DrainInbox();
    RunTimers();
    // Work gathered by this iteration (and work that work gathers) runs now.
    while (!iteration_end_.empty()) {
      std::vector<Task> batch;
      batch.swap(iteration_end_);
      for (Task& t : batch) t();
    }
  }
  DrainInbox();
}

}  // namespace sluice::broker::engine
