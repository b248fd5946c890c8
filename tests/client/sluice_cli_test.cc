// SPDX-License-Identifier: Apache-2.0
// The `sluice` CLI binary against a real in-process engine: create, put from stdin, cat --json,
// describe, and its error exits.
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>

#include "tests/client/test_server.h"

namespace sluice::tools {
namespace {

struct ToolRun {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

class SluiceCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }

  // Runs `sluice --addr <server> ARGS [< stdin_file]`.
  ToolRun Sluice(const std::string& args, const std::string& stdin_text = "",
                 bool with_stdin = false) {
    std::string in = tmp_.Sub("stdin");
    std::string err = tmp_.Sub("stderr");
    if (with_stdin) std::ofstream(in) << stdin_text;
    std::string cmd = std::string(SLUICE_BIN) + " --addr " + server_.address() + " " + args +
                      (with_stdin ? " < " + in : " < /dev/null") + " 2> " + err;
    ToolRun r;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err);
    std::stringstream ss;
    ss << e.rdbuf();
    r.err = ss.str();
    return r;
  }

  static std::vector<std::string> Lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  testing::TestServer server_;
  testing::TempDir tmp_;
};

TEST_F(SluiceCliTest, CreatePutFromStdinCatJsonDescribe) {
  ToolRun create = Sluice("stream create clicks --shards 3 --retention-hours 48");
  ASSERT_EQ(create.code, 0) << create.err;
  EXPECT_NE(create.out.find("created stream clicks with 3 shard(s)"), std::string::npos)
      << create.out;

  std::string input;
  for (int i = 0; i < 250; ++i) input += "line " + std::to_string(i) + " \"quoted\"\n";
  ToolRun put = Sluice("put clicks", input, /*with_stdin=*/true);
  ASSERT_EQ(put.code, 0) << put.err;
  EXPECT_NE(put.out.find("put 250 record(s) to clicks"), std::string::npos) << put.out;

  ToolRun cat = Sluice("cat clicks --json");
  ASSERT_EQ(cat.code, 0) << cat.err;
  auto lines = Lines(cat.out);
  ASSERT_EQ(lines.size(), 250u);
  std::set<std::string> seen;
  for (const auto& l : lines) {
    EXPECT_EQ(l.rfind("{\"shard_id\":\"shardId-00000000000", 0), 0u) << l;
    EXPECT_NE(l.find("\"sequence_number\":\"4"), std::string::npos) << l;
    auto at = l.find("\"data\":\"line ");
    ASSERT_NE(at, std::string::npos) << l;
    EXPECT_NE(l.find("\\\"quoted\\\""), std::string::npos) << l;  // JSON-escaped quotes.
    seen.insert(l.substr(at, l.find(' ', at + 13) - at));
  }
  EXPECT_EQ(seen.size(), 250u);

  ToolRun limited = Sluice("cat clicks --limit 7 --shard all --from trim-horizon");
  ASSERT_EQ(limited.code, 0) << limited.err;
  EXPECT_EQ(Lines(limited.out).size(), 7u);

  ToolRun describe = Sluice("stream describe clicks --json");
  ASSERT_EQ(describe.code, 0) << describe.err;
  EXPECT_EQ(
      describe.out.rfind("{\"stream\":\"clicks\",\"status\":\"ACTIVE\",\"retention_hours\":48,"
                         "\"open_shards\":3,\"shards\":[",
                         0),
      0u)
      << describe.out;
  EXPECT_NE(describe.out.find("\"shard_id\":\"shardId-000000000002\""), std::string::npos);

  ToolRun readable = Sluice("stream describe clicks");
  ASSERT_EQ(readable.code, 0) << readable.err;
  EXPECT_NE(readable.out.find("3 open shard(s) of 3"), std::string::npos) << readable.out;

  ToolRun list = Sluice("stream list --json");
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(list.out, "{\"streams\":[\"clicks\"]}\n");
}

