// SPDX-License-Identifier: Apache-2.0
#include "broker/client/admin.h"

#include <utility>

namespace sluice::client {

Status Admin::ExpectAck(native::FrameType type, std::string body) {
  SLUICE_ASSIGN_OR_RETURN(native::Frame frame, conn_->Call(type, body));
  return native::DecodeMessage<native::Ack>(frame).status();
}

Status Admin::CreateStream(std::string_view stream, uint32_t shard_count,
                           uint32_t retention_hours) {
  native::CreateStreamRequest req;
  req.stream = std::string(stream);
  req.shard_count = shard_count;
  req.retention_hours = retention_hours;
  return ExpectAck(req.kType, native::EncodeBody(req));
}

Status Admin::DeleteStream(std::string_view stream) {
  native::DeleteStreamRequest req;
  req.stream = std::string(stream);
  return ExpectAck(req.kType, native::EncodeBody(req));
}

Result<std::vector<std::string>> Admin::ListStreams() {
  std::vector<std::string> all;
  native::ListStreamsRequest req;
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(auto page, conn_->Call<native::ListStreamsResponse>(req));
    for (auto& name : page.streams) all.push_back(std::move(name));
    if (!page.has_more || all.empty() || all.back() == req.exclusive_start) break;
    req.exclusive_start = all.back();
  }
  return all;
}

Result<StreamDescription> Admin::DescribeStream(std::string_view stream) {
  native::DescribeStreamRequest req;
  req.stream = std::string(stream);
  return conn_->Call<native::DescribeStreamResponse>(req);
}

Result<std::string> Admin::GetShardIterator(std::string_view stream, ShardId shard,
                                            const StartingPosition& from) {
  native::GetShardIteratorRequest req;
  req.stream = std::string(stream);
  req.shard_id = shard.value();
  req.position = from;
  SLUICE_ASSIGN_OR_RETURN(auto resp, conn_->Call<native::GetShardIteratorResponse>(req));
  return std::move(resp.iterator);
}

Status Admin::SplitShard(std::string_view stream, ShardId shard,
                         std::string_view new_starting_hash_key) {
  native::SplitShardRequest req;
  req.stream = std::string(stream);
  req.shard_id = shard.value();
  req.new_starting_hash_key = std::string(new_starting_hash_key);
  return ExpectAck(req.kType, native::EncodeBody(req));
}

Status Admin::MergeShards(std::string_view stream, ShardId shard, ShardId adjacent_shard) {
  native::MergeShardsRequest req;
  req.stream = std::string(stream);
  req.shard_id = shard.value();
  req.adjacent_shard_id = adjacent_shard.value();
  return ExpectAck(req.kType, native::EncodeBody(req));
}

Status Admin::UpdateShardCount(std::string_view stream, uint32_t target_shard_count) {
  native::UpdateShardCountRequest req;
  req.stream = std::string(stream);
  req.target_shard_count = target_shard_count;
  return ExpectAck(req.kType, native::EncodeBody(req));
}

}  // namespace sluice::client
