// SPDX-License-Identifier: Apache-2.0
// Connection: one TCP connection to a Sluice server speaking the native protocol
// (broker/native_frame.h): Hello negotiation, pipelined requests matched to responses by
// correlation id, streamed responses (Subscribe). See broker/client/README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "broker/native_frame.h"
#include "broker/native_protocol.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/thread_annotations.h"

namespace sluice::client {

namespace native = broker::native;

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4568;
  // Connect plus Hello must finish within this long.
  int64_t connect_timeout_ms = 5'000;
  // Call() gives up after this long (plus the request's own long-poll time) with Unavailable.
  // 0 waits forever.
  int64_t request_timeout_ms = 30'000;
  std::string client_id = "sluice-client";
};

// "host:port", "[v6addr]:port" or "host" (port 4568) into options.host/port.
Status ParseAddress(std::string_view address, ConnectionOptions* options);

// Called with each response frame of one request (Error frames arrive as their Status, mapped
// with native::StatusFromError) or with the connection's failure. Runs on the connection's
// reader thread (or, for a failure, on the thread whose write or Close() found it): it must not
// block for long, must not hold locks the caller of CallAsync/Close holds, and must not destroy
// the Connection.
using ResponseCallback = std::function<void(Result<native::Frame>)>;
// For streamed responses: return true to keep receiving frames for this correlation id. An
// error (Error frame or connection failure) always ends the stream.
using StreamCallback = std::function<bool(Result<native::Frame>)>;

// Thread-safe: any thread may send requests concurrently; frames are written whole, in the
// order their Call/CallAsync took the write lock. One internal reader thread decodes responses
// and runs callbacks. When the connection fails (peer closed, reset, bad frame, Close()), every
// pending request is answered exactly once with Unavailable naming the cause, and later calls
// fail at once with Unavailable.
class Connection {
 public:
  // Connects (blocking, options.connect_timeout_ms), sends Hello and waits for HelloResponse.
  // Unavailable when the server cannot be reached; NotSupported when it speaks no version of
  // ours; the server's Error otherwise.
  static Result<std::unique_ptr<Connection>> Open(ConnectionOptions options);
  ~Connection();  // Close()s. Never destroy a Connection from one of its callbacks.
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends a request and waits for its single response frame. `extra_wait_ms` is added to the
  // request timeout (for long polls). Error frames become their Status.
  Result<native::Frame> Call(native::FrameType type, std::string_view body,
                             int64_t extra_wait_ms = 0);
  // Typed form: encodes `request`, decodes the response as `Response`.
  template <typename Response, typename Request>
  Result<Response> Call(const Request& request, int64_t extra_wait_ms = 0) {
    // Unqualified, so that argument-dependent lookup finds every message's EncodeBody.
    SLUICE_ASSIGN_OR_RETURN(native::Frame frame,
                            Call(Request::kType, EncodeBody(request), extra_wait_ms));
    return native::DecodeMessage<Response>(frame);
  }

  // Sends a request; `done` gets its response (or failure) exactly once, unless this returns
  // an error (connection already failed, frame too large), in which case it is never called.
  // Returns the request's correlation id.
  Result<uint64_t> CallAsync(native::FrameType type, std::string_view body, ResponseCallback done);
  // Sends a request whose answer is a stream of frames (Subscribe: Ack, then pushes).
  Result<uint64_t> CallStream(native::FrameType type, std::string_view body,
                              StreamCallback on_frame);
  // Forgets a pending request: its callback is not called again (frames for it are dropped).
  // The callback may be running concurrently on the reader thread when this returns.
  void Cancel(uint64_t correlation_id);

  // Shuts the socket, joins the reader thread and fails pending requests. Idempotent.
  void Close();
  // False once the connection has failed or been closed.
  bool is_open() const;
  // Why the connection failed (OK while open).
  Status failure() const;

  uint8_t version() const { return version_; }
  size_t max_frame_bytes() const { return max_frame_bytes_; }
  const std::string& server_id() const { return server_id_; }
  const ConnectionOptions& options() const { return options_; }

 private:
  struct Pending {
    StreamCallback on_frame;
  };

  Connection(ConnectionOptions options, int fd);
  Status Handshake();
  Result<uint64_t> Send(native::FrameType type, std::string_view body, StreamCallback on_frame);
  Status WriteAll(std::string_view bytes) EXCLUDES(write_mu_);
  void ReaderLoop();
  void Dispatch(native::Frame frame);
  // Records the first failure, shuts the socket down and fails every pending request.
  void Fail(Status cause) EXCLUDES(mu_);

  const ConnectionOptions options_;
  const int fd_;
  uint8_t version_ = native::kProtocolVersion;
  size_t max_frame_bytes_ = native::kDefaultMaxFrameBytes;
  std::string server_id_;

  Mutex write_mu_;  // Serializes whole-frame writes.
  mutable Mutex mu_;
  uint64_t next_correlation_id_ GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Pending> pending_ GUARDED_BY(mu_);
  Status failure_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  // The request whose callback the reader thread is running (0: none), and whether Cancel()
  // was called for it meanwhile (so a stream callback is not put back).
  uint64_t dispatching_ GUARDED_BY(mu_) = 0;
  bool dispatching_cancelled_ GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace sluice::client
