// SPDX-License-Identifier: Apache-2.0
// EngineImpl: the Engine's reactors, listener, connection tables and request dispatch.
// engine.cc: lifecycle and accepting; engine_requests.cc: what each frame type does.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/broker.h"
#include "broker/engine/blocking_pool.h"
#include "broker/engine/connection.h"
#include "broker/engine/engine.h"
#include "broker/engine/jobs.h"
#include "broker/engine/reactor.h"
#include "broker/engine/shard_owner.h"

namespace sluice::broker::engine {

// Long polls wait at most this long, whatever the client asks.
inline constexpr uint32_t kMaxFetchWaitMs = 60'000;

class EngineImpl final : public Engine, public FrameHandler {
 public:
  EngineImpl(Broker* broker, EngineOptions options);
  ~EngineImpl() override;
  Status Init();

  uint16_t native_port() const override { return port_; }
  uint32_t threads() const override { return static_cast<uint32_t>(reactors_.size()); }
  size_t peak_connection_bytes() const override { return peak_connection_bytes_.load(); }
  size_t shard_owner_count() const override;
  Status Stop() override;

  void OnFrame(const std::shared_ptr<Connection>& conn, native::Frame frame) override;
  void OnClosed(Connection* conn) override;

 private:
  // One reactor and the state only its loop thread touches.
  struct PerReactor {
    std::unique_ptr<Reactor> reactor;
    std::unordered_map<uint64_t, std::shared_ptr<Connection>> conns;
    std::map<std::pair<uint64_t, uint32_t>, std::shared_ptr<ShardOwner>> owners;
    uint64_t owners_checked_version = 0;  // metadata_version() of the last PurgeOwners.
    // GetStream snapshots, valid while the broker's metadata_version() equals `version`.
    std::unordered_map<std::string, std::shared_ptr<const Stream>> streams;
    uint64_t version = 0;
  };

  Status Listen();
  void Accept();
  void AdoptConnection(PerReactor* pr, int fd);
  void IdleSweep(PerReactor* pr);
  // Retires and drops the owners on `pr` whose stream was deleted (or deleted and recreated).
  void PurgeOwners(PerReactor* pr);
  PerReactor& Local(const Connection& conn) { return *per_[conn.reactor()->index()]; }

  // Dispatch (engine_requests.cc).
  void Dispatch(const std::shared_ptr<Connection>& conn, native::Frame& frame);
  void HandleHello(Connection& conn, const native::Frame& frame);
  Status HandleControl(Connection& conn, const native::Frame& frame);
  Status HandleProduce(const std::shared_ptr<Connection>& conn, native::Frame& frame);
  Status HandleFetch(const std::shared_ptr<Connection>& conn, const native::Frame& frame);
  Status HandleSubscribe(const std::shared_ptr<Connection>& conn, const native::Frame& frame);
  Result<std::shared_ptr<const Stream>> Snapshot(PerReactor& pr, const std::string& name);
  // Index of the reactor that owns shard `shard` of stream incarnation `stream_id`.
  uint32_t OwnerOf(uint64_t stream_id, uint32_t shard) const;
  // The owner object on reactor `pr` (its loop thread), created on first use.
  Result<ShardOwner*> Owner(PerReactor& pr, const std::shared_ptr<const Stream>& stream,
                            ShardId shard);
  // Runs `fn(owner)` on the shard's reactor; answers `reply` with an error if the owner
  // cannot be created. Accounts the request as in flight until its reply is sent.
  template <typename Job>
  void HandOff(std::unique_ptr<Job> job, ShardId shard,
               void (ShardOwner::*method)(std::unique_ptr<Job>));
  ReplyTo MakeReply(const std::shared_ptr<Connection>& conn, uint64_t corr, size_t reserved);

  Broker* const broker_;
  const EngineOptions opts_;
  std::vector<std::unique_ptr<PerReactor>> per_;
  std::unique_ptr<BlockingPool> append_pool_;
  std::vector<Reactor*> reactors_;
  int listen_fd_ = -1;
  Reactor::FdHandler accept_handler_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> next_conn_id_{1};
  std::atomic<uint32_t> next_reactor_{0};
  std::atomic<int64_t> in_flight_{0};  // Requests handed to an owner and not yet answered.
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> peak_connection_bytes_{0};
  bool stopped_ = false;
};

}  // namespace sluice::broker::engine
