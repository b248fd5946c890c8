// SPDX-License-Identifier: Apache-2.0
// Log under threads: concurrent appenders with tailing readers (every durability policy),
// appends racing rolls and retention, Close while appends run, and the interval flusher.
// Runs under TSan too (label "concurrency").
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "log/log.h"
#include "log/record_batch.h"
#include "tests/support/backends.h"

namespace sluice::log {
namespace {

using namespace std::chrono_literals;

constexpr int kAppenders = 4;
constexpr int kReaders = 2;

// Record `i` of batch `seq` of appender `a`: key "a<a>", value "<a>:<seq>:<i>:" padded.
std::string TaggedBatch(int appender, uint64_t seq, uint32_t count, size_t pad = 40) {
  RecordBatchBuilder b;
  for (uint32_t i = 0; i < count; ++i) {
    std::string v = std::to_string(appender) + ":" + std::to_string(seq) + ":" + std::to_string(i) +
                    ":" + std::string(pad, 'x');
    b.Add("a" + std::to_string(appender), v, 1'700'000'000'000 + static_cast<int64_t>(seq));
  }
  auto out = b.Finish();
  SLUICE_CHECK(out.ok(), "TaggedBatch");
  return std::move(out).value();
}

struct Tag {
  int appender = -1;
  uint64_t seq = 0;
  uint32_t index = 0;
};

bool ParseTag(std::string_view v, Tag* t) {
  size_t a = v.find(':'), b = v.find(':', a + 1), c = v.find(':', b + 1);
  if (a == std::string_view::npos || b == std::string_view::npos || c == std::string_view::npos) {
    return false;
  }
  t->appender = std::stoi(std::string(v.substr(0, a)));
  t->seq = std::stoull(std::string(v.substr(a + 1, b - a - 1)));
  t->index = static_cast<uint32_t>(std::stoul(std::string(v.substr(b + 1, c - b - 1))));
  return true;
}

// Record count of appender `a`'s batch `seq`: 1..5, known to readers without coordination.
uint32_t CountOf(int appender, uint64_t seq) { return 1 + (appender * 7 + seq * 3) % 5; }

// The fastest real backend here (io_uring when allowed, else POSIX).
io::Backend RealBackend() { return testing::AvailableBackends().front(); }

// Parameters: (backend, durability policy as text).
class LogConcurrencyTest : public ::testing::TestWithParam<std::tuple<io::Backend, std::string>> {
 protected:
  LogConcurrencyTest() : env_(std::get<0>(GetParam())) {
    auto d = Durability::Parse(std::get<1>(GetParam()));
    SLUICE_CHECK(d.ok(), "bad durability parameter");
    opts_.durability = *d;
    opts_.preallocate = false;
    opts_.logger = [](std::string_view) {};
  }

