// SPDX-License-Identifier: Apache-2.0
// Connection: address parsing, Hello, pipelined calls from many threads, failure handling.
#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/client/admin.h"
#include "broker/client/connection.h"
#include "tests/client/test_server.h"

namespace sluice::client {
namespace {

TEST(ParseAddressTest, AcceptsHostPortForms) {
  ConnectionOptions o;
  ASSERT_TRUE(ParseAddress("example.org:1234", &o).ok());
  EXPECT_EQ(o.host, "example.org");
  EXPECT_EQ(o.port, 1234);
  ASSERT_TRUE(ParseAddress("[::1]:99", &o).ok());
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 99);
  ASSERT_TRUE(ParseAddress("localhost", &o).ok());
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 4568);
  EXPECT_TRUE(ParseAddress("h:0", &o).IsInvalidArgument());
  EXPECT_TRUE(ParseAddress("h:65536", &o).IsInvalidArgument());
  EXPECT_TRUE(ParseAddress("h:x", &o).IsInvalidArgument());
  EXPECT_TRUE(ParseAddress(":80", &o).IsInvalidArgument());
  EXPECT_TRUE(ParseAddress("[::1", &o).IsInvalidArgument());
}

TEST(ConnectionTest, RefusedConnectIsUnavailable) {
  ConnectionOptions o;
  o.port = 1;  // Nothing listens on port 1 here.
  o.connect_timeout_ms = 2000;
  auto c = Connection::Open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kUnavailable) << c.status().ToString();
}

TEST(ConnectionTest, HelloNegotiatesVersion) {
  testing::TestServer server;
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto c = Connection::Open(server.options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->version(), native::kProtocolVersion);
  EXPECT_GT((*c)->max_frame_bytes(), native::kFrameHeaderSize);
  EXPECT_TRUE((*c)->is_open());
}

TEST(ConnectionTest, PipelinedCallsFromManyThreadsGetTheirOwnAnswers) {
  testing::TestServer server;
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto c = Connection::Open(server.options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Admin admin(c->get());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(admin.CreateStream("s" + std::to_string(i), 1 + i % 3).ok());
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) {
        auto d = admin.DescribeStream("s" + std::to_string(t));
        if (!d.ok() || d->stream != "s" + std::to_string(t) ||
            d->shards.size() != static_cast<size_t>(1 + t % 3)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ConnectionTest, PendingCallsFailWhenTheServerGoesAway) {
  auto server = std::make_unique<testing::TestServer>();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto c = Connection::Open(server->options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(Admin(c->get()).CreateStream("s", 1).ok());
  // A long poll is pending when the server stops.
  auto it = Admin(c->get()).GetShardIterator("s", ShardId(0), {StartingPosition::Type::kLatest});
  ASSERT_TRUE(it.ok());
  native::FetchRequest fetch;
  fetch.stream = "s";
  fetch.iterator = *it;
  fetch.max_wait_ms = 10'000;
  std::promise<Status> answered;
  auto sent = (*c)->CallAsync(fetch.kType, native::EncodeBody(fetch),
                              [&](Result<native::Frame> r) { answered.set_value(r.status()); });
  ASSERT_TRUE(sent.ok());
  server->Stop();
  auto f = answered.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  (void)f.get();  // Answered (the stopping server may answer the poll first).
  // Either way the connection is now closed, and further calls fail at once.
  for (int i = 0; i < 100 && (*c)->is_open(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE((*c)->is_open());
  EXPECT_EQ(Admin(c->get()).ListStreams().status().code(), Status::Code::kUnavailable);
}

}  // namespace
}  // namespace sluice::client
