// SPDX-License-Identifier: Apache-2.0
// sluiced configuration: defaults, flags, TOML files, precedence, and every error's message.
#include "broker/daemon/config.h"

#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;

class DaemonConfigTest : public ::testing::Test {
 protected:
  // Writes `text` to a file in the temp dir and returns its path.
  std::string WriteToml(const std::string& text, const std::string& name = "sluiced.toml") {
    std::string path = tmp_.Sub(name);
    std::ofstream(path) << text;
    return path;
  }

  // The error message of parsing `args`, which must fail with InvalidArgument.
  static std::string ErrorOf(const std::vector<std::string>& args) {
    auto r = ParseDaemonConfig(args);
    EXPECT_FALSE(r.ok());
    if (r.ok()) return "";
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    return std::string(r.status().message());
  }

  static DaemonConfig Parse(const std::vector<std::string>& args) {
    auto r = ParseDaemonConfig(args);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : DaemonConfig{};
  }

  testing::TempDir tmp_;
};

TEST_F(DaemonConfigTest, DefaultsWithoutArguments) {
  DaemonConfig c = Parse({});
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.native_addr, (HostPort{"127.0.0.1", 4568}));
  EXPECT_EQ(c.kinesis_addr, (HostPort{"127.0.0.1", 4567}));
  EXPECT_EQ(c.metrics_addr, (HostPort{"127.0.0.1", 9568}));
  EXPECT_EQ(c.fsync.mode, log::Durability::Mode::kAlways);
  EXPECT_EQ(c.threads, 0u);
  EXPECT_EQ(c.max_record_bytes, 1u << 20);
  EXPECT_EQ(c.idle_timeout_ms, 600'000);
  EXPECT_EQ(c.max_connection_bytes, 64u << 20);
  EXPECT_EQ(c.iterator_ttl_ms, 300'000);
  EXPECT_TRUE(c.config_file.empty());
  EXPECT_TRUE(c.help_text.empty());
}

TEST_F(DaemonConfigTest, FlagsSetEveryKey) {
  DaemonConfig c =
      Parse({"--data-dir", "/var/lib/sluice", "--native-addr", "0.0.0.0:5000",
             "--kinesis-addr=[::1]:5001", "--metrics-addr", "localhost:0", "--fsync", "interval:25",
             "--threads", "8", "--max-record-bytes", "2048", "--idle-timeout-ms", "1500",
             "--max-connection-bytes", "1048576", "--iterator-ttl-ms", "1000"});
  EXPECT_EQ(c.data_dir, "/var/lib/sluice");
  EXPECT_EQ(c.native_addr, (HostPort{"0.0.0.0", 5000}));
  EXPECT_EQ(c.kinesis_addr, (HostPort{"::1", 5001}));
  EXPECT_EQ(c.metrics_addr, (HostPort{"localhost", 0}));
  EXPECT_EQ(c.fsync.mode, log::Durability::Mode::kInterval);
  EXPECT_EQ(c.fsync.interval_ms, 25);
  EXPECT_EQ(c.threads, 8u);
  EXPECT_EQ(c.max_record_bytes, 2048u);
  EXPECT_EQ(c.idle_timeout_ms, 1500);
  EXPECT_EQ(c.max_connection_bytes, 1u << 20);
  EXPECT_EQ(c.iterator_ttl_ms, 1000);
}

TEST_F(DaemonConfigTest, ArgcArgvFormSkipsProgramName) {
  const char* argv[] = {"sluiced", "--threads", "3", "--fsync", "never"};
  auto r = ParseDaemonConfig(5, argv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->threads, 3u);
  EXPECT_EQ(r->fsync.mode, log::Durability::Mode::kNever);
}

TEST_F(DaemonConfigTest, TomlFileSetsEveryKey) {
  std::string path = WriteToml(R"(
# sluiced configuration
data_dir = "/srv/sluice"
native_addr = "10.0.0.1:4000"
kinesis_addr = "[fe80::1]:4001"
metrics_addr = "0.0.0.0:9000"
fsync = "never"
threads = 16
max_record_bytes = 10485760
idle_timeout_ms = 30000
max_connection_bytes = 11534336
iterator_ttl_ms = 60000
)");
  DaemonConfig c = Parse({"--config", path});
  EXPECT_EQ(c.config_file, path);
  EXPECT_EQ(c.data_dir, "/srv/sluice");
  EXPECT_EQ(c.native_addr, (HostPort{"10.0.0.1", 4000}));
  EXPECT_EQ(c.kinesis_addr, (HostPort{"fe80::1", 4001}));
  EXPECT_EQ(c.metrics_addr, (HostPort{"0.0.0.0", 9000}));
  EXPECT_EQ(c.fsync.mode, log::Durability::Mode::kNever);
  EXPECT_EQ(c.threads, 16u);
  EXPECT_EQ(c.max_record_bytes, 10u << 20);
  EXPECT_EQ(c.idle_timeout_ms, 30'000);
  EXPECT_EQ(c.max_connection_bytes, 11u << 20);
  EXPECT_EQ(c.iterator_ttl_ms, 60'000);
}

TEST_F(DaemonConfigTest, FlagsOverrideFileOverridesDefaults) {
  std::string path = WriteToml("threads = 4\nfsync = \"never\"\ndata_dir = \"/from/file\"\n");
  // Flags win whether they come before or after --config.
  DaemonConfig c = Parse({"--threads", "2", "--config", path, "--data-dir", "/from/flag"});
  EXPECT_EQ(c.threads, 2u);
  EXPECT_EQ(c.data_dir, "/from/flag");
  EXPECT_EQ(c.fsync.mode, log::Durability::Mode::kNever);   // File only.
  EXPECT_EQ(c.native_addr, (HostPort{"127.0.0.1", 4568}));  // Default.
}

TEST_F(DaemonConfigTest, HelpAndVersionSetHelpText) {
  DaemonConfig help = Parse({"--help"});
  EXPECT_THAT(help.help_text, HasSubstr("--native-addr"));
  EXPECT_THAT(help.help_text, HasSubstr("--config FILE"));
  EXPECT_THAT(help.help_text, HasSubstr("(default 127.0.0.1:4568)"));
  // Help wins over values that would be errors.
  EXPECT_FALSE(Parse({"--threads", "9999", "-h"}).help_text.empty());
  DaemonConfig version = Parse({"--version"});
  EXPECT_THAT(version.help_text, HasSubstr(std::string(kSluicedVersion)));
}

TEST_F(DaemonConfigTest, HostPortParsesAndPrints) {
  auto v4 = HostPort::Parse("127.0.0.1:80");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(*v4, (HostPort{"127.0.0.1", 80}));
  EXPECT_EQ(v4->ToString(), "127.0.0.1:80");
  auto v6 = HostPort::Parse("[::1]:65535");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(*v6, (HostPort{"::1", 65535}));
  EXPECT_EQ(v6->ToString(), "[::1]:65535");
}

TEST_F(DaemonConfigTest, BadHostPortsNameFlagAndValue) {
  for (const char* bad : {"localhost", ":4567", "host:", "host:65536", "host:-1", "host:12a",
                          "::1:4567", "[::1]4567", "[::1", "[]:80", "a b:80", "host:+80"}) {
    SCOPED_TRACE(bad);
    std::string msg = ErrorOf({"--native-addr", bad});
    EXPECT_THAT(msg, HasSubstr("--native-addr"));
    EXPECT_THAT(msg, HasSubstr("'" + std::string(bad) + "'"));
  }
  EXPECT_THAT(ErrorOf({"--metrics-addr", "h:99999"}), HasSubstr("port must be 0..65535"));
}

TEST_F(DaemonConfigTest, BadFsync) {
  for (const char* bad : {"sometimes", "interval:", "interval:0", "interval:-5", "ALWAYS"}) {
    SCOPED_TRACE(bad);
    std::string msg = ErrorOf({"--fsync", bad});
    EXPECT_THAT(msg, HasSubstr("--fsync: durability must be always, never or interval:<ms>"));
    EXPECT_THAT(msg, HasSubstr("'" + std::string(bad) + "'"));
  }
}

TEST_F(DaemonConfigTest, NumericLimits) {
  EXPECT_EQ(ErrorOf({"--threads", "1025"}), "--threads: must be an integer in 0..1024, got '1025'");
  EXPECT_EQ(ErrorOf({"--threads", "-1"}), "--threads: must be an integer in 0..1024, got '-1'");
  EXPECT_EQ(ErrorOf({"--threads", "two"}), "--threads: must be an integer in 0..1024, got 'two'");
  EXPECT_EQ(Parse({"--threads", "1024"}).threads, 1024u);
  EXPECT_EQ(ErrorOf({"--max-record-bytes", "0"}),
            "--max-record-bytes: must be an integer in 1..10485760, got '0'");
  EXPECT_EQ(ErrorOf({"--max-record-bytes", "10485761"}),
            "--max-record-bytes: must be an integer in 1..10485760, got '10485761'");
  EXPECT_EQ(Parse({"--max-record-bytes", "1"}).max_record_bytes, 1u);
  EXPECT_THAT(ErrorOf({"--idle-timeout-ms", "0"}), HasSubstr("--idle-timeout-ms: must be"));
  EXPECT_THAT(ErrorOf({"--max-connection-bytes", "1024"}),
              HasSubstr("--max-connection-bytes: must be an integer in 65536.."));
  EXPECT_THAT(ErrorOf({"--data-dir", ""}), HasSubstr("--data-dir: must not be empty"));
  EXPECT_EQ(ErrorOf({"--iterator-ttl-ms", "0"}),
            "--iterator-ttl-ms: must be an integer in 1..86400000, got '0'");
  EXPECT_EQ(Parse({"--iterator-ttl-ms", "86400000"}).iterator_ttl_ms, 86'400'000);
}

TEST_F(DaemonConfigTest, UnknownFlagOrMissingValue) {
  EXPECT_THAT(ErrorOf({"--frobnicate"}), HasSubstr("--frobnicate"));
  EXPECT_THAT(ErrorOf({"--threads"}), HasSubstr("--threads"));
  EXPECT_THAT(ErrorOf({"stray"}), HasSubstr("stray"));
}

TEST_F(DaemonConfigTest, TomlErrorsNameFileKeyAndValue) {
  std::string path = WriteToml("threads = 2000\n");
  EXPECT_EQ(ErrorOf({"--config", path}),
            path + ": key 'threads': must be an integer in 0..1024, got '2000'");
  path = WriteToml("listen = \"x\"\n");
  EXPECT_EQ(ErrorOf({"--config", path}), path + ": key 'listen': unknown key");
  path = WriteToml("threads = \"4\"\n");
  EXPECT_EQ(ErrorOf({"--config", path}),
            path + ": key 'threads': must be an integer, got a string");
  path = WriteToml("data_dir = 7\n");
  EXPECT_EQ(ErrorOf({"--config", path}),
            path + ": key 'data_dir': must be a string, got an integer");
  path = WriteToml("[server]\nthreads = 1\n");
  EXPECT_EQ(ErrorOf({"--config", path}), path + ": key 'server': unknown key");
  path = WriteToml("fsync = \"interval:x\"\n");
  EXPECT_THAT(ErrorOf({"--config", path}),
              HasSubstr(path + ": key 'fsync': durability must be always, never or"));
  path = WriteToml("kinesis_addr = \"[::1]\"\n");
  EXPECT_THAT(ErrorOf({"--config", path}), HasSubstr(path + ": key 'kinesis_addr': expected"));
  EXPECT_THAT(ErrorOf({"--config", path}), HasSubstr("'[::1]'"));
}

TEST_F(DaemonConfigTest, TomlSyntaxErrorNamesFileAndLine) {
  std::string path = WriteToml("threads = 1\nthreads = = 2\n");
  EXPECT_THAT(ErrorOf({"--config", path}), HasSubstr(path + ":2:"));
}

TEST_F(DaemonConfigTest, MissingConfigFile) {
  std::string path = tmp_.Sub("absent.toml");
  EXPECT_THAT(ErrorOf({"--config", path}), HasSubstr("--config: cannot read '" + path + "'"));
}

TEST_F(DaemonConfigTest, ApplyTomlConfigLayersOnTopOfItsInput) {
  DaemonConfig c;
  c.threads = 7;
  ASSERT_TRUE(ApplyTomlConfig("data_dir = \"d\"", "inline", &c).ok());
  EXPECT_EQ(c.threads, 7u);
  EXPECT_EQ(c.data_dir, "d");
  EXPECT_TRUE(ApplyTomlConfig("", "empty", &c).ok());
}

TEST_F(DaemonConfigTest, ConnectionBudgetMustHoldTheLargestRecord) {
  EXPECT_NE(ErrorOf({"--max-connection-bytes", "65536", "--max-record-bytes", "1048576"})
                .find("max_connection_bytes (65536) must exceed max_record_bytes (1048576)"),
            std::string::npos);
  EXPECT_TRUE(ParseDaemonConfig(std::vector<std::string>{"--max-connection-bytes", "200000",
                                                         "--max-record-bytes", "1000"})
                  .ok());
}

TEST_F(DaemonConfigTest, DescribeConfigIsOneLine) {
  DaemonConfig c = Parse({"--kinesis-addr", "[::]:4567", "--fsync", "interval:5"});
  EXPECT_EQ(DescribeConfig(c),
            "data_dir=./data native_addr=127.0.0.1:4568 kinesis_addr=[::]:4567 "
            "metrics_addr=127.0.0.1:9568 fsync=interval:5 threads=0 "
            "max_record_bytes=1048576 idle_timeout_ms=600000 max_connection_bytes=67108864 "
            "iterator_ttl_ms=300000 config=(none)");
}

}  // namespace
}  // namespace sluice::daemon
