// SPDX-License-Identifier: Apache-2.0
// sluice-log subcommands. Each returns the process exit code: 0 fine, 1 problems found,
// 2 could not run.
#pragma once

#include <string>

namespace sluice::tools {

struct DumpOptions {
  std::string path;       // A segment (.log) or index (.index) file.
  bool records = false;   // Also print every record.
  size_t max_value = 64;  // Bytes of each key/value to print.
};
int Dump(const DumpOptions& opts);

struct VerifyOptions {
  std::string dir;  // A shard log directory.
  bool quiet = false;
};
int Verify(const VerifyOptions& opts);

}  // namespace sluice::tools
