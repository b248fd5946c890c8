// SPDX-License-Identifier: Apache-2.0
// The sluice CLI's commands. Each returns the process exit code after printing its result
// (stdout) or its error (stderr).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/client/connection.h"
#include "log/base/result.h"
#include "log/base/types.h"

namespace sluice::tools {

struct CliContext {
  client::ConnectionOptions connection;
  bool json = false;
};

// Prints "sluice: <status>" on stderr and returns 1.
int ReportError(const Status& status);

int StreamCreate(const CliContext& ctx, const std::string& name, uint32_t shards,
                 uint32_t retention_hours);
int StreamDelete(const CliContext& ctx, const std::string& name);
int StreamList(const CliContext& ctx);
int StreamDescribe(const CliContext& ctx, const std::string& name);
int StreamSplit(const CliContext& ctx, const std::string& name, const std::string& shard,
                const std::string& new_starting_hash_key);
int StreamMerge(const CliContext& ctx, const std::string& name, const std::string& shard,
                const std::string& adjacent_shard);
int StreamScale(const CliContext& ctx, const std::string& name, uint32_t count);

struct PutArgs {
  std::string stream;
  std::vector<std::string> records;  // Empty: one record per stdin line.
  std::optional<std::string> key;    // Unset: a random key per record.
};
int Put(const CliContext& ctx, const PutArgs& args);

struct CatArgs {
  std::string stream;
  std::string shard = "all";
  std::string from = "trim-horizon";
  bool follow = false;
  uint64_t limit = 0;  // 0: no limit.
};
int Cat(const CliContext& ctx, const CatArgs& args);

// "7" or "shardId-000000000007".
Result<ShardId> ParseShardArg(const std::string& text);

}  // namespace sluice::tools
