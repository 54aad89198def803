// outpost-raft-sim: runs the deterministic Raft simulation over a range of seeds.
//
//   outpost-raft-sim --seeds 10000 [--first 1]   run seeds first .. first+N-1
//   outpost-raft-sim --seed 4242 -v              replay one seed, printing every event
//   --ticks T                                    ticks with faults per seed (default 400)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "simulation.h"

using outpost::raft::sim::Options;
using outpost::raft::sim::Result;
using outpost::raft::sim::Stats;

int main(int argc, char** argv) {
  std::uint64_t first = 1, count = 200;
  Options base;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seeds") {
      count = std::strtoull(next(), nullptr, 10);
    } else if (a == "--first") {
      first = std::strtoull(next(), nullptr, 10);
    } else if (a == "--seed") {
      first = std::strtoull(next(), nullptr, 10);
      count = 1;
    } else if (a == "--ticks") {
      base.ticks = std::atoi(next());
    } else if (a == "-v" || a == "--verbose") {
      base.verbose = true;
    } else {
      std::fprintf(stderr, "usage: %s [--seeds N] [--first S] [--seed S] [--ticks T] [-v]\n",
                   argv[0]);
      return 2;
    }
  }
  // Wall time is only measured for the report; it never influences a run.
  const auto start = std::chrono::steady_clock::now();
  Stats total;
  std::uint64_t failures = 0;
  for (std::uint64_t s = first; s < first + count; ++s) {
    Options o = base;
    o.seed = s;
    Result r = outpost::raft::sim::run(o);
    const Stats& st = r.stats;
    total.messages += st.messages;
    total.dropped += st.dropped;
    total.duplicated += st.duplicated;
    total.crashes += st.crashes;
    total.partitions += st.partitions;
    total.elections += st.elections;
    total.committed += st.committed;
    total.reads += st.reads;
    total.snapshots += st.snapshots;
    total.snapshots_sent += st.snapshots_sent;
    total.conf_changes += st.conf_changes;
    total.promotions += st.promotions;
    total.removals += st.removals;
    total.transfers += st.transfers;
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed=%llu: %s\n  shape: %s\n  replay: outpost-raft-sim --seed %llu -v\n",
                  static_cast<unsigned long long>(s), r.failure.c_str(), r.shape.c_str(),
                  static_cast<unsigned long long>(s));
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "seeds %llu..%llu: %llu run, %llu failed, %.1f s\n"
      "  messages %llu (dropped %llu, duplicated %llu), crashes %llu, partitions %llu\n"
      "  elections %llu, entries committed %llu, reads checked %llu\n"
      "  snapshots taken %llu, sent %llu, conf changes proposed %llu (applications summed over "
      "nodes: "
      "promotions %llu, removals %llu), transfers requested %llu\n",
      static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1),
      static_cast<unsigned long long>(count), static_cast<unsigned long long>(failures), secs,
      static_cast<unsigned long long>(total.messages),
      static_cast<unsigned long long>(total.dropped),
      static_cast<unsigned long long>(total.duplicated),
      static_cast<unsigned long long>(total.crashes),
      static_cast<unsigned long long>(total.partitions),
      static_cast<unsigned long long>(total.elections),
      static_cast<unsigned long long>(total.committed),
      static_cast<unsigned long long>(total.reads),
      static_cast<unsigned long long>(total.snapshots),
      static_cast<unsigned long long>(total.snapshots_sent),
      static_cast<unsigned long long>(total.conf_changes),
      static_cast<unsigned long long>(total.promotions),
      static_cast<unsigned long long>(total.removals),
      static_cast<unsigned long long>(total.transfers));
  return failures == 0 ? 0 : 1;
}
