// SPDX-License-Identifier: Apache-2.0
// TestServer: a real Broker and native-protocol Engine in this process, on a temporary
// directory and a free port, for the client suites. Header-only (each suite is one binary).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/client/connection.h"
#include "broker/client/reader.h"
#include "broker/engine/engine.h"
#include "log/io/file.h"
#include "tests/support/temp_dir.h"

namespace sluice::testing {

class TestServer {
 public:
  // Fails the current test (fatally: check HasFatalFailure) when the server does not start.
  // `configure` may adjust the broker's options (limits) before it opens.
  explicit TestServer(std::function<void(broker::BrokerOptions*)> configure = {}) {
    Start(configure);
  }
  ~TestServer() { Stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  client::ConnectionOptions options() const {
    client::ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = engine_ ? engine_->native_port() : 0;
    o.request_timeout_ms = 20'000;
    return o;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(options().port); }
  broker::Broker* broker() { return broker_.get(); }

  void Stop() {
    if (engine_) {
      EXPECT_TRUE(engine_->Stop().ok());
    }
    engine_.reset();
    if (broker_) {
      EXPECT_TRUE(broker_->Close().ok());
    }
    broker_.reset();
  }

 private:
  void Start(const std::function<void(broker::BrokerOptions*)>& configure) {
    auto fs = log::io::MakeFileSystem(log::io::Backend::kAuto);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    broker::BrokerOptions opts;
    opts.log.segment_bytes = 4 << 20;  // Small preallocations: many shards, little disk.
    opts.log.logger = [](std::string_view) {};
    if (configure) configure(&opts);
    auto b = broker::Broker::Open(fs_.get(), tmp_.Sub("broker"), std::move(opts));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    auto e = broker::Engine::Start(broker_.get(), {.threads = 2, .native_port = 0});
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }

  TempDir tmp_;
  std::unique_ptr<log::io::FileSystem> fs_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<broker::Engine> engine_;
};

// Every record of `stream` from TRIM_HORIZON up to now (children after parents).
inline std::vector<client::ReadRecord> ReadAll(const client::ConnectionOptions& options,
                                               const std::string& stream) {
  std::vector<client::ReadRecord> all;
  auto conn = client::Connection::Open(options);
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  if (!conn.ok()) return all;
  auto reader = client::Reader::Open(conn->get(), stream, client::ReaderOptions{});
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return all;
  while (!(*reader)->done()) {
    auto batch = (*reader)->Next();
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok()) break;
    all.insert(all.end(), batch->begin(), batch->end());
  }
  return all;
}

}  // namespace sluice::testing
