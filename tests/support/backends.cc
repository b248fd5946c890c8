// SPDX-License-Identifier: Apache-2.0
#include "tests/support/backends.h"

namespace sluice::testing {

std::vector<log::io::Backend> AvailableBackends() {
  std::vector<log::io::Backend> out;
  if (log::io::MakeFileSystem(log::io::Backend::kUring).ok()) {
    out.push_back(log::io::Backend::kUring);
  }
  out.push_back(log::io::Backend::kPosix);
  out.push_back(log::io::Backend::kMemory);
  return out;
}

std::string BackendName(const ::testing::TestParamInfo<log::io::Backend>& info) {
  switch (info.param) {
    case log::io::Backend::kUring:
      return "Uring";
    case log::io::Backend::kPosix:
      return "Posix";
    case log::io::Backend::kMemory:
      return "Memory";
    case log::io::Backend::kAuto:
      return "Auto";
  }
  return "Unknown";
}

BackendEnv::BackendEnv(log::io::Backend backend) {
  auto fs = log::io::MakeFileSystem(backend);
  SLUICE_CHECK(fs.ok(), "backend unavailable");
  fs_ = std::move(fs).value();
  if (backend == log::io::Backend::kMemory) {
    memory_ = static_cast<log::io::MemoryFileSystem*>(fs_.get());
    root_ = "/mem";
  } else {
    root_ = tmp_.path();
  }
}

}  // namespace sluice::testing
