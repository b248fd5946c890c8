// SPDX-License-Identifier: Apache-2.0
// Helpers to run one test body over every file backend (TEST_P): io_uring, POSIX, memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/io/file.h"
#include "log/io/memory_file.h"
#include "tests/support/temp_dir.h"

namespace sluice::testing {

// The backends available on this machine: io_uring only when the kernel allows it.
std::vector<log::io::Backend> AvailableBackends();
std::string BackendName(const ::testing::TestParamInfo<log::io::Backend>& info);

// A file system of one backend rooted at a fresh temporary directory (a path prefix in
// memory). memory() is non-null only for the memory backend.
class BackendEnv {
 public:
  explicit BackendEnv(log::io::Backend backend);
  log::io::FileSystem* fs() { return fs_.get(); }
  log::io::MemoryFileSystem* memory() { return memory_; }
  // A directory for the test (not yet created).
  std::string Dir(const std::string& name = "log") const { return root_ + "/" + name; }

 private:
  TempDir tmp_;
  std::unique_ptr<log::io::FileSystem> fs_;
  log::io::MemoryFileSystem* memory_ = nullptr;
  std::string root_;
};

}  // namespace sluice::testing
