// SPDX-License-Identifier: Apache-2.0
// sluice: the command-line client of a Sluice server's native protocol. See README.md here.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tools/sluice/commands.h"

int main(int argc, char** argv) {
  using namespace sluice::tools;
  CLI::App app{"sluice: manage streams, put and read records over the native protocol"};
  app.require_subcommand(1);
  app.fallthrough();  // Global options (--addr, --json) also after the subcommand.

  std::string addr = "127.0.0.1:4568";
  bool json = false;
  int64_t timeout_ms = 30'000;
  app.add_option("--addr", addr, "server address HOST:PORT")->capture_default_str();
  app.add_flag("--json", json, "machine-readable JSON output (one object per line)");
  app.add_option("--timeout-ms", timeout_ms, "request timeout in milliseconds")
      ->capture_default_str();

  CliContext ctx;
  // Set by the chosen subcommand's callback; run once parsing is over.
  std::function<int()> action;

  // stream ...
  auto* stream = app.add_subcommand("stream", "create, delete, list, describe and reshard");
  stream->require_subcommand(1);
  std::string name;
  uint32_t shards = 1;
  uint32_t retention_hours = 24;
  auto* create = stream->add_subcommand("create", "create a stream");
  create->add_option("NAME", name, "stream name")->required();
  create->add_option("--shards", shards, "shard count")->capture_default_str();
  create->add_option("--retention-hours", retention_hours, "retention in hours")
      ->capture_default_str();
  create->callback(
      [&] { action = [&] { return StreamCreate(ctx, name, shards, retention_hours); }; });

  auto* del = stream->add_subcommand("delete", "delete a stream and its records");
  del->add_option("NAME", name, "stream name")->required();
  del->callback([&] { action = [&] { return StreamDelete(ctx, name); }; });

  auto* list = stream->add_subcommand("list", "list streams");
  list->callback([&] { action = [&] { return StreamList(ctx); }; });

  auto* describe = stream->add_subcommand("describe", "show a stream's shards");
  describe->add_option("NAME", name, "stream name")->required();
  describe->callback([&] { action = [&] { return StreamDescribe(ctx, name); }; });

  std::string shard;
  std::string other;
  auto* split = stream->add_subcommand("split", "split a shard at a hash key");
  split->add_option("NAME", name, "stream name")->required();
  split->add_option("SHARD", shard, "shard to split (7 or shardId-000000000007)")->required();
  split->add_option("HASHKEY", other, "new starting hash key (decimal)")->required();
  split->callback([&] { action = [&] { return StreamSplit(ctx, name, shard, other); }; });

  auto* merge = stream->add_subcommand("merge", "merge two adjacent shards");
  merge->add_option("NAME", name, "stream name")->required();
  merge->add_option("SHARD", shard, "shard to merge")->required();
  merge->add_option("ADJACENT", other, "adjacent shard")->required();
  merge->callback([&] { action = [&] { return StreamMerge(ctx, name, shard, other); }; });

  uint32_t count = 0;
  auto* scale = stream->add_subcommand("scale", "reshape the open shards into COUNT even ones");
  scale->add_option("NAME", name, "stream name")->required();
  scale->add_option("COUNT", count, "target open shard count")->required();
  scale->callback([&] { action = [&] { return StreamScale(ctx, name, count); }; });

  // put
  PutArgs put_args;
  std::string key;
  auto* put = app.add_subcommand("put", "put records (arguments, or one per stdin line)");
  put->add_option("STREAM", put_args.stream, "stream name")->required();
  put->add_option("RECORDS", put_args.records, "record data; none: read stdin lines");
  auto* key_opt = put->add_option("--key", key, "partition key (default: random per record)");
  put->callback([&] {
    if (key_opt->count() > 0) put_args.key = key;
    action = [&] { return Put(ctx, put_args); };
  });

  // cat
  CatArgs cat_args;
  auto* cat = app.add_subcommand("cat", "print records (a replay up to now, or --follow)");
  cat->add_option("STREAM", cat_args.stream, "stream name")->required();
  cat->add_option("--shard", cat_args.shard, "shard id or 'all'")->capture_default_str();
  cat->add_option("--from", cat_args.from,
                  "trim-horizon | latest | at:SEQ | after:SEQ | at-timestamp:MS")
      ->capture_default_str();
  cat->add_flag("--follow,-f", cat_args.follow, "keep reading new records");
  cat->add_option("--limit", cat_args.limit, "stop after N records (0: no limit)");
  cat->callback([&] { action = [&] { return Cat(ctx, cat_args); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ctx.json = json;
  ctx.connection.request_timeout_ms = timeout_ms;
  ctx.connection.client_id = "sluice-cli";
  if (sluice::Status s = sluice::client::ParseAddress(addr, &ctx.connection); !s.ok()) {
    return ReportError(s);
  }
  return action ? action() : 2;
}
