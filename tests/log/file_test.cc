// SPDX-License-Identifier: Apache-2.0
// The File / FileSystem contract, run over every available backend.
#include "log/io/file.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/io/aligned_buffer.h"
#include "tests/support/backends.h"

namespace sluice::log::io {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

class FileTest : public ::testing::TestWithParam<Backend> {
 protected:
  FileTest() : env_(GetParam()) {}

  void SetUp() override {
    const Status s = fs()->CreateDirs(env_.Dir());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  FileSystem* fs() { return env_.fs(); }
  std::string Path(const std::string& name) { return env_.Dir() + "/" + name; }

  std::unique_ptr<File> OpenOrDie(const std::string& name, OpenOptions opts = {.create = true}) {
    auto f = fs()->Open(Path(name), opts);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  // Reads up to `n` bytes at `offset` as a string (short at end of file).
  std::string Read(const File& f, uint64_t offset, size_t n) {
    std::string out(n, '\0');
    auto r = f.ReadAt(offset, std::as_writable_bytes(std::span<char>(out.data(), n)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    out.resize(r.ok() ? *r : 0);
    return out;
  }

  testing::BackendEnv env_;
};

TEST_P(FileTest, WriteThenReadRoundTrips) {
  auto f = OpenOrDie("a");
  Status s = f->WriteAt(0, Bytes("hello "));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->WriteAt(6, Bytes("world"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(*f, 0, 11), "hello world");
  EXPECT_EQ(Read(*f, 6, 5), "world");
  auto size = f->Size();
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 11u);
  EXPECT_EQ(f->path(), Path("a"));
}

TEST_P(FileTest, ReadAtPastEndIsShort) {
  auto f = OpenOrDie("a");
  Status s = f->WriteAt(0, Bytes("abcdef"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(*f, 4, 100), "ef");
  EXPECT_EQ(Read(*f, 6, 10), "");
  EXPECT_EQ(Read(*f, 1000, 10), "");
}

TEST_P(FileTest, WriteAtAndSyncPersistsData) {
  auto f = OpenOrDie("a");
  Status s = f->WriteAtAndSync(0, Bytes("durable"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->WriteAtAndSync(7, Bytes("!"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->Sync();
  ASSERT_TRUE(s.ok()) << s.ToString();
  f.reset();
  auto g = OpenOrDie("a", {.read_only = true});
  EXPECT_EQ(Read(*g, 0, 100), "durable!");
}

TEST_P(FileTest, AllocateExtendsSizeWithZeros) {
  auto f = OpenOrDie("a");
  Status s = f->WriteAt(0, Bytes("xy"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->Allocate(0, 4096);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto size = f->Size();
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 4096u);
  const std::string got = Read(*f, 0, 4096);
  ASSERT_EQ(got.size(), 4096u);
  EXPECT_EQ(got.substr(0, 2), "xy");
  EXPECT_EQ(got.substr(2), std::string(4094, '\0'));
  // Allocating inside the file changes nothing.
  s = f->Allocate(100, 100);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*f->Size(), 4096u);
}

TEST_P(FileTest, TruncateShrinksAndExtends) {
  auto f = OpenOrDie("a");
  Status s = f->WriteAt(0, Bytes("0123456789"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->Truncate(4);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(*f, 0, 100), "0123");
  s = f->Truncate(8);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(*f, 0, 100), std::string("0123\0\0\0\0", 8));
}

TEST_P(FileTest, RenameReplacesTarget) {
  auto a = OpenOrDie("a");
  ASSERT_TRUE(a->WriteAt(0, Bytes("new")).ok());
  auto b = OpenOrDie("b");
  ASSERT_TRUE(b->WriteAt(0, Bytes("old contents")).ok());
  Status s = fs()->Rename(Path("a"), Path("b"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(fs()->Exists(Path("a")));
  auto c = OpenOrDie("b", {});
  EXPECT_EQ(Read(*c, 0, 100), "new");
}

TEST_P(FileTest, RemoveDeletesFile) {
  OpenOrDie("a");
  EXPECT_TRUE(fs()->Exists(Path("a")));
  Status s = fs()->Remove(Path("a"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(fs()->Exists(Path("a")));
  EXPECT_FALSE(fs()->Remove(Path("a")).ok());
}

TEST_P(FileTest, ListDirNamesEntries) {
  OpenOrDie("x.log");
  OpenOrDie("y.index");
  ASSERT_TRUE(fs()->CreateDirs(Path("sub/deeper")).ok());
  auto names = fs()->ListDir(env_.Dir());
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  std::vector<std::string> sorted = *names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"sub", "x.log", "y.index"}));
  EXPECT_TRUE(fs()->ListDir(Path("missing")).status().IsNotFound());
}

TEST_P(FileTest, CreateDirsIsIdempotent) {
  Status s = fs()->CreateDirs(Path("p/q/r"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = fs()->CreateDirs(Path("p/q/r"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(fs()->Exists(Path("p/q")));
}

TEST_P(FileTest, SyncDirSucceedsOnExistingDir) {
  OpenOrDie("a");
  Status s = fs()->SyncDir(env_.Dir());
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(fs()->SyncDir(Path("missing")).ok());
}

TEST_P(FileTest, ExistsReportsFilesAndDirs) {
  EXPECT_TRUE(fs()->Exists(env_.Dir()));
  EXPECT_FALSE(fs()->Exists(Path("a")));
  OpenOrDie("a");
  EXPECT_TRUE(fs()->Exists(Path("a")));
}

TEST_P(FileTest, OpenMissingWithoutCreateIsNotFound) {
  auto f = fs()->Open(Path("missing"), {});
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsNotFound()) << f.status().ToString();
  EXPECT_FALSE(fs()->Exists(Path("missing")));
}

TEST_P(FileTest, CreateDoesNotTruncate) {
  auto f = OpenOrDie("a");
  ASSERT_TRUE(f->WriteAt(0, Bytes("keep")).ok());
  f.reset();
  auto g = OpenOrDie("a");
  EXPECT_EQ(Read(*g, 0, 10), "keep");
}

TEST_P(FileTest, DirectIoUsesAlignedBuffers) {
  auto f = OpenOrDie("d", {.create = true, .direct = true});
  const size_t align = f->Alignment();
  if (GetParam() == Backend::kMemory) {
    EXPECT_EQ(align, 1u);
  }
  ASSERT_TRUE(align == 1 || align == 4096) << align;
  const size_t a = std::max<size_t>(align, 4096);
  AlignedBuffer out(a, 2 * a);
  for (size_t i = 0; i < out.capacity(); ++i) out.data()[i] = std::byte(i * 7);
  Status s = f->WriteAtAndSync(a, out.span());
  ASSERT_TRUE(s.ok()) << s.ToString();
  AlignedBuffer in(a, 2 * a);
  auto n = f->ReadAt(a, in.span());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 2 * a);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), 2 * a), 0);
  // Reading the whole aligned tail returns only what exists.
  AlignedBuffer tail(a, 4 * a);
  n = f->ReadAt(0, tail.span());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3 * a);
}

TEST_P(FileTest, LargeWriteRoundTrips) {
  constexpr size_t kSize = 8 << 20;
  std::string data(kSize, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  auto f = OpenOrDie("big");
  Status s = f->WriteAtAndSync(0, Bytes(data));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = f->WriteAt(kSize, Bytes(data));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*f->Size(), 2 * kSize);
  const std::string got = Read(*f, kSize / 2, kSize);
  ASSERT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == data.substr(kSize / 2) + data.substr(0, kSize / 2));
}

// SLUICE_IO_BACKEND overrides kAuto only.
TEST(MakeFileSystemTest, EnvironmentOverridesAuto) {
  ASSERT_EQ(setenv("SLUICE_IO_BACKEND", "memory", 1), 0);
  auto fs = MakeFileSystem(Backend::kAuto);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_STREQ((*fs)->name(), "memory");
  auto posix = MakeFileSystem(Backend::kPosix);
  ASSERT_TRUE(posix.ok()) << posix.status().ToString();
  EXPECT_STREQ((*posix)->name(), "posix");
  ASSERT_EQ(setenv("SLUICE_IO_BACKEND", "floppy", 1), 0);
  EXPECT_TRUE(MakeFileSystem(Backend::kAuto).status().IsInvalidArgument());
  ASSERT_EQ(unsetenv("SLUICE_IO_BACKEND"), 0);
  fs = MakeFileSystem(Backend::kAuto);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_NE(std::string((*fs)->name()), "memory");
}

INSTANTIATE_TEST_SUITE_P(Backends, FileTest, ::testing::ValuesIn(testing::AvailableBackends()),
                         testing::BackendName);

}  // namespace
}  // namespace sluice::log::io
