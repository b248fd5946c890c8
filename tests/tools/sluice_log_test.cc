// SPDX-License-Identifier: Apache-2.0
// The sluice-log tool against real log directories: dump and verify, healthy and damaged.
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "log/filename.h"
#include "log/log.h"
#include "tests/support/batches.h"
#include "tests/support/temp_dir.h"

namespace sluice::tools {
namespace {

struct ToolRun {
  int code;
  std::string out;
};

ToolRun RunTool(const std::string& args) {
  std::string cmd = std::string(SLUICE_LOG_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ToolRun r{-1, ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class SluiceLogToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fs = log::io::MakeFileSystem(log::io::Backend::kPosix);
    ASSERT_TRUE(fs.ok());
    fs_ = std::move(fs).value();
    log::LogOptions opts;
    opts.segment_bytes = 16 << 10;
    opts.logger = [](std::string_view) {};
    auto l = log::Log::Open(fs_.get(), dir(), opts);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    for (int i = 0; i < 40; ++i) {
      std::string b = testing::MakeBatch(i, 10, 50);
      ASSERT_TRUE((*l)->Append(log::AsBytes(b)).ok());
    }
    ASSERT_TRUE((*l)->Close().ok());
  }
  std::string dir() const { return tmp_.Sub("shard"); }

  testing::TempDir tmp_;
  std::unique_ptr<log::io::FileSystem> fs_;
};

TEST_F(SluiceLogToolTest, VerifyPassesOnHealthyLog) {
  ToolRun r = RunTool("verify " + dir());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("400 record(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 problem(s)"), std::string::npos) << r.out;
}

TEST_F(SluiceLogToolTest, DumpPrintsBatchesAndRecords) {
  ToolRun r = RunTool("dump --records " + log::SegmentFileName(dir(), SegmentId(0)));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("batch offsets=[0,9] count=10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("value=v0-3"), std::string::npos) << r.out;
  ToolRun idx = RunTool("dump " + log::IndexFileName(dir(), SegmentId(0)));
  EXPECT_EQ(idx.code, 0) << idx.out;
  EXPECT_NE(idx.out.find("clean=1"), std::string::npos) << idx.out;
}

TEST_F(SluiceLogToolTest, VerifyReportsCorruptionWithPosition) {
  std::string seg = log::SegmentFileName(dir(), SegmentId(0));
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 200);
    char c = 0x5a;
    f.write(&c, 1);
  }
  ToolRun r = RunTool("verify -q " + dir());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("PROBLEM " + seg + ":4096"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
}

TEST_F(SluiceLogToolTest, RejectsBadArguments) {
  EXPECT_NE(RunTool("verify /nonexistent/dir").code, 0);
  EXPECT_NE(RunTool("dump /etc/hostname").code, 0);
  EXPECT_NE(RunTool("frobnicate").code, 0);
}

}  // namespace
}  // namespace sluice::tools
