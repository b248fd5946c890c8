// SPDX-License-Identifier: Apache-2.0
#include "broker/engine/jobs.h"

#include <utility>

#include "broker/native_protocol.h"

namespace sluice::broker::engine {

void ReplyTo::Send(std::string frame) const {
  const size_t size = frame.size();
  if (std::shared_ptr<Connection> c = conn.lock()) c->Reserve(size);
  auto deliver = [conn = conn, frame = std::move(frame), size, reserved = reserved,
                  in_flight = in_flight]() mutable {
    if (std::shared_ptr<Connection> c = conn.lock()) {
      // Send() counts the frame itself: release what this side reserved for it.
      c->Send(std::move(frame), reserved + size);
    }
    if (in_flight != nullptr) in_flight->fetch_sub(1, std::memory_order_acq_rel);
  };
  if (reactor->InLoop()) {
    deliver();
  } else {
    reactor->Post(std::move(deliver));
  }
}

void ReplyTo::Error(native::ErrorCode code, std::string_view message) const {
  Send(native::EncodeMessage(
      native::ErrorResponse{code, native::kProtocolVersion,
                            std::string(message.substr(0, native::kMaxMessageBytes))},
      correlation_id));
}

void ReplyTo::Error(const Status& status) const {
  Error(native::ErrorCodeFromStatus(status), status.message());
}

}  // namespace sluice::broker::engine
