// SPDX-License-Identifier: Apache-2.0
// MakeFileSystem: picks the file backend.
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

#include "log/io/file.h"
#include "log/io/memory_file.h"
#include "log/io/posix_file.h"
#include "log/io/uring_file.h"

namespace sluice::log::io {
namespace {

// SLUICE_IO_BACKEND=posix|uring|memory overrides Backend::kAuto (only kAuto), e.g. to run a
// broker on POSIX I/O for comparison, or a whole test suite in memory. Unset or empty means
// no override; any other value is an InvalidArgument error.
Result<Backend> ResolveAuto() {
  const char* env = std::getenv("SLUICE_IO_BACKEND");
  if (env == nullptr || *env == '\0') return Backend::kAuto;
  const std::string_view v(env);
  if (v == "posix") return Backend::kPosix;
  if (v == "uring") return Backend::kUring;
  if (v == "memory") return Backend::kMemory;
  return Status::InvalidArgument("SLUICE_IO_BACKEND=" + std::string(v) +
                                 ": expected posix, uring or memory");
}

}  // namespace

Result<std::unique_ptr<FileSystem>> MakeFileSystem(Backend backend) {
  if (backend == Backend::kAuto) {
    SLUICE_ASSIGN_OR_RETURN(backend, ResolveAuto());
  }
  switch (backend) {
    case Backend::kAuto: {
      auto uring = UringFileSystem::Create();
      if (uring.ok()) return std::unique_ptr<FileSystem>(std::move(uring).value());
      // The probe is cached, so the reason cannot change: say it once per process.
      static std::once_flag logged;
      std::call_once(logged, [&] {
        std::string_view reason = uring.status().message();
        constexpr std::string_view kPrefix = "io_uring unavailable: ";
        if (reason.starts_with(kPrefix)) reason.remove_prefix(kPrefix.size());
        std::fprintf(stderr, "sluice: io_uring unavailable (%.*s); using POSIX file I/O\n",
                     static_cast<int>(reason.size()), reason.data());
      });
      return std::unique_ptr<FileSystem>(std::make_unique<PosixFileSystem>());
    }
    case Backend::kUring: {
      SLUICE_ASSIGN_OR_RETURN(auto uring, UringFileSystem::Create());
      return std::unique_ptr<FileSystem>(std::move(uring));
    }
    case Backend::kPosix:
      return std::unique_ptr<FileSystem>(std::make_unique<PosixFileSystem>());
    case Backend::kMemory:
      return std::unique_ptr<FileSystem>(std::make_unique<MemoryFileSystem>());
  }
  return Status::InvalidArgument("unknown file backend");
}

}  // namespace sluice::log::io
