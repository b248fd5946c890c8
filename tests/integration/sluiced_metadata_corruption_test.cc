// SPDX-License-Identifier: Apache-2.0
// A damaged metadata file stops sluiced at startup: non-zero exit, one structured error line
// naming the file and Corruption, and the file left exactly as it was found.
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "broker/metadata_store.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

// The stderr lines that contain `needle`.
std::string LinesWith(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out += line + "\n";
  }
  return out;
}

class SluicedMetadataCorruptionTest : public ::testing::Test {
 protected:
  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedMetadataCorruptionTest, FlippedByteStopsStartupAndLeavesTheFileAlone) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  {
    TestClient c(daemon_.native_port());
    ASSERT_TRUE(Exchange<native::Ack>(c, native::CreateStreamRequest{"meta", 2, 24}).ok());
  }
  ASSERT_EQ(daemon_.Terminate(), 0);

  const std::string path = daemon_.data_dir() + "/meta/" + std::string(broker::kMetadataFileName);
  const std::string good = ReadFile(path);
  ASSERT_GT(good.size(), 16u) << path;
  std::string bad = good;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
  WriteFile(path, bad);

  ASSERT_TRUE(daemon_.Start());
  const std::optional<int> code = daemon_.WaitExit(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "sluiced kept running on damaged metadata";
  EXPECT_NE(*code, 0);
  EXPECT_LT(*code, 128) << "exited by a signal, not by refusing to start";
  const std::string errors = LinesWith(daemon_.Stderr(), " level=error ");
  EXPECT_NE(errors.find(std::string(broker::kMetadataFileName)), std::string::npos)
      << daemon_.Stderr();
  EXPECT_NE(errors.find("Corruption"), std::string::npos) << daemon_.Stderr();
  EXPECT_EQ(LinesWith(daemon_.Stderr(), " event=ready "), "");
  EXPECT_EQ(ReadFile(path), bad) << "the damaged file was changed";

  // Put back, the same directory opens with its stream.
  WriteFile(path, good);
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  auto d = Exchange<native::DescribeStreamResponse>(c, native::DescribeStreamRequest{"meta"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.response->shards.size(), 2u);
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
