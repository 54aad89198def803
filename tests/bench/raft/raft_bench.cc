// outpost-raft-bench: throughput and allocations of the Raft library alone.
//
// A 3-voter cluster in one thread: the leader gets `batch` proposals, then every node's Ready is
// handled the way the server will (persist into MemoryStorage, send, apply, advance) and messages
// are delivered directly, until the cluster is quiet. Repeats until `total` proposals are applied
// on every node. Storage is compacted every 10 000 entries so memory stays flat. Counts every
// call of global operator new made during the measured part.
//
//   outpost-raft-bench [--total N] [--payload BYTES] [--batch B ...]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/common/panic.h"
#include "core/raft/raw_node.h"

namespace {
std::atomic<std::uint64_t> g_allocs{0};
}

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace outpost::raft;

namespace {

// The bench's MemoryStorage calls do not fail on this path; if one does, the figures mean nothing.
void must(Error e, const char* call) {
  if (e != Error::kOk)
    OUTPOST_PANIC("raft storage call failed", {"call", "\"" + std::string(call) + "\""},
                  {"error", "\"" + std::string(to_string(e)) + "\""});
}

struct Node {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  std::uint64_t applied = 0;
  std::uint64_t applied_normal = 0;
  std::uint64_t since_compact = 0;
};

struct Result {
  double seconds;
  std::uint64_t allocs;
  std::uint64_t readies;
};

Result run(std::uint64_t total, std::size_t payload, std::uint64_t batch) {
  raftpb::ConfState cs;
  for (std::uint64_t id = 1; id <= 3; ++id) cs.add_voters(id);
  std::map<std::uint64_t, Node> nodes;
  for (std::uint64_t id = 1; id <= 3; ++id) {
    Node n;
    n.storage = std::make_unique<MemoryStorage>(cs);
    Config c;
    c.id = id;
    c.storage = n.storage.get();
    c.max_size_per_msg = 1024 * 1024;
    c.max_inflight_msgs = 256;
    n.node = std::make_unique<RawNode>(c);
    nodes[id] = std::move(n);
  }
  std::deque<raftpb::Message> net;
  std::uint64_t readies = 0;
  auto settle = [&] {
    for (;;) {
      bool moved = false;
      for (auto& [id, n] : nodes) {
        if (!n.node->has_ready()) continue;
        moved = true;
        ++readies;
        Ready rd = n.node->ready();
        if (rd.snapshot) must(n.storage->apply_snapshot(*rd.snapshot), "apply_snapshot");
        must(n.storage->append(std::move(rd.entries)), "append");
        if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
        for (auto& m : rd.messages) net.push_back(std::move(m));
        for (const auto& e : rd.committed_entries) {
          n.applied = e.index();
          if (!e.data().empty()) ++n.applied_normal;
        }
        n.node->advance();
        n.since_compact += rd.committed_entries.size();
        if (n.since_compact >= 10000) {
          must(n.storage->compact(n.applied), "compact");
          n.since_compact = 0;
        }
      }
      while (!net.empty()) {
        moved = true;
        raftpb::Message m = std::move(net.front());
        net.pop_front();
        // A node refuses what it must ignore; the bench only counts what gets through.
        (void)nodes[m.to()].node->step(std::move(m));
      }
      if (!moved) return;
    }
  };
  must(nodes[1].node->campaign(), "campaign");
  settle();
  RawNode& leader = *nodes[1].node;
  if (leader.raft().state() != StateType::kLeader) {
    std::fprintf(stderr, "no leader\n");
    std::exit(1);
  }
  const std::string data(payload, 'x');
  const std::uint64_t allocs0 = g_allocs.load();
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t proposed = 0;
  while (proposed < total) {
    for (std::uint64_t i = 0; i < batch && proposed < total; ++i, ++proposed) {
      if (leader.propose(data) != Error::kOk) {
        std::fprintf(stderr, "proposal dropped\n");
        std::exit(1);
      }
    }
    settle();
  }
  // Heartbeats carry the final commit index to the followers.
  for (auto& [id, n] : nodes) n.node->tick();
  settle();
  const auto t1 = std::chrono::steady_clock::now();
  const std::uint64_t allocs = g_allocs.load() - allocs0;
  for (auto& [id, n] : nodes) {
    if (n.applied_normal != total) {
      std::fprintf(stderr, "node %llu applied %llu of %llu\n", static_cast<unsigned long long>(id),
                   static_cast<unsigned long long>(n.applied_normal),
                   static_cast<unsigned long long>(total));
      std::exit(1);
    }
  }
  return Result{std::chrono::duration<double>(t1 - t0).count(), allocs, readies};
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 200000;
  std::size_t payload = 128;
  std::vector<std::uint64_t> batches;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--total" && i + 1 < argc)
      total = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--payload" && i + 1 < argc)
      payload = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--batch" && i + 1 < argc)
      batches.push_back(std::strtoull(argv[++i], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: %s [--total N] [--payload BYTES] [--batch B ...]\n", argv[0]);
      return 2;
    }
  }
  if (batches.empty()) batches = {1, 16, 256};
  std::printf("3-node in-memory cluster, %llu proposals of %zu bytes each\n",
              static_cast<unsigned long long>(total), payload);
  std::printf("%8s %14s %18s %12s\n", "batch", "proposals/s", "allocs/proposal", "readies");
  for (std::uint64_t b : batches) {
    Result r = run(total, payload, b);
    std::printf("%8llu %14.0f %18.1f %12llu\n", static_cast<unsigned long long>(b),
                static_cast<double>(total) / r.seconds,
                static_cast<double>(r.allocs) / static_cast<double>(total),
                static_cast<unsigned long long>(r.readies));
  }
  return 0;
}
