// SPDX-License-Identifier: Apache-2.0
// Connection: one native-protocol TCP connection on its reactor: non-blocking reads through a
// FrameDecoder, responses queued and written with writev at the end of each loop iteration,
// and the per-connection memory cap that turns into TCP back-pressure.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/engine/reactor.h"
#include "broker/native_frame.h"
#include "broker/native_frame_decoder.h"
#include "log/base/status.h"

namespace sluice::broker::engine {

class Connection;

// What a connection hands its frames to (the engine). Called on the connection's loop thread.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  virtual void OnFrame(const std::shared_ptr<Connection>& conn, native::Frame frame) = 0;
  virtual void OnClosed(Connection* conn) = 0;
};

struct ConnectionLimits {
  size_t max_frame_bytes = native::kDefaultMaxFrameBytes;
  // Reading pauses while queued() exceeds this and resumes below half of it.
  size_t max_queued_bytes = 64u << 20;
  // The largest queued() any connection reached (shared by the engine's connections).
  std::atomic<size_t>* peak = nullptr;
};

// Lives on one reactor; every method except the atomics' accessors runs on that loop thread.
// Owned by shared_ptr (the engine's table); work on other reactors holds weak_ptrs and posts
// results back with Reactor::Post.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Reactor* reactor, int fd, uint64_t id, ConnectionLimits limits, FrameHandler* handler);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status Open();  // Registers with the reactor.
  uint64_t id() const { return id_; }
  Reactor* reactor() const { return reactor_; }
  bool closed() const { return closed_.load(std::memory_order_acquire); }  // Any thread.

  // Queues a whole frame; written at the end of this loop iteration (or when the socket
  // drains). No-op once closed. Bytes already counted by Reserve() are released here.
  void Send(std::string frame, size_t reserved = 0);
  // Sends an Error frame for `corr` and keeps the connection.
  void SendError(uint64_t corr, native::ErrorCode code, std::string_view message);
  // Sends an Error frame, stops reading and closes once it is written (bounded wait).
  void FailAndClose(native::ErrorCode code, std::string_view message);
  void Close();
  // Engine stopping: reads nothing more (requests already read still get their replies).
  void StopReading();
  // Closes once every queued reply is written (or after a grace period).
  void CloseWhenFlushed();

  // Memory accounting shared with other reactors: request bytes in flight plus response bytes
  // in transit or unsent. Reserve() from any thread before posting a frame to this connection
  // (or when a request goes to another reactor); Release() when it is no longer held.
  void Reserve(size_t bytes) {
    const size_t now = queued_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    size_t peak = limits_.peak->load(std::memory_order_relaxed);
    while (now > peak && !limits_.peak->compare_exchange_weak(peak, now)) {
    }
  }
  void Release(size_t bytes);
  size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  size_t max_queued() const { return limits_.max_queued_bytes; }
  // Called (on this loop) when queued() falls below half the cap after exceeding it: the
  // engine resumes subscriptions paused for this connection.
  void OnDrained(std::function<void()> fn) { on_drained_ = std::move(fn); }
  // Any thread: asks for one OnDrained call once queued() is at or below half the cap (a
  // subscription paused by back-pressure).
  void WantDrainSignal() { want_drain_signal_.store(true, std::memory_order_release); }

  // Liveness for the idle timeout: long polls and subscriptions count as activity.
  SteadyTime last_activity() const { return last_activity_; }
  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }
  int active_waits = 0;  // Long polls and subscriptions held for this connection.
  bool hello_done = false;
  bool draining = false;  // Engine stopping: read nothing more.

 private:
  void OnEvents(uint32_t events);
  void ReadSome();
  // Parses and dispatches frames from `bytes`; false when it stopped (closed, over the cap).
  bool ProcessInput(std::string_view bytes);
  void Flush();
  void UpdateInterest();
  void CheckDrained();
  void Linger();
  void DiscardInput();

  Reactor* const reactor_;
  int fd_;
  const uint64_t id_;
  const ConnectionLimits limits_;
  FrameHandler* const handler_;
  Reactor::FdHandler fd_handler_;
  native::FrameDecoder decoder_;
  std::string held_input_;  // Bytes read but not parsed while over the cap.
  std::deque<std::string> out_;
  size_t out_offset_ = 0;  // Bytes of out_.front() already written.
  size_t out_bytes_ = 0;   // Unsent bytes in out_.
  bool flush_scheduled_ = false;
  bool want_write_ = false;
  bool reading_ = true;
  bool closing_ = false;    // Close once out_ is written.
  bool lingering_ = false;  // Write side shut; discarding input until the peer closes.
  bool over_cap_ = false;
  uint32_t interest_ = 0;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> want_drain_signal_{false};
  std::function<void()> on_drained_;
  SteadyTime last_activity_;
};

}  // namespace sluice::broker::engine
