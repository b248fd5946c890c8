// SPDX-License-Identifier: Apache-2.0
// MemoryFileSystem fault injection and its crash model.
#include "log/io/memory_file.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace sluice::log::io {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

class MemoryFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Status s = fs_.CreateDirs("/d");
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<File> OpenOrDie(const std::string& path, OpenOptions opts = {.create = true}) {
    auto f = fs_.Open(path, opts);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  std::string ContentsOrDie(const std::string& path) {
    auto c = fs_.Contents(path);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : "";
  }

  MemoryFileSystem fs_;
};

TEST_F(MemoryFileTest, FailNextWritesFailsAndChangesNothing) {
  auto f = OpenOrDie("/d/a");
  fs_.FailNextWrites(2, Status::IOError("injected"));
  EXPECT_TRUE(f->WriteAt(0, Bytes("x")).IsIOError());
  EXPECT_TRUE(f->Sync().IsIOError());
  EXPECT_EQ(fs_.sync_count(), 0u);
  EXPECT_EQ(ContentsOrDie("/d/a"), "");
  Status s = f->WriteAt(0, Bytes("ok"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ContentsOrDie("/d/a"), "ok");
}

TEST_F(MemoryFileTest, FailNextWritesCoversTruncateAndAllocate) {
  auto f = OpenOrDie("/d/a");
  fs_.FailNextWrites(3, Status::NoSpace("full"));
  EXPECT_TRUE(f->Truncate(10).IsNoSpace());
  EXPECT_TRUE(f->Allocate(0, 10).IsNoSpace());
  EXPECT_TRUE(f->WriteAtAndSync(0, Bytes("x")).IsNoSpace());
  EXPECT_EQ(*f->Size(), 0u);
}

TEST_F(MemoryFileTest, ShortWriteNextKeepsPrefix) {
  auto f = OpenOrDie("/d/a");
  fs_.ShortWriteNext(3);
  EXPECT_TRUE(f->WriteAt(0, Bytes("abcdef")).IsIOError());
  EXPECT_EQ(ContentsOrDie("/d/a"), "abc");
  Status s = f->WriteAt(3, Bytes("def"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ContentsOrDie("/d/a"), "abcdef");
}

TEST_F(MemoryFileTest, CapacityStoresWhatFitsThenNoSpace) {
  auto a = OpenOrDie("/d/a");
  auto b = OpenOrDie("/d/b");
  fs_.SetCapacity(10);
  ASSERT_TRUE(a->WriteAt(0, Bytes("123456")).ok());
  const Status s = b->WriteAt(0, Bytes("abcdefgh"));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(ContentsOrDie("/d/b"), "abcd");
  // Overwriting in place needs no space; Allocate beyond capacity stores nothing.
  EXPECT_TRUE(a->WriteAt(0, Bytes("XY")).ok());
  EXPECT_TRUE(a->Allocate(0, 100).IsNoSpace());
  EXPECT_EQ(*a->Size(), 6u);
  fs_.SetCapacity(UINT64_MAX);
  EXPECT_TRUE(b->WriteAt(4, Bytes("efgh")).ok());
  EXPECT_EQ(ContentsOrDie("/d/b"), "abcdefgh");
}

TEST_F(MemoryFileTest, FailNextReadsFailsThatPathOnly) {
  auto a = OpenOrDie("/d/a");
  auto b = OpenOrDie("/d/b");
  ASSERT_TRUE(a->WriteAt(0, Bytes("aa")).ok());
  ASSERT_TRUE(b->WriteAt(0, Bytes("bb")).ok());
  fs_.FailNextReads("/d/a", 1);
  std::byte buf[2];
  EXPECT_TRUE(b->ReadAt(0, buf).ok());
  EXPECT_TRUE(a->ReadAt(0, buf).status().IsIOError());
  auto r = a->ReadAt(0, buf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 2u);
}

TEST_F(MemoryFileTest, FlipBitChangesCurrentAndSyncedBytes) {
  auto f = OpenOrDie("/d/a");
  ASSERT_TRUE(f->WriteAtAndSync(0, Bytes("A")).ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  Status s = fs_.FlipBit("/d/a", 0, 1);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ContentsOrDie("/d/a"), "C");
  fs_.Crash();
  EXPECT_EQ(ContentsOrDie("/d/a"), "C");
  EXPECT_TRUE(fs_.FlipBit("/d/a", 5, 0).IsInvalidArgument());
  EXPECT_TRUE(fs_.FlipBit("/d/missing", 0, 0).IsNotFound());
}

TEST_F(MemoryFileTest, CrashDropsUnsyncedBytes) {
  auto f = OpenOrDie("/d/a");
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  ASSERT_TRUE(f->WriteAt(0, Bytes("synced")).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(6, Bytes("+lost")).ok());
  EXPECT_EQ(fs_.UnsyncedBytes(), 5u);
  fs_.Crash();
  EXPECT_EQ(ContentsOrDie("/d/a"), "synced");
  EXPECT_EQ(fs_.UnsyncedBytes(), 0u);
}

TEST_F(MemoryFileTest, CrashUndoesUnsyncedCreate) {
  auto f = OpenOrDie("/d/a");
  ASSERT_TRUE(f->WriteAtAndSync(0, Bytes("data")).ok());
  fs_.Crash();  // File synced, directory not: the name is lost.
  EXPECT_FALSE(fs_.Exists("/d/a"));
  auto g = OpenOrDie("/d/b");
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  fs_.Crash();
  EXPECT_TRUE(fs_.Exists("/d/b"));
}

TEST_F(MemoryFileTest, CrashUndoesUnsyncedRenameAndRemove) {
  ASSERT_TRUE(fs_.SetContents("/d/a", "A").ok());
  ASSERT_TRUE(fs_.SetContents("/d/b", "B").ok());
  ASSERT_TRUE(fs_.Rename("/d/a", "/d/c").ok());
  ASSERT_TRUE(fs_.Remove("/d/b").ok());
  EXPECT_FALSE(fs_.Exists("/d/a"));
  EXPECT_FALSE(fs_.Exists("/d/b"));
  fs_.Crash();
  EXPECT_EQ(ContentsOrDie("/d/a"), "A");
  EXPECT_EQ(ContentsOrDie("/d/b"), "B");
  EXPECT_FALSE(fs_.Exists("/d/c"));
  // After SyncDir the rename survives.
  ASSERT_TRUE(fs_.Rename("/d/a", "/d/c").ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  fs_.Crash();
  EXPECT_FALSE(fs_.Exists("/d/a"));
  EXPECT_EQ(ContentsOrDie("/d/c"), "A");
}

TEST_F(MemoryFileTest, HandleIsStaleAfterCrash) {
  auto f = OpenOrDie("/d/a");
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  fs_.Crash();
  std::byte buf[1];
  EXPECT_TRUE(f->WriteAt(0, Bytes("x")).IsIOError());
  EXPECT_TRUE(f->ReadAt(0, buf).status().IsIOError());
  EXPECT_TRUE(f->Sync().IsIOError());
  EXPECT_TRUE(f->Size().status().IsIOError());
  auto g = OpenOrDie("/d/a", {});
  EXPECT_TRUE(g->WriteAt(0, Bytes("x")).ok());
}

TEST_F(MemoryFileTest, UnsyncedBytesAndSyncCountTrackSyncs) {
  auto a = OpenOrDie("/d/a");
  auto b = OpenOrDie("/d/b");
  ASSERT_TRUE(a->WriteAt(0, Bytes("1234")).ok());
  ASSERT_TRUE(b->WriteAt(0, Bytes("56")).ok());
  EXPECT_EQ(fs_.UnsyncedBytes(), 6u);
  EXPECT_EQ(fs_.sync_count(), 0u);
  ASSERT_TRUE(a->Sync().ok());
  EXPECT_EQ(fs_.UnsyncedBytes(), 2u);
  ASSERT_TRUE(b->WriteAtAndSync(2, Bytes("78")).ok());
  EXPECT_EQ(fs_.UnsyncedBytes(), 0u);
  EXPECT_EQ(fs_.sync_count(), 2u);
}

TEST_F(MemoryFileTest, OpenNeedsExistingDirectory) {
  EXPECT_TRUE(fs_.Open("/nodir/a", {.create = true}).status().IsNotFound());
  EXPECT_TRUE(fs_.Open("/d/missing", {}).status().IsNotFound());
  EXPECT_FALSE(fs_.Exists("/d/missing"));
}

TEST_F(MemoryFileTest, ReadOnlyHandleRejectsWrites) {
  ASSERT_TRUE(fs_.SetContents("/d/a", "x").ok());
  auto f = OpenOrDie("/d/a", {.read_only = true});
  EXPECT_TRUE(f->WriteAt(0, Bytes("y")).IsIOError());
  EXPECT_EQ(ContentsOrDie("/d/a"), "x");
}

TEST_F(MemoryFileTest, AlignmentIsOneEvenWhenDirect) {
  auto f = OpenOrDie("/d/a", {.create = true, .direct = true});
  EXPECT_EQ(f->Alignment(), 1u);
}

}  // namespace
}  // namespace sluice::log::io
