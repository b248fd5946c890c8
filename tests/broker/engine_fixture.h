// SPDX-License-Identifier: Apache-2.0
// EngineFixture: a Broker on a temp dir with the engine serving it on a free loopback port, and
// small request helpers; shared by the engine test suites.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/engine/engine.h"
#include "log/io/file.h"
#include "tests/broker/native_test_client.h"
#include "tests/support/temp_dir.h"

namespace sluice::broker::testing {

// Start() is the suite's to call (SetUp or each test); TearDown stops everything.
class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fs = log::io::MakeFileSystem(log::io::Backend::kAuto);
    ASSERT_TRUE(fs.ok());
    fs_ = std::move(fs).value();
  }
  void TearDown() override { Shutdown(); }

  void Start(EngineOptions options = {}) {
    BrokerOptions bo;
    bo.iterator_secret = secret_;
    bo.log.preallocate = false;
    bo.log.segment_bytes = 1 << 20;
    auto b = Broker::Open(fs_.get(), dir_.Sub("data"), bo);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    options.threads = options.threads == 0 ? 2 : options.threads;
    options.native_port = 0;
    auto e = Engine::Start(broker_.get(), options);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  void Shutdown() {
    if (engine_) {
      EXPECT_TRUE(engine_->Stop().ok());
    }
    engine_.reset();
    if (broker_) {
      EXPECT_TRUE(broker_->Close().ok());
    }
    broker_.reset();
  }
  void Restart(EngineOptions options = {}) {
    Shutdown();
    Start(options);
  }
  uint16_t port() const { return engine_->native_port(); }

  static void Create(TestClient& c, const std::string& name, uint32_t shards) {
    c.Call<native::Ack>(native::CreateStreamRequest{name, shards, 24});
  }
  static native::ProduceResponse Produce(TestClient& c, const std::string& stream, uint32_t shard,
                                         std::vector<std::string> batches,
                                         std::optional<native::ProducerStamp> producer = {}) {
    native::ProduceRequest p;
    p.stream = stream;
    p.selector.shard_id = shard;
    p.producer = producer;
    p.batches = std::move(batches);
    return c.Call<native::ProduceResponse>(p);
  }
  static native::FetchResponse FetchFrom(TestClient& c, const std::string& stream, uint32_t shard,
                                         uint64_t offset, uint32_t wait_ms = 0) {
    native::FetchRequest f;
    f.stream = stream;
    f.shard_id = shard;
    f.from = native::FetchRequest::From::kOffset;
    f.offset = offset;
    f.max_wait_ms = wait_ms;
    return c.Call<native::FetchResponse>(f);
  }

  sluice::testing::TempDir dir_;
  std::string secret_ = std::string(32, 's');
  std::unique_ptr<log::io::FileSystem> fs_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace sluice::broker::testing
