// SPDX-License-Identifier: Apache-2.0
// BlockingPool: every submitted task runs exactly once, in parallel, including those still
// queued at Stop().
#include "broker/engine/blocking_pool.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::broker::engine {
namespace {

TEST(BlockingPoolTest, RunsEveryTaskOnceFromManySubmitters) {
  std::atomic<int> ran{0};
  {
    BlockingPool pool(4);
    std::vector<std::thread> submitters;
    for (int t = 0; t < 4; ++t) {
      submitters.emplace_back([&] {
        for (int i = 0; i < 2500; ++i) pool.Submit([&] { ran.fetch_add(1); });
      });
    }
    for (auto& t : submitters) t.join();
  }  // The destructor Stop()s: queued tasks still run.
  EXPECT_EQ(ran.load(), 10'000);
}

TEST(BlockingPoolTest, BlockingTasksOverlap) {
  BlockingPool pool(4);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    pool.Submit([&] {
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      // Like an fdatasync: the thread waits, the others keep going.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      inside.fetch_sub(1);
      done.fetch_add(1);
    });
  }
  pool.Stop();
  EXPECT_EQ(done.load(), 4);
  EXPECT_GT(most.load(), 1);  // Not one after another.
}

TEST(BlockingPoolTest, SubmitAfterStopRunsOnTheCaller) {
  BlockingPool pool(2);
  pool.Stop();
  pool.Stop();  // Idempotent.
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  pool.Submit([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, caller);
}

}  // namespace
}  // namespace sluice::broker::engine