  std::unique_ptr<Log> OpenLog() {
    auto log = Log::Open(env_.fs(), env_.Dir(), opts_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  Durability::Mode mode() const { return opts_.durability.mode; }

  testing::BackendEnv env_;
  LogOptions opts_;
};

// Checks batches as a tailing reader sees them: offsets dense from 0, every batch whole and
// from one appender, each appender's batches in order with no gap and no repeat.
class TailChecker {
 public:
  // Returns false (after ADD_FAILURE) at the first violation.
  bool Check(const ReadResult& r) {
    std::string scratch;
    for (const RecordBatchView& view : r.Batches()) {
      const BatchHeader& h = view.header();
      if (h.base_offset.value() != next_) {
        ADD_FAILURE() << "batch at " << h.base_offset << ", expected " << next_;
        return false;
      }
      auto records = view.DecodeRecords(&scratch);
      if (!records.ok() || records->empty()) {
        ADD_FAILURE() << "undecodable batch at " << next_;
        return false;
      }
      Tag first;
      for (size_t i = 0; i < records->size(); ++i) {
        const Record& rec = (*records)[i];
        Tag t;
        if (rec.offset.value() != next_ + i || !ParseTag(rec.value, &t)) {
          ADD_FAILURE() << "bad record at " << next_ + i << ": " << rec.value;
          return false;
        }
        if (i == 0) first = t;
        if (t.appender != first.appender || t.seq != first.seq || t.index != i ||
            rec.key != "a" + std::to_string(t.appender)) {
          ADD_FAILURE() << "batch at " << next_ << " mixes records: " << rec.value;
          return false;
        }
      }
      if (first.appender < 0 || first.appender >= kAppenders) {
        ADD_FAILURE() << "unknown appender " << first.appender;
        return false;
      }
      uint64_t& want = next_seq_[first.appender];
      if (first.seq != want || records->size() != CountOf(first.appender, first.seq)) {
        ADD_FAILURE() << "appender " << first.appender << ": batch " << first.seq << " at " << next_
                      << " (" << records->size() << " records), expected batch " << want;
        return false;
      }
      ++want;
      next_ += records->size();
      ++batches_;
    }
    return true;
  }
  uint64_t next() const { return next_; }
  uint64_t batches() const { return batches_; }

 private:
  uint64_t next_ = 0;
  uint64_t batches_ = 0;
  uint64_t next_seq_[kAppenders] = {};
};

struct Appended {
  AppendResult result;
  uint64_t seq;
};

// Runs kAppenders threads appending up to `per_appender` tagged batches each, or until `*stop`
// (when given) is set; returns what each got.
std::vector<std::vector<Appended>> RunAppenders(Log* log, int per_appender,
                                                std::atomic<int>* failures,
                                                const std::atomic<bool>* stop = nullptr) {
  std::vector<std::vector<Appended>> out(kAppenders);
  std::vector<std::thread> threads;
  for (int a = 0; a < kAppenders; ++a) {
    threads.emplace_back([&, a] {
      for (uint64_t seq = 0; seq < static_cast<uint64_t>(per_appender); ++seq) {
        if (stop != nullptr && stop->load()) return;
        std::string b = TaggedBatch(a, seq, CountOf(a, seq));
        auto r = log->Append(AsBytes(b));
        if (!r.ok()) {
          ADD_FAILURE() << "append: " << r.status().ToString();
          failures->fetch_add(1);
          return;
        }
        out[a].push_back({*r, seq});
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

uint64_t RecordsIn(const std::vector<std::vector<Appended>>& results) {
  uint64_t n = 0;
  for (const auto& per : results) {
    for (const Appended& x : per) n += x.result.last.value() + 1 - x.result.base.value();
  }
  return n;
}

// Every acknowledged range is disjoint from the others, they tile [0, total), and each
// appender's ranges increase.
void CheckAppendResults(const std::vector<std::vector<Appended>>& results, uint64_t total) {
  std::map<uint64_t, uint64_t> ranges;  // base -> next
  for (int a = 0; a < kAppenders; ++a) {
    uint64_t prev_next = 0;
    for (const Appended& x : results[a]) {
      uint64_t base = x.result.base.value(), next = x.result.last.value() + 1;
      EXPECT_EQ(next - base, CountOf(a, x.seq));
      EXPECT_GE(base, prev_next) << "appender " << a << " batch " << x.seq << " out of order";
      prev_next = next;
      EXPECT_TRUE(ranges.emplace(base, next).second) << "two batches at " << base;
    }
  }
  uint64_t expect = 0;
  for (const auto& [base, next] : ranges) {
    EXPECT_EQ(base, expect) << "gap or overlap in acknowledged ranges";
    expect = next;
  }
  EXPECT_EQ(expect, total);
}

TEST_P(LogConcurrencyTest, TailingReadersSeeEveryBatchOnceInOrder) {
  opts_.segment_bytes = 64 << 10;  // Rolls happen while readers tail.
  auto log = OpenLog();
  ASSERT_TRUE(log);

  constexpr int kPerAppender = 150;
  uint64_t total = 0;
  for (int a = 0; a < kAppenders; ++a) {
    for (uint64_t s = 0; s < kPerAppender; ++s) total += CountOf(a, s);
  }
  std::atomic<bool> appenders_done{false};
  std::atomic<int> reader_failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      TailChecker checker;
      auto deadline = std::chrono::steady_clock::now() + 60s;
      while (checker.next() < total) {
        if (std::chrono::steady_clock::now() > deadline) {
          ADD_FAILURE() << "reader stuck at " << checker.next() << " of " << total << "; durable "
                        << log->durable() << " written " << log->written();
          reader_failures++;
          return;
        }
        uint64_t durable = log->durable().value();
        // Default upto: the durable watermark.
        auto res = log->Read(SequenceNumber(checker.next()), ReadOptions{.max_bytes = 4096});
        if (!res.ok()) {
          ADD_FAILURE() << "read at " << checker.next() << ": " << res.status().ToString();
          reader_failures++;
          return;
        }
        if (!checker.Check(*res)) {
          reader_failures++;
          return;
        }
        uint64_t durable_after = log->durable().value();
        if (checker.next() > durable_after) {
          ADD_FAILURE() << "read past the durable watermark: " << checker.next() << " > "
                        << durable_after;
          reader_failures++;
          return;
        }
        if (res->batch_count == 0) {
          // Durable is always a batch boundary, so nothing below it may be held back.
          if (checker.next() < durable) {
            ADD_FAILURE() << "empty read at " << checker.next() << " below durable " << durable;
            reader_failures++;
            return;
          }
          std::this_thread::yield();
        }
      }
      EXPECT_EQ(checker.next(), total);
    });
  }
  std::atomic<int> append_failures{0};
  auto results = RunAppenders(log.get(), kPerAppender, &append_failures);
  appenders_done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(append_failures.load(), 0);
  EXPECT_EQ(reader_failures.load(), 0);
  CheckAppendResults(results, total);
  EXPECT_EQ(log->next_offset().value(), total);

  LogStats stats = log->stats();
  EXPECT_EQ(stats.appends, static_cast<uint64_t>(kAppenders * kPerAppender));
  EXPECT_LE(stats.group_commits, stats.appends);
  EXPECT_GT(stats.rolls, 0u);
  if (mode() == Durability::Mode::kAlways) {
    EXPECT_LE(stats.syncs, stats.group_commits + stats.rolls);
  }
  if (mode() == Durability::Mode::kNever) {
    EXPECT_EQ(stats.syncs, 0u);
  }
  std::cout << "durability=" << opts_.durability.ToString() << " backend=" << env_.fs()->name()
            << " appends=" << stats.appends << " group_commits=" << stats.group_commits
            << " batches/commit=" << static_cast<double>(stats.appends) / stats.group_commits
            << " syncs=" << stats.syncs << " rolls=" << stats.rolls << std::endl;
  ASSERT_TRUE(log->Close().ok());
}

TEST_P(LogConcurrencyTest, AppendsRaceRollAndRetention) {
  opts_.segment_bytes = 16 << 10;
  opts_.retention_bytes = 64 << 10;
  opts_.open_segment_cache = 4;
  auto log = OpenLog();
  ASSERT_TRUE(log);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> maintenance_rounds{0};
  std::thread maintenance([&] {
    uint64_t last_start = 0;
    while (!stop) {
      EXPECT_TRUE(log->Roll().ok());
      auto r = log->EnforceRetention();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) {
        EXPECT_GE(r->start.value(), last_start) << "start moved back";
        last_start = r->start.value();
      }
      maintenance_rounds++;
      std::this_thread::sleep_for(200us);
    }
  });
  // A reader that chases the trim horizon: NotFound below start() is expected; anything it
  // does read must be whole batches with dense offsets.
  // A reader that chases the trim horizon: NotFound below start() is expected; anything it
  // does read must be whole batches with dense offsets, the first holding `from`.
  std::atomic<uint64_t> read_errors{0};
  std::thread reader([&] {
    uint64_t from = 0;
    std::string scratch;
    while (!stop) {
      auto r = log->Read(SequenceNumber(from), ReadOptions{.max_bytes = 8192});
      if (!r.ok()) {
        // NotFound: trimmed meanwhile. Anything else: a segment deleted by retention between
        // planning the read and opening the file; counted and reported, not failed.
        if (!r.status().IsNotFound()) read_errors++;
        from = std::max(from, log->start().value());
        continue;
      }
      uint64_t expect = from;
      for (const RecordBatchView& v : r->Batches()) {
        const BatchHeader& h = v.header();
        if (expect == from) {
          EXPECT_TRUE(h.base_offset.value() <= from && from < h.next_offset().value())
              << "read at " << from << " began with the batch at " << h.base_offset;
        } else {
          EXPECT_EQ(h.base_offset.value(), expect);
        }
        expect = h.next_offset().value();
        EXPECT_TRUE(v.DecodeRecords(&scratch).ok());
      }
      if (r->batch_count == 0) std::this_thread::yield();
      from = r->next.value();
    }
  });

  // Append until retention has deleted segments under the appenders' feet a few times (the
  // memory backend is fast enough to finish any fixed count before maintenance starts).
  std::atomic<bool> stop_appending{false};
  std::thread watcher([&] {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline &&
           (maintenance_rounds.load() < 50 || log->start().value() == 0)) {
      std::this_thread::sleep_for(1ms);
    }
    stop_appending = true;
  });
  std::atomic<int> failures{0};
  auto results = RunAppenders(log.get(), 100'000, &failures, &stop_appending);
  watcher.join();
  uint64_t total = RecordsIn(results);
  stop = true;
  maintenance.join();
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  CheckAppendResults(results, total);
  EXPECT_GT(maintenance_rounds.load(), 0u);
  EXPECT_GT(log->start().value(), 0u) << "retention never deleted anything";
  std::cout << "maintenance rounds=" << maintenance_rounds.load() << " start=" << log->start()
            << " next=" << log->next_offset()
            << " reads that failed on deleted segments=" << read_errors.load() << std::endl;

  // What is left reads back exactly as the appenders wrote it.
  std::map<uint64_t, std::pair<int, uint64_t>> by_base;  // base -> (appender, seq)
  for (int a = 0; a < kAppenders; ++a) {
    for (const Appended& x : results[a]) by_base[x.result.base.value()] = {a, x.seq};
  }
  uint64_t from = log->start().value();
  std::string scratch;
  ASSERT_TRUE(by_base.count(from)) << "start " << from << " is not a batch boundary";
  while (from < total) {
    auto r = log->Read(SequenceNumber(from), ReadOptions{.upto = SequenceNumber(total)});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_GT(r->batch_count, 0u);
    for (const RecordBatchView& v : r->Batches()) {
      auto it = by_base.find(v.header().base_offset.value());
      ASSERT_NE(it, by_base.end());
      auto recs = v.DecodeRecords(&scratch);
      ASSERT_TRUE(recs.ok());
      Tag t;
      ASSERT_TRUE(ParseTag((*recs)[0].value, &t));
      EXPECT_EQ(t.appender, it->second.first);
      EXPECT_EQ(t.seq, it->second.second);
    }
    from = r->next.value();
  }
  ASSERT_TRUE(log->Close().ok());
}

TEST_P(LogConcurrencyTest, IntervalDurabilityCatchesUpWithoutSync) {
  if (mode() != Durability::Mode::kInterval || env_.memory() != nullptr) {
    GTEST_SKIP() << "interval durability on a real backend only";
  }
  auto log = OpenLog();
  ASSERT_TRUE(log);
  // A first append syncs (nothing was synced before); the next ones, within 5 ms, need not.
  for (uint64_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(log->Append(AsBytes(TaggedBatch(0, i, CountOf(0, i)))).ok());
  }
  uint64_t written = log->written().value();
  EXPECT_LE(log->durable().value(), written);
  auto start = std::chrono::steady_clock::now();
  while (log->durable().value() < written && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(1ms);
  }
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  EXPECT_EQ(log->durable().value(), written)
      << "durable did not catch up after " << waited.count() << " ms";
  EXPECT_GT(log->stats().syncs, 0u);
  std::cout << "durable caught up after " << waited.count() << " ms (interval 5 ms)" << std::endl;
  ASSERT_TRUE(log->Close().ok());
}

// Last in this file: when Close races queued appends badly the process dies, and every
// other test should have reported by then.
TEST_P(LogConcurrencyTest, CloseWhileAppendingAbortsLaterAppends) {
  opts_.segment_bytes = 32 << 10;
  auto log = OpenLog();
  ASSERT_TRUE(log);

  std::atomic<int> started{0};
  std::atomic<int> unexpected{0};
  std::vector<std::vector<Appended>> acked(kAppenders);
  std::vector<std::thread> threads;
  for (int a = 0; a < kAppenders; ++a) {
    threads.emplace_back([&, a] {
      bool aborted = false;
      for (uint64_t seq = 0;; ++seq) {
        if (seq == 5) started++;
        std::string b = TaggedBatch(a, seq, CountOf(a, seq));
        auto r = log->Append(AsBytes(b));
        if (r.ok()) {
          if (aborted) {
            ADD_FAILURE() << "append succeeded after an Aborted one";
            unexpected++;
          }
          acked[a].push_back({*r, seq});
          continue;
        }
        if (r.status().code() != Status::Code::kAborted) {
          ADD_FAILURE() << "append during close: " << r.status().ToString();
          unexpected++;
        }
        if (aborted) return;  // Two in a row: the log is closed for good.
        aborted = true;
      }
    });
  }
  // Reads through the close. It stops only once Close has returned, so that no thread ends
  // while another may still set up its first io_uring ring: liburing unmaps rings with raw
  // syscalls that TSan cannot see, and a new ring at the same address would look like a race.
  std::atomic<bool> closed_done{false};
  std::thread reader([&] {
    while (!closed_done) {
      auto r = log->Read(SequenceNumber(0), ReadOptions{.max_bytes = 1024});
      (void)r;  // Only must not crash or race.
    }
  });
  while (started < kAppenders) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  Status closed = log->Close();
  EXPECT_TRUE(closed.ok()) << closed.ToString();
  closed_done = true;
  reader.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(log->Append(AsBytes(TaggedBatch(0, 0, 1))).status().code(), Status::Code::kAborted);
  EXPECT_EQ(log->Sync().code(), Status::Code::kAborted);
  EXPECT_TRUE(log->Close().ok());  // Idempotent.

  // Everything acknowledged before the close survives a reopen (Close syncs), each appender
  // in order.
  uint64_t acked_total = 0, end = 0;
  for (int a = 0; a < kAppenders; ++a) {
    uint64_t want_seq = 0;
    for (const Appended& x : acked[a]) {
      EXPECT_EQ(x.seq, want_seq++);
      acked_total += x.result.last.value() + 1 - x.result.base.value();
      end = std::max(end, x.result.last.value() + 1);
    }
  }
  EXPECT_EQ(acked_total, end) << "acknowledged ranges do not tile [0, end)";
  uint64_t next = log->next_offset().value();
  EXPECT_EQ(next, end);
  log.reset();
  auto reopened = OpenLog();
  ASSERT_TRUE(reopened);
  EXPECT_TRUE(reopened->recovery_report().clean()) << reopened->recovery_report().ToString();
  EXPECT_EQ(reopened->next_offset().value(), end);
  TailChecker checker;
  while (checker.next() < end) {
    auto r = reopened->Read(SequenceNumber(checker.next()));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_GT(r->batch_count, 0u);
    ASSERT_TRUE(checker.Check(*r));
  }
}

std::vector<std::tuple<io::Backend, std::string>> Params() {
  std::vector<std::tuple<io::Backend, std::string>> out;
  for (io::Backend b : {RealBackend(), io::Backend::kMemory}) {
    for (const char* d : {"always", "interval:5", "never"}) out.emplace_back(b, d);
  }
  return out;
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<io::Backend, std::string>>& info) {
  std::string d = std::get<1>(info.param);
  return testing::BackendName(
             ::testing::TestParamInfo<io::Backend>(std::get<0>(info.param), info.index)) +
         "_" + d.substr(0, d.find(':'));
}

INSTANTIATE_TEST_SUITE_P(Durabilities, LogConcurrencyTest, ::testing::ValuesIn(Params()),
                         ParamName);

}  // namespace
}  // namespace sluice::log
