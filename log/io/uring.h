// SPDX-License-Identifier: Apache-2.0
// The io_uring layer: a lazily created ring per thread, an opcode probe, and a synchronous
// "submit these requests and wait for all of them" call. The only place that includes
// <liburing.h> (in uring.cc); this header is free of liburing types.
#pragma once

#include <cstdint>
#include <span>

#include "log/base/status.h"

namespace sluice::log::io {

// A neutral description of one I/O, turned into an SQE by PrepareSqe in uring.cc.
struct IoRequest {
  enum class Op : uint8_t {
    kRead,       // read(fd, buffer, length) at offset.
    kWrite,      // write(fd, buffer, length) at offset.
    kFsyncData,  // fdatasync(fd); offset, buffer and length unused.
    kFallocate,  // fallocate(fd, 0, offset, length); buffer unused.
  };
  Op op = Op::kRead;
  int fd = -1;
  uint64_t offset = 0;
  void* buffer = nullptr;  // Borrowed; must stay live until UringSubmitAndWait returns.
  // Bytes for read/write (at most kUringMaxLength); the range length for fallocate.
  uint64_t length = 0;
  // Links the next request to this one (IOSQE_IO_LINK): it starts only after this one
  // completes in full, and completes with -ECANCELED when this one fails or is short.
  bool link = false;
};

// Largest number of requests per UringSubmitAndWait call (the ring size).
inline constexpr size_t kUringMaxRequests = 256;
// Largest read/write length one request may carry; longer I/O is split by the caller.
inline constexpr uint32_t kUringMaxLength = uint32_t{1} << 30;

// Whether io_uring can be used: a ring can be created (io_uring_disabled sysctl, seccomp and
// old kernels can forbid it) and it supports READ, WRITE, FSYNC and FALLOCATE. Runs once per
// process on first call; later calls, from any thread, return the same cached object.
// Unavailable carries one message naming what is missing.
const Status& UringProbe();

// Submits `requests` (at most kUringMaxRequests) on the calling thread's ring, creating the
// ring on first use, and waits until every one has completed. results[i] receives the CQE
// result of requests[i]: bytes transferred (possibly short) or -errno, -ECANCELED for a
// broken link. -EAGAIN and -EINTR in a result are left to the caller to retry. A non-OK
// Status means the ring itself failed (or could not be created); results are then undefined,
// but no request is still in flight. Blocking; call only from threads that may block.
Status UringSubmitAndWait(std::span<const IoRequest> requests, std::span<int32_t> results);

// An identifier of the calling thread's ring (nullptr before its first use), for tests that
// check rings are per thread.
const void* UringThreadRingId();

}  // namespace sluice::log::io
