// SPDX-License-Identifier: Apache-2.0
// MetadataStore: persistence over every backend, damage reporting, and crash safety.
#include "broker/metadata_store.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "log/io/memory_file.h"
#include "tests/support/backends.h"

namespace sluice::broker {
namespace {

using log::io::Backend;
using log::io::FileSystem;
using log::io::MemoryFileSystem;

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::unique_ptr<MetadataStore> OpenOrDie(FileSystem* fs, const std::string& dir) {
  Result<std::unique_ptr<MetadataStore>> store = MetadataStore::Open(fs, dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::string ReadAll(FileSystem* fs, const std::string& path) {
  auto file = fs->Open(path, {.read_only = true});
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return "";
  std::string data(*(*file)->Size(), '\0');
  auto n = (*file)->ReadAt(0, std::as_writable_bytes(std::span<char>(data.data(), data.size())));
  EXPECT_TRUE(n.ok() && *n == data.size());
  return data;
}

void WriteFile(FileSystem* fs, const std::string& path, std::string_view data) {
  if (fs->Exists(path)) {
    ASSERT_TRUE(fs->Remove(path).ok());
  }
  auto file = fs->Open(path, {.create = true});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_TRUE((*file)->WriteAt(0, Bytes(data)).ok());
  ASSERT_TRUE((*file)->Sync().ok());
}

StreamMetadata Stream(const std::string& name, uint32_t shards = 2) {
  return NewStreamMetadata(name, StreamId(0), shards, 1'700'000'000'000);
}

class MetadataStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  MetadataStoreTest() : env_(GetParam()) {}
  FileSystem* fs() { return env_.fs(); }
  std::string dir() const { return env_.Dir("meta"); }
  std::string file() const { return dir() + "/" + std::string(kMetadataFileName); }

  testing::BackendEnv env_;
};

TEST_P(MetadataStoreTest, EmptyDirectoryOpensEmptyAndWritesNothing) {
  auto store = OpenOrDie(fs(), dir());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->streams().empty());
  EXPECT_FALSE(fs()->Exists(file()));
}

TEST_P(MetadataStoreTest, MutationsSurviveReopen) {
  {
    auto store = OpenOrDie(fs(), dir());
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(*store->Create(Stream("a")), StreamId(1));
    ASSERT_EQ(*store->Create(Stream("b", 5)), StreamId(2));
    ASSERT_EQ(*store->Create(Stream("c")), StreamId(3));
    StreamMetadata b = *store->Find("b");
    b.status = StreamStatus::kActive;
    b.tags["k"] = "v";
    b.shards[0].ending_offset = SequenceNumber(77);
    ASSERT_TRUE(store->Update(b).ok());
    ASSERT_TRUE(store->Delete("c").ok());
  }
  auto store = OpenOrDie(fs(), dir());
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->streams().size(), 2u);
  EXPECT_EQ(store->Find("a")->id, StreamId(1));
  const StreamMetadata* b = store->Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status, StreamStatus::kActive);
  EXPECT_EQ(b->tags.at("k"), "v");
  EXPECT_EQ(b->shards[0].ending_offset, SequenceNumber(77));
  EXPECT_EQ(b->shards.size(), 5u);
  EXPECT_EQ(store->Find("c"), nullptr);
}

TEST_P(MetadataStoreTest, StreamIdsAreNeverReused) {
  {
    auto store = OpenOrDie(fs(), dir());
    ASSERT_EQ(*store->Create(Stream("a")), StreamId(1));
    ASSERT_EQ(*store->Create(Stream("b")), StreamId(2));
    ASSERT_TRUE(store->Delete("b").ok());
  }
  auto store = OpenOrDie(fs(), dir());
  EXPECT_EQ(*store->Create(Stream("b")), StreamId(3));
}

