// SPDX-License-Identifier: Apache-2.0
#include "log/io/uring.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <string>
#include <unistd.h>

#include <liburing.h>

#include "log/base/check.h"
#include "log/base/result.h"

namespace sluice::log::io {
namespace {

constexpr unsigned kRingEntries = kUringMaxRequests;

// Creates a ring with the cheapest completion mode the kernel accepts: SINGLE_ISSUER |
// DEFER_TASKRUN (6.1+), COOP_TASKRUN (5.19+), then plain. Older kernels reject unknown
// flags with EINVAL; any other error is final. Returns 0 or -errno.
int CreateRing(io_uring* ring) {
  constexpr unsigned kFlagSets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                    IORING_SETUP_COOP_TASKRUN, 0};
  int rc = -EINVAL;
  for (const unsigned flags : kFlagSets) {
    rc = io_uring_queue_init(kRingEntries, ring, flags);
    if (rc != -EINVAL) break;
  }
  return rc;
}

Status RingInitError(int rc) {
  std::string msg = "io_uring unavailable: io_uring_queue_init failed: ";
  msg += std::strerror(-rc);
  if (rc == -EPERM) msg += " (disabled by the kernel.io_uring_disabled sysctl or seccomp)";
  if (rc == -ENOSYS) msg += " (kernel built without io_uring)";
  return Status::Unavailable(msg);
}

Status RunProbe() {
  io_uring ring;
  const int rc = CreateRing(&ring);
  if (rc < 0) return RingInitError(rc);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  io_uring_queue_exit(&ring);
  if (probe == nullptr) {
    return Status::Unavailable("io_uring unavailable: opcode probe failed (kernel before 5.6)");
  }
  struct Required {
    int op;
    const char* name;
  };
  constexpr Required kRequired[] = {{IORING_OP_READ, "IORING_OP_READ"},
                                    {IORING_OP_WRITE, "IORING_OP_WRITE"},
                                    {IORING_OP_FSYNC, "IORING_OP_FSYNC"},
                                    {IORING_OP_FALLOCATE, "IORING_OP_FALLOCATE"}};
  std::string missing;
  for (const Required& r : kRequired) {
    if (io_uring_opcode_supported(probe, r.op)) continue;
    if (!missing.empty()) missing += ", ";
    missing += r.name;
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) {
    return Status::Unavailable("io_uring unavailable: kernel lacks " + missing);
  }
  return Status::OK();
}

// The calling thread's ring, created on first use and closed at thread exit. Never moved:
// the kernel maps its rings into this object's memory.
// Set when this thread's ring has been destroyed at thread exit; trivially destructible, so
// it stays readable by destructors that run later (a Log closed by a static destructor).
thread_local bool t_ring_gone = false;

class ThreadRing {
 public:
  ThreadRing() = default;
  ~ThreadRing() {
    Reset();
    t_ring_gone = true;
  }
  ThreadRing(const ThreadRing&) = delete;
  ThreadRing& operator=(const ThreadRing&) = delete;

  Status Get(io_uring** out) {
    if (!ready_) {
      SLUICE_TRY(UringProbe());
      const int rc = CreateRing(&ring_);
      if (rc < 0) return RingInitError(rc);
      ready_ = true;
    }
    *out = &ring_;
    return Status::OK();
  }
  // Closes the ring (dropping any SQEs never submitted); the next Get() makes a new one.
  void Reset() {
    if (ready_) io_uring_queue_exit(&ring_);
    ready_ = false;
  }
  bool ready() const { return ready_; }

 private:
  io_uring ring_{};
  bool ready_ = false;
};

thread_local ThreadRing t_ring;

// The one place a neutral request becomes an SQE (seastar's prepare_sqe).
void PrepareSqe(io_uring_sqe* sqe, const IoRequest& r) {
  switch (r.op) {
    case IoRequest::Op::kRead:
      SLUICE_CHECK(r.length <= kUringMaxLength, "read longer than kUringMaxLength");
      io_uring_prep_read(sqe, r.fd, r.buffer, static_cast<unsigned>(r.length), r.offset);
      break;
    case IoRequest::Op::kWrite:
      SLUICE_CHECK(r.length <= kUringMaxLength, "write longer than kUringMaxLength");
      io_uring_prep_write(sqe, r.fd, r.buffer, static_cast<unsigned>(r.length), r.offset);
      break;
    case IoRequest::Op::kFsyncData:
      io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC);
      break;
    case IoRequest::Op::kFallocate:
      io_uring_prep_fallocate(sqe, r.fd, 0, static_cast<off_t>(r.offset),
                              static_cast<off_t>(r.length));
      break;
  }
  if (r.link) sqe->flags |= IOSQE_IO_LINK;
}

