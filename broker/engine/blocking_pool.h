// SPDX-License-Identifier: Apache-2.0
// BlockingPool: threads that run the one blocking step of the append path, the log's group
// commit (write + fdatasync), so that a reactor never waits on a disk flush and the flushes of
// its shards overlap. Seastar's reactor sends fdatasync to a syscall thread for the same
// reason. Shard state never leaves the owning reactor: a task only appends the batches it was
// given and posts the outcome back.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <semaphore>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

namespace sluice::broker::engine {

class BlockingPool {
 public:
  using Task = std::function<void()>;

  explicit BlockingPool(size_t threads);
  ~BlockingPool();  // Stop()s.
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `task` on one of the threads (FIFO hand-out; tasks may finish in any order).
  // Lock-free queue plus a semaphore to wake a sleeping thread.
  void Submit(Task task);
  // Runs every task already submitted, then joins the threads. Idempotent; Submit after Stop
  // runs the task on the caller's thread.
  void Stop();

 private:
  void Worker();

  boost::lockfree::queue<Task*> queue_{256};
  std::counting_semaphore<> ready_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> submitting_{0};  // Submit calls between their stopping_ check and push.
  std::vector<std::thread> threads_;
};

}  // namespace sluice::broker::engine
