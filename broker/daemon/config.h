// SPDX-License-Identifier: Apache-2.0
// sluiced's configuration: built-in defaults, then a TOML file (--config), then command-line
// flags, each layer overriding the one before. See broker/daemon/README.md for the keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "log/base/result.h"
#include "log/log_options.h"

namespace sluice::daemon {

inline constexpr std::string_view kSluicedVersion = "0.1.0";

// A listen address. The host is kept without brackets ("::1"); ToString() adds them back.
struct HostPort {
  std::string host;
  uint16_t port = 0;  // 0: the kernel picks a free port.

  // "host:port" or "[ipv6]:port"; port 0..65535. The host is not resolved here.
  static Result<HostPort> Parse(std::string_view text);
  std::string ToString() const;
  bool operator==(const HostPort&) const = default;
};

// Limits enforced by the parser (inclusive).
inline constexpr uint32_t kMaxThreads = 1024;
inline constexpr size_t kMaxRecordBytesLimit = 10u << 20;
inline constexpr int64_t kMaxIdleTimeoutMs = 7ll * 24 * 3600 * 1000;
inline constexpr size_t kMinConnectionBytes = 64u << 10;
inline constexpr size_t kMaxConnectionBytes = 16ull << 30;
inline constexpr int64_t kMaxIteratorTtlMs = 24ll * 3600 * 1000;

// Room a Produce frame needs beyond its largest record (headers, key, stream name).
inline constexpr size_t kFrameOverheadBytes = 64u << 10;

struct DaemonConfig {
  std::string data_dir = "./data";
  HostPort native_addr{"127.0.0.1", 4568};
  HostPort kinesis_addr{"127.0.0.1", 4567};
  HostPort metrics_addr{"127.0.0.1", 9568};
  log::Durability fsync = log::Durability::Always();
  uint32_t threads = 0;                // Reactor threads, 0..kMaxThreads; 0 = one per core.
  size_t max_record_bytes = 1u << 20;  // Largest record data accepted, 1..kMaxRecordBytesLimit.
  int64_t idle_timeout_ms = 600'000;   // 1..kMaxIdleTimeoutMs.
  size_t max_connection_bytes = 64u << 20;  // kMinConnectionBytes..kMaxConnectionBytes.
  // Shard iterator lifetime, 1..kMaxIteratorTtlMs; Kinesis's 5 minutes unless a test or an
  // operator changes it (broker::BrokerOptions::iterator_ttl_ms).
  int64_t iterator_ttl_ms = 300'000;

  std::string config_file;  // The TOML file loaded, if any (for the startup log).
  // Set by --help (usage) or --version: the caller prints it to stdout and exits 0 without
  // starting. The other fields are then unspecified.
  std::string help_text;
};

// Parses the command line (argv[0] is the program name). Errors are InvalidArgument with a
// message naming the flag or the file and key, and the offending value:
//   --threads: must be an integer in 0..1024, got '2000'
//   /etc/sluiced.toml: key 'fsync': durability must be always, never or interval:<ms>, ...
Result<DaemonConfig> ParseDaemonConfig(int argc, const char* const* argv);
// The same, for arguments without the program name.
Result<DaemonConfig> ParseDaemonConfig(const std::vector<std::string>& args);

// Applies a TOML document's keys (the TOML names in README.md) on top of `*config`. `origin`
// names the document in error messages (the file name). Unknown keys and wrongly typed values
// are errors.
Status ApplyTomlConfig(std::string_view toml_text, std::string_view origin, DaemonConfig* config);

// One line for the startup log: "data_dir=./data native_addr=127.0.0.1:4568 ...".
std::string DescribeConfig(const DaemonConfig& config);

}  // namespace sluice::daemon