TEST_F(SluiceCliTest, PutArgumentsWithKeyThenCatOneShard) {
  ASSERT_EQ(Sluice("stream create s --shards 2").code, 0);
  ToolRun put = Sluice("put s --key user-1 a b c --json");
  ASSERT_EQ(put.code, 0) << put.err;
  auto lines = Lines(put.out);
  ASSERT_EQ(lines.size(), 3u);
  // One key: one shard, increasing sequence numbers.
  std::string shard = lines[0].substr(lines[0].find("shardId-"), 20);
  for (const auto& l : lines) EXPECT_NE(l.find(shard), std::string::npos) << l;
  std::string seq0 = lines[0].substr(lines[0].find("\"sequence_number\":\"") + 19, 56);

  ToolRun cat = Sluice("cat s --shard " + shard + " --from at:" + seq0);
  ASSERT_EQ(cat.code, 0) << cat.err;
  auto recs = Lines(cat.out);
  ASSERT_EQ(recs.size(), 3u) << cat.out;
  EXPECT_NE(recs[0].find("user-1  a"), std::string::npos) << recs[0];
  EXPECT_NE(recs[2].find("user-1  c"), std::string::npos) << recs[2];

  ToolRun after = Sluice("cat s --from after:" + seq0 + " --json");
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_EQ(Lines(after.out).size(), 2u);
}

TEST_F(SluiceCliTest, SplitMergeAndScale) {
  ASSERT_EQ(Sluice("stream create r --shards 1").code, 0);
  ToolRun split =
      Sluice("stream split r shardId-000000000000 170141183460469231731687303715884105728");
  ASSERT_EQ(split.code, 0) << split.err;
  EXPECT_NE(split.out.find("split shardId-000000000000 of r"), std::string::npos) << split.out;
  ToolRun merge = Sluice("stream merge r 1 2 --json");
  ASSERT_EQ(merge.code, 0) << merge.err;
  EXPECT_EQ(merge.out, "{\"stream\":\"r\",\"merged\":true}\n");
  ToolRun scale = Sluice("stream scale r 3");
  ASSERT_EQ(scale.code, 0) << scale.err;
  ToolRun describe = Sluice("stream describe r --json");
  ASSERT_EQ(describe.code, 0) << describe.err;
  EXPECT_NE(describe.out.find("\"open_shards\":3,"), std::string::npos) << describe.out;
  EXPECT_NE(
      describe.out.find("\"parent_shards\":[\"shardId-000000000001\",\"shardId-000000000002\"]"),
      std::string::npos)
      << describe.out;
}

TEST_F(SluiceCliTest, ErrorsExitNonZeroWithAMessage) {
  ToolRun missing = Sluice("stream describe nope");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("sluice: NotFound"), std::string::npos) << missing.err;

  ToolRun bad_from = Sluice("cat nope --from sideways");
  EXPECT_EQ(bad_from.code, 1);
  EXPECT_NE(bad_from.err.find("bad --from"), std::string::npos) << bad_from.err;

  ASSERT_EQ(Sluice("stream create r --shards 2").code, 0);
  ToolRun split = Sluice("stream split r 0 1");  // Must be above the shard's start + 1.
  EXPECT_EQ(split.code, 1);
  EXPECT_NE(split.err.find("InvalidArgument"), std::string::npos) << split.err;

  ToolRun usage = Sluice("stream");
  EXPECT_NE(usage.code, 0);

  ToolRun unreachable;
  {
    std::string cmd = std::string(SLUICE_BIN) + " --addr 127.0.0.1:1 stream list 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) unreachable.out.append(buf, n);
    int status = pclose(p);
    unreachable.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  EXPECT_EQ(unreachable.code, 1);
  EXPECT_NE(unreachable.out.find("Unavailable"), std::string::npos) << unreachable.out;
}

}  // namespace
}  // namespace sluice::tools