TEST_P(MetadataStoreTest, MisuseIsReportedAndChangesNothing) {
  auto store = OpenOrDie(fs(), dir());
  ASSERT_TRUE(store->Create(Stream("a")).ok());
  EXPECT_TRUE(store->Create(Stream("a")).status().IsInvalidArgument());
  EXPECT_TRUE(store->Update(Stream("missing")).IsNotFound());
  EXPECT_TRUE(store->Delete("missing").IsNotFound());
  StreamMetadata stale = *store->Find("a");
  ASSERT_TRUE(store->Delete("a").ok());
  ASSERT_TRUE(store->Create(Stream("a")).ok());
  stale.status = StreamStatus::kActive;
  EXPECT_TRUE(store->Update(stale).IsInvalidArgument());
  EXPECT_EQ(store->Find("a")->status, StreamStatus::kCreating);
}

TEST_P(MetadataStoreTest, DamagedFileFailsOpenNamingItAndIsLeftUntouched) {
  {
    auto store = OpenOrDie(fs(), dir());
    ASSERT_TRUE(store->Create(Stream("a")).ok());
  }
  const std::string good = ReadAll(fs(), file());
  for (const std::string& bad :
       {good.substr(0, good.size() / 2), std::string(), std::string("garbage"),
        good.substr(0, 20) + static_cast<char>(good[20] ^ 0x10) + good.substr(21)}) {
    WriteFile(fs(), file(), bad);
    Result<std::unique_ptr<MetadataStore>> store = MetadataStore::Open(fs(), dir());
    ASSERT_TRUE(store.status().IsCorruption()) << store.status().ToString();
    EXPECT_NE(store.status().message().find(file()), std::string_view::npos)
        << store.status().ToString();
    EXPECT_EQ(ReadAll(fs(), file()), bad);
  }
}

TEST_P(MetadataStoreTest, LeftoverTempFileIsDiscarded) {
  {
    auto store = OpenOrDie(fs(), dir());
    ASSERT_TRUE(store->Create(Stream("a")).ok());
  }
  const std::string temp = dir() + "/" + std::string(kMetadataTempFileName);
  WriteFile(fs(), temp, "half-written junk that is longer than any real image would be");
  auto store = OpenOrDie(fs(), dir());
  ASSERT_NE(store, nullptr);
  EXPECT_NE(store->Find("a"), nullptr);
  EXPECT_FALSE(fs()->Exists(temp));
  ASSERT_TRUE(store->Create(Stream("b")).ok());
  EXPECT_EQ(OpenOrDie(fs(), dir())->streams().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataStoreTest,
                         ::testing::ValuesIn(testing::AvailableBackends()), testing::BackendName);

// Forwards to a MemoryFileSystem but can fail SyncDir: the window after the rename.
class SyncDirFailingFileSystem final : public FileSystem {
 public:
  explicit SyncDirFailingFileSystem(MemoryFileSystem* mem) : mem_(mem) {}
  Result<std::unique_ptr<log::io::File>> Open(const std::string& p,
                                              log::io::OpenOptions o) override {
    return mem_->Open(p, o);
  }
  Result<std::vector<std::string>> ListDir(const std::string& d) override {
    return mem_->ListDir(d);
  }
  Status CreateDirs(const std::string& d) override { return mem_->CreateDirs(d); }
  Status Remove(const std::string& p) override { return mem_->Remove(p); }
  Status Rename(const std::string& f, const std::string& t) override { return mem_->Rename(f, t); }
  Status SyncDir(const std::string& d) override {
    return fail_sync_dir ? Status::IOError("injected SyncDir failure") : mem_->SyncDir(d);
  }
  bool Exists(const std::string& p) override { return mem_->Exists(p); }
  const char* name() const override { return "syncdir-failing"; }

  bool fail_sync_dir = false;

 private:
  MemoryFileSystem* const mem_;
};

class MetadataStoreCrashTest : public ::testing::Test {
 protected:
  const std::string dir_ = "/db/meta";
  MemoryFileSystem mem_;
};

TEST_F(MetadataStoreCrashTest, CrashAfterASuccessfulMutationKeepsIt) {
  auto store = OpenOrDie(&mem_, dir_);
  ASSERT_TRUE(store->Create(Stream("a")).ok());
  mem_.Crash();
  auto reopened = OpenOrDie(&mem_, dir_);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->streams(), store->streams());
}

