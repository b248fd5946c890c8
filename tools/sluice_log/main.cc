// SPDX-License-Identifier: Apache-2.0
// sluice-log: inspect and check shard log files with the log library's own readers.
//   sluice-log dump FILE [--records]   segment or index file, batch by batch
//   sluice-log verify DIR              every segment and index of a shard log
#include <CLI/CLI.hpp>

#include "tools/sluice_log/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"sluice-log: inspect and verify Sluice shard log files"};
  app.require_subcommand(1);
  sluice::tools::DumpOptions dump;
  auto* d = app.add_subcommand("dump", "Print a segment (.log) or index (.index) file");
  d->add_option("FILE", dump.path, "segment or index file")->required()->check(CLI::ExistingFile);
  d->add_flag("--records", dump.records, "also print every record");
  d->add_option("--max-value", dump.max_value, "bytes of each key and value to print");
  sluice::tools::VerifyOptions verify;
  auto* v = app.add_subcommand("verify", "Check every batch, index and segment of a shard log");
  v->add_option("DIR", verify.dir, "shard log directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  v->add_flag("-q,--quiet", verify.quiet, "print only problems and the summary");
  CLI11_PARSE(app, argc, argv);
  if (d->parsed()) return sluice::tools::Dump(dump);
  return sluice::tools::Verify(verify);
}
