// SPDX-License-Identifier: Apache-2.0
#include "broker/engine/blocking_pool.h"

#include <memory>
#include <utility>

namespace sluice::broker::engine {

BlockingPool::BlockingPool(size_t threads) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Worker(); });
}

BlockingPool::~BlockingPool() { Stop(); }

void BlockingPool::Submit(Task task) {
  // submitting_ lets Stop wait for a Submit that saw the pool running to finish its push.
  // Sequentially consistent on purpose (a store-load handshake with Stop).
  submitting_.fetch_add(1);
  if (stopping_.load()) {
    submitting_.fetch_sub(1);
    task();
    return;
  }
  queue_.push(new Task(std::move(task)));
  ready_.release();
  submitting_.fetch_sub(1);
}

void BlockingPool::Stop() {
  if (stopping_.exchange(true)) return;
  ready_.release(static_cast<std::ptrdiff_t>(threads_.size()));
  for (std::thread& t : threads_) t.join();
  while (submitting_.load() > 0) std::this_thread::yield();
  Task* t = nullptr;
  while (queue_.pop(t)) {  // Submitted while the threads were leaving.
    std::unique_ptr<Task> owned(t);
    (*owned)();
  }
}

void BlockingPool::Worker() {
  for (;;) {
    ready_.acquire();
    Task* t = nullptr;
    while (queue_.pop(t)) {
      std::unique_ptr<Task> owned(t);
      (*owned)();
    }
    if (stopping_.load(std::memory_order_acquire)) return;
  }
}

}  // namespace sluice::broker::engine