TEST_F(MetadataStoreCrashTest, FailedWriteBeforeRenameChangesNothing) {
  auto store = OpenOrDie(&mem_, dir_);
  ASSERT_TRUE(store->Create(Stream("a")).ok());
  const MetadataStore::StreamMap before = store->streams();
  mem_.FailNextWrites(1, Status::NoSpace("injected"));
  EXPECT_TRUE(store->Create(Stream("b")).status().IsNoSpace());
  EXPECT_EQ(store->streams(), before);
  mem_.ShortWriteNext(10);
  EXPECT_FALSE(store->Delete("a").ok());
  EXPECT_EQ(store->streams(), before);
  mem_.Crash();
  EXPECT_EQ(OpenOrDie(&mem_, dir_)->streams(), before);
  // Such failures are not sticky: the next mutation works.
  EXPECT_TRUE(store->Create(Stream("b")).ok());
}

TEST_F(MetadataStoreCrashTest, FailedDirectorySyncLeavesOldOrNewAndIsSticky) {
  SyncDirFailingFileSystem fs(&mem_);
  auto store = OpenOrDie(&fs, dir_);
  ASSERT_TRUE(store->Create(Stream("a")).ok());
  const MetadataStore::StreamMap old_state = store->streams();
  fs.fail_sync_dir = true;
  EXPECT_TRUE(store->Create(Stream("b")).status().IsIOError());
  fs.fail_sync_dir = false;
  EXPECT_TRUE(store->Create(Stream("c")).status().IsIOError()) << "error must be sticky";
  // Without a crash the rename is visible: the new state. After a crash: the old one.
  auto live = OpenOrDie(&mem_, dir_);
  EXPECT_EQ(live->streams().size(), 2u);
  EXPECT_NE(live->Find("b"), nullptr);
  mem_.Crash();
  EXPECT_EQ(OpenOrDie(&mem_, dir_)->streams(), old_state);
}

TEST_F(MetadataStoreCrashTest, RandomFaultsAndCrashesNeverMixVersions) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto store = OpenOrDie(&mem_, dir_);
  for (int step = 0; step < 300; ++step) {
    const MetadataStore::StreamMap before = store->streams();
    switch (rng() % 4) {
      case 0:
        mem_.FailNextWrites(1 + static_cast<int>(rng() % 2), Status::IOError("injected"));
        break;
      case 1:
        mem_.ShortWriteNext(rng() % 200);
        break;
      default:
        break;
    }
    const std::string name = "s" + std::to_string(rng() % 8);
    Status s;
    if (const StreamMetadata* m = store->Find(name); m != nullptr && rng() % 2) {
      s = store->Delete(name);
    } else if (m != nullptr) {
      StreamMetadata next = *m;
      next.retention_hours = kMinRetentionHours + static_cast<int32_t>(rng() % 100);
      next.tags[std::to_string(step)] = std::string(rng() % 50, 'x');
      s = store->Update(next);
    } else {
      s = store->Create(Stream(name, 1 + rng() % 4)).status();
    }
    mem_.FailNextWrites(0, Status::OK());  // Drop an injection the mutation left unused.
    if (!s.ok()) {
      ASSERT_EQ(store->streams(), before) << "step " << step << ": " << s.ToString();
    }
    if (rng() % 5 == 0) {
      const MetadataStore::StreamMap expected = store->streams();
      mem_.Crash();
      store = OpenOrDie(&mem_, dir_);
      ASSERT_NE(store, nullptr) << "step " << step;
      // Every mutation that returned OK was durable, and no failed one leaked through.
      ASSERT_EQ(store->streams(), expected) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace sluice::broker
