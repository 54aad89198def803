#pragma once
// Test scaffolding for core/raft: helpers to build a bare Raft and a synchronous in-memory
// cluster of RawNodes that persists, sends and applies Ready exactly the way the server will.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/common/panic.h"
#include "core/raft/raw_node.h"

namespace outpost::raft::test {

// For calls the scaffolding relies on (storage reads and writes, a campaign): a test whose setup
// fails stops here rather than asserting on a half-built state.
inline void must(Error e, const char* what) {
  if (e != Error::kOk) {
    OUTPOST_PANIC(what, {"error", "\"" + std::string(to_string(e)) + "\""});
  }
}

inline raftpb::ConfState conf(std::vector<std::uint64_t> voters,
                              std::vector<std::uint64_t> learners = {}) {
  raftpb::ConfState cs;
  for (auto v : voters) cs.add_voters(v);
  for (auto l : learners) cs.add_learners(l);
  return cs;
}

inline Config make_config(std::uint64_t id, Storage* s, int election = 10, int heartbeat = 1) {
  Config c;
  c.id = id;
  c.election_tick = election;
  c.heartbeat_tick = heartbeat;
  c.storage = s;
  c.max_size_per_msg = no_limit;
  c.max_inflight_msgs = 256;
  return c;
}

inline raftpb::Entry entry(std::uint64_t index, std::uint64_t term, std::string data = {}) {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

inline raftpb::Message msg(raftpb::MessageType t, std::uint64_t from, std::uint64_t to,
                           std::uint64_t term = 0) {
  raftpb::Message m;
  m.set_type(t);
  m.set_from(from);
  m.set_to(to);
  m.set_term(term);
  return m;
}

inline raftpb::Message prop(std::uint64_t to, std::string data) {
  raftpb::Message m = msg(raftpb::MsgProp, to, to);
  m.add_entries()->set_data(std::move(data));
  return m;
}

// Takes the messages a bare Raft produced.
inline std::vector<raftpb::Message> take_msgs(Raft& r) {
  std::vector<raftpb::Message> out = std::move(r.msgs());
  r.msgs().clear();
  return out;
}

// All entries of a log (stable and unstable) from first_index.
inline std::vector<raftpb::Entry> all_entries(const RaftLog& log) {
  std::vector<raftpb::Entry> out;
  must(log.entries(log.first_index(), no_limit, &out), "all_entries: cannot read the log");
  return out;
}

// A bare Raft over its own storage (kept alive alongside).
struct BareRaft {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<Raft> raft;
  Raft* operator->() { return raft.get(); }
};

inline BareRaft make_raft(std::uint64_t id, std::vector<std::uint64_t> voters, int election = 10,
                          int heartbeat = 1, std::vector<std::uint64_t> learners = {},
                          std::function<void(Config&)> tweak = {}) {
  BareRaft b;
  b.storage = std::make_unique<MemoryStorage>(conf(voters, learners));
  Config c = make_config(id, b.storage.get(), election, heartbeat);
  if (tweak) tweak(c);
  b.raft = std::make_unique<Raft>(c);
  return b;
}

// A synchronous cluster: every node's Ready is persisted into its MemoryStorage, its messages are
// queued on the network, its committed entries applied (conf changes included). Filters drop
// messages by link or by type.
class Cluster {
 public:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> node;
    std::vector<raftpb::Entry> applied;  // normal entries applied, in order
    std::vector<ReadState> reads;
    raftpb::ConfState conf_state;
  };

  explicit Cluster(std::vector<std::uint64_t> voters, std::vector<std::uint64_t> learners = {},
                   std::function<void(Config&)> tweak = {})
      : tweak_(std::move(tweak)) {
    initial_ = conf(voters, learners);
    for (auto id : voters) add_node(id, initial_);
    for (auto id : learners) add_node(id, initial_);
  }

  // Adds a (possibly not yet configured) member that starts with the given membership.
  void add_node(std::uint64_t id, const raftpb::ConfState& cs) {
    Node n;
    n.storage = std::make_unique<MemoryStorage>(cs);
    Config c = make_config(id, n.storage.get());
    if (tweak_) tweak_(c);
    n.node = std::make_unique<RawNode>(c);
    n.conf_state = cs;
    nodes_[id] = std::move(n);
  }
  // Restarts a node from what it persisted (volatile state is lost).
  void restart(std::uint64_t id) {
    Node& n = nodes_.at(id);
    Config c = make_config(id, n.storage.get());
    if (tweak_) tweak_(c);
    raftpb::Snapshot snap;
    must(n.storage->snapshot(&snap), "restart: no snapshot");
    c.applied = snap.metadata().index();
    n.node = std::make_unique<RawNode>(c);
    n.applied.clear();
  }

  RawNode& node(std::uint64_t id) { return *nodes_.at(id).node; }
  Raft& raft(std::uint64_t id) { return nodes_.at(id).node->raft(); }
  Node& state(std::uint64_t id) { return nodes_.at(id); }
  std::map<std::uint64_t, Node>& nodes() { return nodes_; }

  void isolate(std::uint64_t id) { isolated_.insert(id); }
  void cut(std::uint64_t a, std::uint64_t b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void heal() {
    isolated_.clear();
    cut_.clear();
    dropped_types_.clear();
  }
  void drop_type(raftpb::MessageType t) { dropped_types_.insert(t); }

  // Processes every pending Ready and delivers messages until nothing moves.
  void stabilize(int max_rounds = 10000) {
    for (int i = 0; i < max_rounds; ++i) {
      bool moved = false;
      for (auto& [id, n] : nodes_) moved |= process(id);
      if (!queue_.empty()) {
        moved = true;
        std::deque<raftpb::Message> q = std::move(queue_);
        queue_.clear();
        for (auto& m : q) deliver(std::move(m));
      }
      if (!moved) return;
    }
  }
  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, node] : nodes_) node.node->tick();
      stabilize();
    }
  }
  // Ticks until some node is leader; returns its id (0 if none within the limit).
  std::uint64_t elect(std::uint64_t id) {
    must(node(id).campaign(), "elect: campaign refused");
    stabilize();
    return raft(id).state() == StateType::kLeader ? id : 0;
  }
  std::uint64_t leader() {
    for (auto& [id, n] : nodes_) {
      if (n.node->raft().state() == StateType::kLeader) return id;
    }
    return 0;
  }
  // Messages a node sent that were captured (not delivered) because of filters.
  std::vector<raftpb::Message> dropped;

  bool process(std::uint64_t id) {
    Node& n = nodes_.at(id);
    if (!n.node->has_ready()) return false;
    Ready rd = n.node->ready();
    if (rd.snapshot) {
      must(n.storage->apply_snapshot(*rd.snapshot), "process: cannot install the snapshot");
      n.conf_state = rd.snapshot->metadata().conf_state();
    }
    must(n.storage->append(rd.entries), "process: cannot append the entries");
    if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
    for (auto& m : rd.messages) queue_.push_back(std::move(m));
    for (const auto& e : rd.committed_entries) {
      if (e.type() == raftpb::EntryConfChange) {
        raftpb::ConfChange cc;
        cc.ParseFromString(e.data());
        n.conf_state = n.node->apply_conf_change(cc);
      } else if (!e.data().empty()) {
        n.applied.push_back(e);
      }
    }
    for (auto& r : rd.read_states) n.reads.push_back(r);
    n.node->advance();
    return true;
  }

 private:
  void deliver(raftpb::Message m) {
    if (isolated_.count(m.from()) || isolated_.count(m.to()) || cut_.count({m.from(), m.to()}) ||
        dropped_types_.count(m.type()) || nodes_.count(m.to()) == 0) {
      dropped.push_back(std::move(m));
      return;
    }
    // A message the receiver refuses (a response from a member it removed, a proposal it cannot
    // forward) is as good as lost, as on a real network.
    static_cast<void>(nodes_.at(m.to()).node->step(std::move(m)));
  }

  std::function<void(Config&)> tweak_;
  raftpb::ConfState initial_;
  std::map<std::uint64_t, Node> nodes_;
  std::deque<raftpb::Message> queue_;
  std::set<std::uint64_t> isolated_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> cut_;
  std::set<raftpb::MessageType> dropped_types_;
};

}  // namespace outpost::raft::test
