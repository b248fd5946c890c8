// SPDX-License-Identifier: Apache-2.0
// sluice cat: reads records with the iterator Reader: a replay up to now, or --follow to tail.
#include <charconv>
#include <iostream>
#include <string>
#include <unistd.h>

#include "broker/client/reader.h"
#include "broker/shard_name.h"
#include "tools/sluice/commands.h"
#include "tools/sluice/output.h"

namespace sluice::tools {
namespace {

Result<client::StartingPosition> ParseFrom(const std::string& from) {
  using Type = client::StartingPosition::Type;
  client::StartingPosition p;
  auto rest = [&](std::string_view prefix) { return from.substr(prefix.size()); };
  if (from == "trim-horizon") {
    p.type = Type::kTrimHorizon;
  } else if (from == "latest") {
    p.type = Type::kLatest;
  } else if (from.starts_with("at:")) {
    p.type = Type::kAtSequence;
    p.sequence = rest("at:");
  } else if (from.starts_with("after:")) {
    p.type = Type::kAfterSequence;
    p.sequence = rest("after:");
  } else if (from.starts_with("at-timestamp:")) {
    p.type = Type::kAtTimestamp;
    std::string ms = rest("at-timestamp:");
    auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), p.timestamp_ms);
    if (ms.empty() || ec != std::errc() || end != ms.data() + ms.size()) {
      return Status::InvalidArgument("bad --from '" + from + "': timestamp must be milliseconds");
    }
  } else {
    return Status::InvalidArgument("bad --from '" + from +
                                   "': expected trim-horizon, latest, at:SEQ, after:SEQ or "
                                   "at-timestamp:MS");
  }
  if ((p.type == Type::kAtSequence || p.type == Type::kAfterSequence) && p.sequence.empty()) {
    return Status::InvalidArgument("bad --from '" + from + "': missing sequence number");
  }
  return p;
}

void PrintRecord(const CliContext& ctx, const client::ReadRecord& r) {
  if (ctx.json) {
    std::cout << "{\"shard_id\":\"" << broker::ShardName(r.shard) << "\",\"sequence_number\":\""
              << r.sequence_number << "\",\"partition_key\":" << JsonString(r.partition_key) << ","
              << JsonData(r.data) << ",\"arrival_ms\":" << r.arrival_ms << "}\n";
  } else {
    std::cout << broker::ShardName(r.shard) << "  " << r.sequence_number << "  "
              << Printable(r.partition_key) << "  " << Printable(r.data) << "\n";
  }
}

}  // namespace

int Cat(const CliContext& ctx, const CatArgs& args) {
  client::ReaderOptions opts;
  auto from = ParseFrom(args.from);
  if (!from.ok()) return ReportError(from.status());
  opts.from = *from;
  if (args.shard != "all") {
    auto shard = ParseShardArg(args.shard);
    if (!shard.ok()) return ReportError(shard.status());
    opts.shards.push_back(*shard);
  }
  opts.follow = args.follow;
  opts.follow_children = true;
  auto conn = client::Connection::Open(ctx.connection);
  if (!conn.ok()) return ReportError(conn.status());
  auto reader = client::Reader::Open(conn->get(), args.stream, opts);
  if (!reader.ok()) return ReportError(reader.status());

  std::ios::sync_with_stdio(false);
  // A replay shows progress unless the records themselves go to the terminal.
  Progress progress("records", 0, /*wanted=*/!args.follow && !::isatty(STDOUT_FILENO));
  uint64_t count = 0;
  uint64_t bytes = 0;
  while (args.limit == 0 || count < args.limit) {
    auto records = (*reader)->Next();
    if (!records.ok()) {
      progress.Finish();
      std::cout.flush();
      return ReportError(records.status());
    }
    for (const auto& r : *records) {
      PrintRecord(ctx, r);
      bytes += r.data.size() + r.partition_key.size();
      if (++count == args.limit) break;
    }
    progress.Update(count, bytes);
    if (args.follow) std::cout.flush();
    if ((*reader)->done()) break;
  }
  progress.Finish();
  std::cout.flush();
  return 0;
}

}  // namespace sluice::tools
