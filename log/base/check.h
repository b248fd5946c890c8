// SPDX-License-Identifier: Apache-2.0
// SLUICE_CHECK: invariants that must hold; a broken one aborts with a message.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace sluice::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* cond,
                                     const char* msg) {
  std::fprintf(stderr, "%s:%d: SLUICE_CHECK(%s) failed: %s\n", file, line, cond, msg);
  std::abort();
}
}  // namespace sluice::internal

// Aborts when `cond` is false. `msg` is a plain C string describing the broken invariant.
#define SLUICE_CHECK(cond, msg)                                          \
  do {                                                                   \
    if (__builtin_expect(!(cond), 0)) {                                  \
      ::sluice::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
    }                                                                    \
  } while (0)
