// SPDX-License-Identifier: Apache-2.0
// sluice put: records from the arguments or one per stdin line, through the batching Producer.
#include <cstdio>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/client/producer.h"
#include "broker/shard_name.h"
#include "tools/sluice/commands.h"
#include "tools/sluice/output.h"

namespace sluice::tools {
namespace {

constexpr size_t kMaxReportedErrors = 5;

// Results in send order; printed as soon as every earlier one is known.
class ResultLog {
 public:
  ResultLog(const CliContext& ctx, bool per_record) : ctx_(ctx), per_record_(per_record) {}

  size_t Add() {
    std::lock_guard<std::mutex> l(mu_);
    slots_.emplace_back();
    return first_ + slots_.size() - 1;
  }
  void Set(size_t index, Result<client::SendResult> r) {
    std::lock_guard<std::mutex> l(mu_);
    if (r.ok()) {
      ++ok_;
    } else {
      ++failed_;
    }
    slots_[index - first_].emplace(std::move(r));
  }
  // Prints the completed prefix.
  void Drain() {
    std::lock_guard<std::mutex> l(mu_);
    while (!slots_.empty() && slots_.front().has_value()) {
      Print(first_, *slots_.front());
      slots_.pop_front();
      ++first_;
    }
  }
  uint64_t ok() {
    std::lock_guard<std::mutex> l(mu_);
    return ok_;
  }
  uint64_t failed() {
    std::lock_guard<std::mutex> l(mu_);
    return failed_;
  }

 private:
  void Print(size_t index, const Result<client::SendResult>& r) {
    if (!r.ok()) {
      if (reported_++ < kMaxReportedErrors) {
        std::fprintf(stderr, "sluice: record %zu: %s\n", index + 1, r.status().ToString().c_str());
      }
      if (ctx_.json) {
        std::cout << "{\"index\":" << index << ",\"error\":" << JsonString(r.status().ToString())
                  << "}\n";
      }
      return;
    }
    if (ctx_.json) {
      std::cout << "{\"index\":" << index << ",\"shard_id\":\"" << broker::ShardName(r->shard)
                << "\",\"sequence_number\":\"" << r->sequence_number << "\"}\n";
    } else if (per_record_) {
      std::cout << broker::ShardName(r->shard) << "  " << r->sequence_number << "\n";
    }
  }

  const CliContext& ctx_;
  const bool per_record_;
  std::mutex mu_;
  std::deque<std::optional<Result<client::SendResult>>> slots_;
  size_t first_ = 0;
  uint64_t ok_ = 0;
  uint64_t failed_ = 0;
  size_t reported_ = 0;
};

std::string RandomKey(std::mt19937_64* rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = (*rng)();
  std::string key(16, '0');
  for (int i = 0; i < 16; ++i) key[i] = kHex[(v >> (4 * i)) & 0xF];
  return key;
}

// Size of stdin when it is a regular file (for a real progress bar), else 0.
uint64_t StdinBytes() {
  struct stat st;
  if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
    return static_cast<uint64_t>(st.st_size);
  }
  return 0;
}

}  // namespace

int Put(const CliContext& ctx, const PutArgs& args) {
  client::ProducerOptions opts;
  opts.connection = ctx.connection;
  auto producer = client::Producer::Open(opts);
  if (!producer.ok()) return ReportError(producer.status());

  const bool from_stdin = args.records.empty();
  ResultLog log(ctx, /*per_record=*/!from_stdin);
  std::mt19937_64 rng(std::random_device{}());
  auto send = [&](const std::string& data) {
    size_t index = log.Add();
    std::string key = args.key ? *args.key : RandomKey(&rng);
    (*producer)->Send(
        args.stream, key, data, std::nullopt,
        [&log, index](Result<client::SendResult> r) { log.Set(index, std::move(r)); });
  };

  uint64_t sent = 0;
  if (!from_stdin) {
    for (const auto& r : args.records) {
      send(r);
      ++sent;
    }
  } else {
    std::ios::sync_with_stdio(false);
    Progress progress("records", StdinBytes(), /*wanted=*/!ctx.json || !::isatty(STDOUT_FILENO));
    uint64_t bytes = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      bytes += line.size() + 1;
      send(line);
      ++sent;
      if ((sent & 255) == 0) log.Drain();
      progress.Update(log.ok() + log.failed(), bytes);
    }
    (*producer)->Flush();
    progress.Update(log.ok() + log.failed(), bytes);
    progress.Finish();
  }
  (*producer)->Close();
  log.Drain();
  const uint64_t failed = log.failed();
  if (from_stdin && !ctx.json) {
    std::cout << "put " << (sent - failed) << " record(s) to " << args.stream;
    if (failed > 0) std::cout << ", " << failed << " failed";
    std::cout << "\n";
  }
  std::cout.flush();
  if (failed > 0) {
    std::fprintf(stderr, "sluice: %llu of %llu record(s) failed\n",
                 static_cast<unsigned long long>(failed), static_cast<unsigned long long>(sent));
    return 1;
  }
  return 0;
}

}  // namespace sluice::tools
