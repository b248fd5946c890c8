// SPDX-License-Identifier: Apache-2.0
// io_uring backend: per-thread rings under concurrent use, the cached probe, MakeFileSystem.
#include "log/io/uring.h"

#include <csignal>
#include <fcntl.h>
#include <set>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "log/io/file.h"
#include "log/io/uring_file.h"
#include "log/log.h"
#include "tests/support/batches.h"
#include "tests/support/temp_dir.h"

namespace sluice::log::io {
namespace {

class UringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!UringProbe().ok()) GTEST_SKIP() << UringProbe().ToString();
  }
  testing::TempDir tmp_;
};

TEST_F(UringTest, ProbeResultIsCached) {
  const Status* first = &UringProbe();
  const Status* from_thread = nullptr;
  std::thread t([&] { from_thread = &UringProbe(); });
  t.join();
  EXPECT_EQ(first, &UringProbe());
  EXPECT_EQ(first, from_thread);
}

TEST_F(UringTest, MakeFileSystemUringWorks) {
  auto fs = MakeFileSystem(Backend::kUring);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_STREQ((*fs)->name(), "io_uring");
  auto f = (*fs)->Open(tmp_.Sub("a"), {.create = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const std::string data = "ring";
  Status s = (*f)->WriteAtAndSync(0, std::as_bytes(std::span(data)));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*(*f)->Size(), 4u);
}

TEST_F(UringTest, SubmitReportsPerRequestResults) {
  auto fs = UringFileSystem::Create();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  // A bad descriptor fails its own request; the linked fsync after it is cancelled.
  char buf[4] = {'a', 'b', 'c', 'd'};
  const IoRequest reqs[3] = {
      {.op = IoRequest::Op::kWrite, .fd = -1, .buffer = buf, .length = 4, .link = true},
      {.op = IoRequest::Op::kFsyncData, .fd = -1},
      {.op = IoRequest::Op::kFsyncData, .fd = -1}};
  int32_t res[3] = {1, 1, 1};
  Status s = UringSubmitAndWait(reqs, res);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(res[0], -EBADF);
  EXPECT_EQ(res[1], -ECANCELED);
  EXPECT_EQ(res[2], -EBADF);
  EXPECT_NE(UringThreadRingId(), nullptr);
}

// WriteAtAndSync relies on this: a short write breaks the link, cancelling the fsync.
TEST_F(UringTest, ShortWriteCancelsLinkedFsync) {
  auto fs = UringFileSystem::Create();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  const int fd = ::open(tmp_.Sub("short").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  // RLIMIT_FSIZE makes a write crossing the limit short (SIGXFSZ ignored, as EFBIG).
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  char buf[4096] = {};
  const IoRequest reqs[2] = {
      {.op = IoRequest::Op::kWrite, .fd = fd, .buffer = buf, .length = sizeof(buf), .link = true},
      {.op = IoRequest::Op::kFsyncData, .fd = fd}};
  int32_t res[2];
  const Status s = UringSubmitAndWait(reqs, res);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  ::close(fd);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(res[0], 1000);
  EXPECT_EQ(res[1], -ECANCELED);
}

// Four threads write and read distinct files through one UringFileSystem; each must get its
// own ring.
TEST_F(UringTest, ThreadsUseTheirOwnRings) {
  constexpr int kThreads = 4;
  constexpr int kRecords = 200;
  auto made = UringFileSystem::Create();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  FileSystem* fs = made->get();
  std::vector<const void*> rings(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto f = fs->Open(tmp_.Sub("f" + std::to_string(t)), {.create = true});
      if (!f.ok()) {
        errors[t] = f.status().ToString();
        return;
      }
      const std::string record(100 + t, static_cast<char>('a' + t));
      for (int i = 0; i < kRecords; ++i) {
        const uint64_t off = static_cast<uint64_t>(i) * record.size();
        Status s = (i % 10 == 0) ? (*f)->WriteAtAndSync(off, std::as_bytes(std::span(record)))
                                 : (*f)->WriteAt(off, std::as_bytes(std::span(record)));
        if (!s.ok()) {
          errors[t] = s.ToString();
          return;
        }
        std::string back(record.size(), '\0');
        auto n = (*f)->ReadAt(off, std::as_writable_bytes(std::span(back)));
        if (!n.ok() || *n != record.size() || back != record) {
          errors[t] = "read back mismatch at record " + std::to_string(i);
          return;
        }
      }
      rings[t] = UringThreadRingId();
      if (rings[t] != UringThreadRingId()) errors[t] = "ring changed within a thread";
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  const std::set<const void*> distinct(rings.begin(), rings.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(distinct.count(nullptr), 0u);
}

// Regression: a Log closed by a static destructor, after the thread's ring was destroyed at
// exit, used the destroyed ring and crashed (found by bench/log_append_bench).
TEST_F(UringTest, LogClosedByStaticDestructorAtExitSyncsCleanly) {
  testing::TempDir tmp;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    static std::unique_ptr<FileSystem> fs = std::move(MakeFileSystem(Backend::kUring)).value();
    static std::unique_ptr<log::Log> l;
    log::LogOptions opts;
    opts.durability = log::Durability::Never();
    l = std::move(log::Log::Open(fs.get(), tmp.Sub("shard"), opts)).value();
    std::string b = sluice::testing::MakeBatch(1, 3);
    if (!l->Append(log::AsBytes(b)).ok()) _exit(3);
    std::exit(0);  // Thread-locals die first, then `l` closes (and syncs) in a static dtor.
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto fs = MakeFileSystem(Backend::kPosix);
  log::LogOptions opts;
  auto l = log::Log::Open(fs->get(), tmp.Sub("shard"), opts);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)->next_offset(), SequenceNumber(3));
  EXPECT_TRUE((*l)->recovery_report().clean());
}

}  // namespace
}  // namespace sluice::log::io