bool Transient(int rc) { return rc == -EINTR || rc == -EAGAIN || rc == -EBUSY; }

// Waits for one completion and records it. A failure here would leave the kernel writing
// into buffers we are about to give back, so it is fatal.
void ReapOne(io_uring* ring, std::span<int32_t> results) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  while ((rc = io_uring_wait_cqe(ring, &cqe)) < 0) {
    SLUICE_CHECK(Transient(rc), "io_uring_wait_cqe failed with requests in flight");
  }
  const uint64_t index = io_uring_cqe_get_data64(cqe);
  SLUICE_CHECK(index < results.size(), "completion for an unknown request");
  results[index] = cqe->res;
  io_uring_cqe_seen(ring, cqe);
}

}  // namespace

const Status& UringProbe() {
  static const Status probe = RunProbe();
  return probe;
}

// Runs requests with plain system calls, keeping link semantics: used only after this thread's
// ring is gone (I/O issued from destructors at thread or process exit).
void RunWithSyscalls(std::span<const IoRequest> requests, std::span<int32_t> results) {
  bool cancel = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    const IoRequest& r = requests[i];
    int64_t rc = -ECANCELED;
    if (!cancel) {
      switch (r.op) {
        case IoRequest::Op::kRead:
          rc = pread(r.fd, r.buffer, r.length, static_cast<off_t>(r.offset));
          break;
        case IoRequest::Op::kWrite:
          rc = pwrite(r.fd, r.buffer, r.length, static_cast<off_t>(r.offset));
          break;
        case IoRequest::Op::kFsyncData:
          rc = fdatasync(r.fd);
          break;
        case IoRequest::Op::kFallocate:
          rc = fallocate(r.fd, 0, static_cast<off_t>(r.offset), static_cast<off_t>(r.length));
          break;
      }
      if (rc < 0) rc = -errno;
    }
    results[i] = static_cast<int32_t>(rc);
    bool short_io = (r.op == IoRequest::Op::kRead || r.op == IoRequest::Op::kWrite) && rc >= 0 &&
                    static_cast<uint64_t>(rc) < r.length;
    cancel = r.link && (cancel || rc < 0 || short_io);
  }
}

Status UringSubmitAndWait(std::span<const IoRequest> requests, std::span<int32_t> results) {
  const size_t n = requests.size();
  SLUICE_CHECK(n <= kUringMaxRequests, "too many requests for one submission");
  SLUICE_CHECK(results.size() >= n, "results shorter than requests");
  if (n == 0) return Status::OK();
  if (t_ring_gone) {
    RunWithSyscalls(requests, results);
    return Status::OK();
  }
  io_uring* ring = nullptr;
  SLUICE_TRY(t_ring.Get(&ring));

  // Invariant: the SQ and CQ rings are empty between calls, so all n SQEs fit.
  for (size_t i = 0; i < n; ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    SLUICE_CHECK(sqe != nullptr, "submission queue full");
    PrepareSqe(sqe, requests[i]);
    io_uring_sqe_set_data64(sqe, i);
    results[i] = -ECANCELED;
  }
  size_t submitted = 0;
  size_t completed = 0;
  Status error;
  while (submitted < n) {
    // One system call submits and waits for everything in the common case.
    const int rc = io_uring_submit_and_wait(ring, static_cast<unsigned>(n - submitted));
    if (rc > 0) {
      submitted += static_cast<size_t>(rc);
    } else if (rc == 0 || Transient(rc)) {
      // Out of kernel resources or interrupted: free some by reaping, else yield and retry.
      if (completed < submitted) {
        ReapOne(ring, results);
        ++completed;
      } else {
        sched_yield();
      }
    } else {
      error = Status::FromErrno(-rc, "io_uring_enter");
      break;
    }
  }
  for (; completed < submitted; ++completed) ReapOne(ring, results);
  if (!error.ok()) t_ring.Reset();  // Never submit the SQEs left behind.
  return error;
}

const void* UringThreadRingId() { return t_ring.ready() ? &t_ring : nullptr; }

}  // namespace sluice::log::io
