// SPDX-License-Identifier: Apache-2.0
// Shard iterators through the real daemon: expiry after --iterator-ttl-ms with Kinesis's text,
// tampered tokens refused as invalid, and tokens that outlive a restart (the node secret in
// <data-dir>/node.secret persists).
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/shard_iterator.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/stream_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::integration {
namespace {

class SluicedIteratorTest : public ::testing::Test {
 protected:
  // Creates stream "it" (one shard) holding records "a", "b" and returns a TRIM_HORIZON token.
  static std::string Setup(TestClient& c) {
    EXPECT_TRUE(Exchange<native::Ack>(c, native::CreateStreamRequest{"it", 1, 24}).ok());
    native::ProduceRequest p;
    p.stream = "it";
    p.batches = {BuildBatch({{"k", "a"}, {"k", "b"}})};
    auto produced = Exchange<native::ProduceResponse>(c, p);
    EXPECT_TRUE(produced.ok() && produced.response->results[0].code == native::ErrorCode::kOk);
    return Iterator(c);
  }
  static std::string Iterator(TestClient& c) {
    auto it =
        Exchange<native::GetShardIteratorResponse>(c, native::GetShardIteratorRequest{"it", 0, {}});
    EXPECT_TRUE(it.ok()) << (it.error ? it.error->message : "no answer");
    return it.ok() ? it.response->iterator : std::string();
  }
  static Answer<native::FetchResponse> Fetch(TestClient& c, const std::string& iterator) {
    native::FetchRequest f;
    f.stream = "it";
    f.iterator = iterator;
    return Exchange<native::FetchResponse>(c, f);
  }
  static std::vector<std::string> ValuesOf(const native::FetchResponse& r) {
    std::vector<StoredRecord> records;
    AppendRecords(0, r.batches, &records);
    std::vector<std::string> out;
    for (const StoredRecord& rec : records) out.push_back(rec.value);
    return out;
  }

  sluice::testing::TempDir tmp_;
  DaemonProcess daemon_{tmp_.Sub("data")};
};

TEST_F(SluicedIteratorTest, ExpiresAfterTheConfiguredTtl) {
  ASSERT_TRUE(daemon_.StartAndWaitReady({"--iterator-ttl-ms", "1000"}));
  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  const std::string token = Setup(c);
  auto fresh = Fetch(c, token);  // Good before the TTL.
  ASSERT_TRUE(fresh.ok()) << (fresh.error ? fresh.error->message : "no answer");
  EXPECT_EQ(ValuesOf(*fresh.response), (std::vector<std::string>{"a", "b"}));

  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto expired = Fetch(c, token);
  ASSERT_TRUE(expired.error.has_value());
  EXPECT_EQ(expired.error->code, native::ErrorCode::kAborted);
  EXPECT_TRUE(
      expired.error->message.starts_with("Iterator expired. The iterator was created at time "))
      << expired.error->message;
  EXPECT_NE(expired.error->message.find(
                "which is further in the future than the tolerated delay of 1000 milliseconds."),
            std::string::npos)
      << expired.error->message;
  // The connection stays usable: a new iterator reads again.
  auto again = Fetch(c, Iterator(c));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ValuesOf(*again.response), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(daemon_.Terminate(), 0);
}

TEST_F(SluicedIteratorTest, TamperedIteratorIsInvalid) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  const std::string token = Setup(c);
  ASSERT_GT(token.size(), 8u);
  // One character in the middle of the base64 token, so the HMAC no longer matches.
  for (size_t at : {token.size() / 2, size_t{1}, token.size() - 5}) {
    std::string tampered = token;
    tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
    auto bad = Fetch(c, tampered);
    ASSERT_TRUE(bad.error.has_value()) << "position " << at;
    EXPECT_EQ(bad.error->code, native::ErrorCode::kInvalidArgument) << "position " << at;
    EXPECT_EQ(bad.error->message, broker::kInvalidIteratorMessage) << "position " << at;
  }
  auto good = Fetch(c, token);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(ValuesOf(*good.response), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(daemon_.Terminate(), 0);
}

TEST_F(SluicedIteratorTest, IteratorIssuedBeforeARestartStillWorks) {
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  std::string token;
  std::string next;
  {
    TestClient c(daemon_.native_port());
    ASSERT_TRUE(c.ok());
    token = Setup(c);
    auto first = Fetch(c, token);
    ASSERT_TRUE(first.ok());
    next = first.response->next_iterator;  // Positioned after "a", "b".
  }
  ASSERT_EQ(daemon_.Terminate(), 0);
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient c(daemon_.native_port());
  ASSERT_TRUE(c.ok());
  auto again = Fetch(c, token);
  ASSERT_TRUE(again.ok()) << (again.error ? again.error->message : "no answer");
  EXPECT_EQ(ValuesOf(*again.response), (std::vector<std::string>{"a", "b"}));
  // The continuation token resumes where it left off, across the restart too.
  native::ProduceRequest p;
  p.stream = "it";
  p.batches = {BuildBatch({{"k", "c"}})};
  ASSERT_TRUE(Exchange<native::ProduceResponse>(c, p).ok());
  auto resumed = Fetch(c, next);
  ASSERT_TRUE(resumed.ok()) << (resumed.error ? resumed.error->message : "no answer");
  EXPECT_EQ(ValuesOf(*resumed.response), std::vector<std::string>{"c"});

  // The secret is what carries tokens over: with a new one, the old token is invalid.
  ASSERT_EQ(daemon_.Terminate(), 0);
  ASSERT_EQ(std::remove((daemon_.data_dir() + "/node.secret").c_str()), 0);
  ASSERT_TRUE(daemon_.StartAndWaitReady());
  TestClient after(daemon_.native_port());
  auto refused = Fetch(after, token);
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->code, native::ErrorCode::kInvalidArgument);
  EXPECT_EQ(daemon_.Terminate(), 0);
}

}  // namespace
}  // namespace sluice::integration
