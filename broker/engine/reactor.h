// SPDX-License-Identifier: Apache-2.0
// Reactor: one event-loop thread of the engine. It owns an epoll set (its connections and its
// listening socket) and an inbox other threads post work to. The log keeps one io_uring ring
// per thread, so the reads a reactor serves go through its own ring; appends run on the
// engine's BlockingPool threads, each with its own ring.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

#include "log/base/status.h"

namespace sluice::broker::engine {

using SteadyTime = std::chrono::steady_clock::time_point;

// Thread-safety: Post() and Stop() from any thread; everything else only on the loop thread
// (InLoop()), from callbacks the loop runs.
class Reactor {
 public:
  using Task = std::function<void()>;
  using FdHandler = std::function<void(uint32_t epoll_events)>;

  explicit Reactor(uint32_t index);
  ~Reactor();  // Stop()s and joins.
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Creates the epoll set and wake-up eventfd, then starts the thread.
  Status Start();
  uint32_t index() const { return index_; }
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Runs `task` on the loop thread soon, after the tasks posted before it by the same thread
  // (FIFO per producer). Lock-free: a Boost.Lockfree MPSC queue plus one eventfd write when
  // the loop may be asleep. Tasks posted after Stop() are destroyed without running.
  void Post(Task task);

  // Loop thread only. `*handler` must stay valid until Unwatch(fd).
  Status Watch(int fd, uint32_t events, FdHandler* handler);
  Status Rewatch(int fd, uint32_t events, FdHandler* handler);
  void Unwatch(int fd);
  // Runs `task` once the current loop iteration has handled all ready events and posted
  // tasks: where work gathered in one iteration (appends to one shard) is done together.
  void AtIterationEnd(Task task) { iteration_end_.push_back(std::move(task)); }
  // Runs `task` on the loop at or after `when`.
  void RunAt(SteadyTime when, Task task) { timers_.emplace(when, std::move(task)); }

  // Ends the loop after the current iteration; pending posted tasks still run once. Joins
  // unless called from the loop itself.
  void Stop();

 private:
  void Loop();
  void DrainInbox();
  void RunTimers();

  const uint32_t index_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> wake_pending_{false};
  boost::lockfree::queue<Task*> inbox_{1024};
  std::vector<Task> iteration_end_;
  std::multimap<SteadyTime, Task> timers_;
};

}  // namespace sluice::broker::engine
