#include "simulation.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <sstream>
#include <vector>

#include "core/raft/raw_node.h"
#include "tests/raft/invariants.h"

namespace outpost::raft::sim {

namespace {

// splitmix64: tiny, fast, and fully determined by its seed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  int range(int lo, int hi) {
    return lo + static_cast<int>(below(static_cast<std::uint64_t>(hi - lo + 1)));
  }
  // Probability in parts per million.
  bool chance(std::uint64_t ppm) { return below(1000000) < ppm; }

 private:
  std::uint64_t s_;
};

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint64_t chain(std::uint64_t h, const raftpb::Entry& e) {
  h ^= e.term() * 0x9e3779b97f4a7c15ULL;
  return fnv1a(e.data(), h * 1099511628211ULL + e.index());
}

// The application state machine of the simulation: the hash chain of every applied entry.
struct AppState {
  std::uint64_t applied = 0;
  std::uint64_t hash = 0;
  raftpb::ConfState conf;
};

std::string encode(const AppState& a) {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(a.applied >> (8 * i));
    out[static_cast<std::size_t>(8 + i)] = static_cast<char>(a.hash >> (8 * i));
  }
  return out;
}

void decode(const std::string& s, AppState* a) {
  a->applied = 0;
  a->hash = 0;
  if (s.size() < 16) return;
  for (int i = 0; i < 8; ++i) {
    a->applied |=
        static_cast<std::uint64_t>(static_cast<unsigned char>(s[static_cast<std::size_t>(i)]))
        << (8 * i);
    a->hash |=
        static_cast<std::uint64_t>(static_cast<unsigned char>(s[static_cast<std::size_t>(8 + i)]))
        << (8 * i);
  }
}

const char* type_name(raftpb::MessageType t) { return raftpb::MessageType_Name(t).c_str(); }

struct SimNode {
  std::uint64_t id = 0;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;  // null while down
  AppState app;
  bool started = false;  // spares start when they are added
  bool removed = false;
  int down_until = -1;
  int incarnation = 0;
  StateType last_state = StateType::kFollower;
  std::uint64_t last_term = 0;
  bool up() const { return node != nullptr; }
};

struct Flight {
  int at;
  std::uint64_t order;  // random tie-break: same-tick messages arrive in random order
  raftpb::Message m;
  bool operator>(const Flight& o) const { return at != o.at ? at > o.at : order > o.order; }
};

class World {
 public:
  explicit World(const Options& o) : opt_(o), rng_(o.seed * 0x2545f4914f6cdd1dULL + 7) {}

  Result run() {
    setup();
    for (now_ = 0; now_ < opt_.ticks && result_.ok; ++now_) {
      faults();
      workload();
      tick_all();
      settle();
    }
    if (result_.ok) calm();
    return result_;
  }

 private:
  // ---------------------------------------------------------------- setup
  void setup() {
    const int voters = rng_.chance(500000) ? 3 : 5;
    const int learners = static_cast<int>(rng_.below(3));
    spares_ = static_cast<int>(rng_.below(3));
    pre_vote_ = rng_.chance(700000);
    check_quorum_ = rng_.chance(700000);
    drop_ppm_ = rng_.below(100000);  // up to 10 % loss
    dup_ppm_ = rng_.below(50000);    // up to 5 % duplicates
    max_delay_ = rng_.range(0, 3);
    crash_ppm_ = rng_.below(15000);
    partition_ppm_ = rng_.below(20000);
    compact_ppm_ = rng_.below(60000);
    const std::uint64_t msg_sizes[] = {1, 512, 4096, no_limit};  // 1: one entry per message
    max_msg_size_ = msg_sizes[rng_.below(4)];
    const std::size_t inflights[] = {1, 4, 16, 256};
    max_inflight_ = inflights[rng_.below(4)];
    max_ready_size_ = rng_.chance(250000) ? 1 : 0;  // 1: one committed entry per Ready
    for (int i = 1; i <= voters; ++i) initial_.add_voters(static_cast<std::uint64_t>(i));
    for (int i = 1; i <= learners; ++i)
      initial_.add_learners(static_cast<std::uint64_t>(voters + i));
    const int total = voters + learners + spares_;
    for (int i = 1; i <= total; ++i) {
      SimNode n;
      n.id = static_cast<std::uint64_t>(i);
      n.storage = std::make_unique<MemoryStorage>(initial_);
      n.app.conf = initial_;
      nodes_[n.id] = std::move(n);
    }
    for (int i = 1; i <= voters + learners; ++i) start(nodes_[static_cast<std::uint64_t>(i)]);
    next_spare_ = static_cast<std::uint64_t>(voters + learners + 1);
    std::ostringstream s;
    s << "voters=" << voters << " learners=" << learners << " spares=" << spares_
      << " pre_vote=" << pre_vote_ << " check_quorum=" << check_quorum_
      << " drop=" << drop_ppm_ / 10000.0 << "% dup=" << dup_ppm_ / 10000.0
      << "% max_delay=" << max_delay_ << " crash_ppm=" << crash_ppm_
      << " partition_ppm=" << partition_ppm_ << " compact_ppm=" << compact_ppm_
      << " max_msg_size=" << (max_msg_size_ == no_limit ? 0 : max_msg_size_)
      << " max_inflight=" << max_inflight_ << " max_ready_size=" << max_ready_size_;
    result_.shape = s.str();
    log("shape %s", result_.shape.c_str());
  }

  void start(SimNode& n) {
    Config c;
    c.id = n.id;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c.storage = n.storage.get();
    c.max_size_per_msg = max_msg_size_;
    c.max_inflight_msgs = max_inflight_;
    c.max_committed_size_per_ready = max_ready_size_;
    c.check_quorum = check_quorum_;
    c.pre_vote = pre_vote_;
    c.random_seed =
        opt_.seed * 1000003ULL + n.id * 7919ULL + static_cast<std::uint64_t>(n.incarnation) + 1;
    // The application state is volatile: it restarts from the last snapshot and replays.
    raftpb::Snapshot snap;
    if (n.storage->snapshot(&snap) != Error::kOk) {
      return fail("node " + std::to_string(n.id) + " has no snapshot");
    }
    decode(snap.data(), &n.app);
    n.app.applied = snap.metadata().index();
    n.app.conf = snap.metadata().conf_state();
    c.applied = snap.metadata().index();
    n.node = std::make_unique<RawNode>(c);
    n.started = true;
    n.last_state = StateType::kFollower;
    n.last_term = n.node->raft().term();
    invariants_.restarted(n.id);
    ++n.incarnation;
  }

  // ---------------------------------------------------------------- events
  void faults() {
    for (auto& [id, n] : nodes_) {
      if (!n.up() && n.started && !n.removed && n.down_until >= 0 && now_ >= n.down_until) {
        log("restart %llu", ull(id));
        n.down_until = -1;
        start(n);
      }
    }
    if (rng_.chance(crash_ppm_)) {
      std::vector<std::uint64_t> up = live_ids();
      if (!up.empty()) {
        std::uint64_t id = up[rng_.below(up.size())];
        SimNode& n = nodes_[id];
        n.node.reset();  // everything not persisted is gone
        n.down_until = now_ + rng_.range(5, 60);
        ++result_.stats.crashes;
        log("crash %llu until %d", ull(id), n.down_until);
      }
    }
    if (partition_until_ >= 0 && now_ >= partition_until_) {
      group_.clear();
      partition_until_ = -1;
      log("heal");
    }
    if (partition_until_ < 0 && rng_.chance(partition_ppm_)) {
      for (auto& [id, n] : nodes_) {
        if (rng_.chance(400000)) group_.insert(id);
      }
      partition_until_ = now_ + rng_.range(10, 80);
      ++result_.stats.partitions;
      std::string g;
      for (auto id : group_) g += std::to_string(id) + " ";
      log("partition {%s} until %d", g.c_str(), partition_until_);
    }
  }

  void workload() {
    // Client writes and linearizable reads at random members.
    std::vector<std::uint64_t> up = live_ids();
    if (up.empty()) return;
    if (rng_.chance(300000)) {
      std::uint64_t id = up[rng_.below(up.size())];
      // Dropped proposals (no leader, transfer under way) are what clients retry: not checked.
      static_cast<void>(nodes_[id].node->propose("p" + std::to_string(proposal_seq_++)));
    }
    if (rng_.chance(100000)) {
      std::uint64_t id = up[rng_.below(up.size())];
      std::string ctx = "r" + std::to_string(read_seq_++);
      read_floor_[ctx] = max_commit_;
      if (nodes_[id].node->read_index(ctx) != Error::kOk) read_floor_.erase(ctx);
    }
    for (std::uint64_t id : up) {
      SimNode& n = nodes_[id];
      raftpb::Snapshot cur;
      if (n.storage->snapshot(&cur) != Error::kOk) {
        return fail("node " + std::to_string(id) + " has no snapshot");
      }
      if (n.app.applied > cur.metadata().index() + 5 && rng_.chance(compact_ppm_)) {
        if (n.storage->create_snapshot(n.app.applied, &n.app.conf, encode(n.app)) == Error::kOk) {
          const std::uint64_t keep = rng_.below(3);
          const std::uint64_t to =
              n.app.applied -
              std::min<std::uint64_t>(keep, n.app.applied - cur.metadata().index() - 1);
          if (n.storage->compact(to) != Error::kOk) {
            return fail("node " + std::to_string(id) + " cannot compact to " + std::to_string(to));
          }
          ++result_.stats.snapshots;
          log("node %llu snapshot at %llu, compact to %llu", ull(id), ull(n.app.applied), ull(to));
        }
      }
    }
    if (!calm_ && rng_.chance(20000)) membership_change();
    if (!calm_ && rng_.chance(8000)) transfer();
  }

  std::uint64_t leader_id() {
    std::uint64_t best = 0, best_term = 0;
    for (auto& [id, n] : nodes_) {
      if (n.up() && n.node->raft().state() == StateType::kLeader &&
          n.node->raft().term() >= best_term) {
        best = id;
        best_term = n.node->raft().term();
      }
    }
    return best;
  }

  void membership_change() {
    std::uint64_t l = leader_id();
    if (l == 0) return;
    RawNode& ln = *nodes_[l].node;
    const Status st = ln.status();
    const auto& voters = ln.raft().tracker().voters();
    const auto& learners = ln.raft().tracker().learners();
    raftpb::ConfChange cc;
    const int op = static_cast<int>(rng_.below(3));
    if (op == 0 && next_spare_ <= nodes_.size() && learners.size() < 2) {
      cc.set_type(raftpb::ConfChangeAddLearnerNode);
      cc.set_node_id(next_spare_);
    } else if (op == 1 && !learners.empty()) {
      // Promote a learner that has caught up (what the server will check through status()).
      std::uint64_t id =
          *std::next(learners.begin(), static_cast<long>(rng_.below(learners.size())));
      auto it = st.progress.find(id);
      if (it == st.progress.end() || it->second.match + 10 < st.hard_state.commit()) return;
      cc.set_type(raftpb::ConfChangeAddNode);
      cc.set_node_id(id);
    } else if (op == 2) {
      std::vector<std::uint64_t> members(voters.begin(), voters.end());
      members.insert(members.end(), learners.begin(), learners.end());
      std::uint64_t id = members[rng_.below(members.size())];
      if (voters.count(id) != 0 && voters.size() <= 3) return;  // keep a fault-tolerant quorum
      cc.set_type(raftpb::ConfChangeRemoveNode);
      cc.set_node_id(id);
    } else {
      return;
    }
    if (ln.propose_conf_change(cc) != Error::kOk) return;
    ++result_.stats.conf_changes;
    log("leader %llu proposes %s %llu", ull(l), raftpb::ConfChangeType_Name(cc.type()).c_str(),
        ull(cc.node_id()));
    if (cc.type() == raftpb::ConfChangeAddLearnerNode) {
      SimNode& spare = nodes_[next_spare_++];
      start(spare);  // the new member runs, knowing only the initial cluster, until it catches up
    }
  }

  void transfer() {
    std::uint64_t l = leader_id();
    if (l == 0) return;
    RawNode& ln = *nodes_[l].node;
    const auto& voters = ln.raft().tracker().voters();
    std::vector<std::uint64_t> cands;
    for (auto v : voters) {
      if (v != l) cands.push_back(v);
    }
    if (cands.empty()) return;
    std::uint64_t to = cands[rng_.below(cands.size())];
    // Sometimes ask for a learner, which must be refused.
    const auto& learners = ln.raft().tracker().learners();
    if (!learners.empty() && rng_.chance(200000)) to = *learners.begin();
    static_cast<void>(ln.transfer_leader(to));  // refused only without a leader: a no-op then
    ++result_.stats.transfers;
    log("leader %llu transfers to %llu", ull(l), ull(to));
  }

  // ---------------------------------------------------------------- the loop
  void tick_all() {
    for (auto& [id, n] : nodes_) {
      if (!n.up()) continue;
      n.node->tick();
      observe(n);
      if (!result_.ok) return;
    }
  }

  void settle() {
    for (int round = 0; round < 100 && result_.ok; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_) {
        if (n.up() && n.node->has_ready()) {
          moved = true;
          handle_ready(n);
          if (!result_.ok) return;
        }
      }
      // Deliver what is due now; what they trigger is handled in the next round.
      std::vector<Flight> due;
      while (!net_.empty() && net_.top().at <= now_) {
        due.push_back(net_.top());
        net_.pop();
      }
      for (auto& f : due) {
        moved = true;
        deliver(std::move(f.m));
        if (!result_.ok) return;
      }
      if (!moved) return;
    }
  }

  bool blocked(std::uint64_t a, std::uint64_t b) const {
    if (group_.empty()) return false;
    return group_.count(a) != group_.count(b);
  }

  void deliver(raftpb::Message m) {
    SimNode& to = nodes_[m.to()];
    SimNode* from = nodes_.count(m.from()) ? &nodes_[m.from()] : nullptr;
    const bool snap = m.type() == raftpb::MsgSnap;
    if (!to.up() || to.removed || blocked(m.from(), m.to())) {
      ++result_.stats.dropped;
      if (from && from->up()) {
        if (snap)
          from->node->report_snapshot(m.to(), false);
        else if (rng_.chance(100000))
          from->node->report_unreachable(m.to());
      }
      return;
    }
    if (opt_.verbose) {
      log("deliver %s %llu->%llu term=%llu idx=%llu lt=%llu n=%d commit=%llu rej=%d",
          type_name(m.type()), ull(m.from()), ull(m.to()), ull(m.term()), ull(m.index()),
          ull(m.log_term()), m.entries_size(), ull(m.commit()), m.reject() ? 1 : 0);
    }
    const std::uint64_t to_id = m.to(), from_id = m.from();
    // A refused message (a response from a member the receiver removed) is as good as lost.
    static_cast<void>(to.node->step(std::move(m)));
    observe(to);
    if (snap && from && from->up()) {
      ++result_.stats.snapshots_sent;
      from->node->report_snapshot(to_id, true);
    }
    (void)from_id;
  }

  void send(raftpb::Message m) {
    ++result_.stats.messages;
    if (!calm_ && rng_.chance(drop_ppm_)) {
      ++result_.stats.dropped;
      if (m.type() == raftpb::MsgSnap) pending_reports_.push_back({m.from(), m.to()});
      return;
    }
    const int copies = (!calm_ && rng_.chance(dup_ppm_)) ? 2 : 1;
    if (copies == 2) ++result_.stats.duplicated;
    for (int i = 0; i < copies; ++i) {
      const int delay = calm_ ? static_cast<int>(rng_.below(2)) : rng_.range(0, max_delay_);
      net_.push(Flight{now_ + delay, rng_.next(), i + 1 == copies ? std::move(m) : m});
    }
  }

  void handle_ready(SimNode& n) {
    Ready rd = n.node->ready();
    // 1. persist: snapshot, entries, hard state (one "fsync").
    if (rd.snapshot) {
      const Error e = n.storage->apply_snapshot(*rd.snapshot);
      if (e != Error::kOk) return fail("node " + std::to_string(n.id) + " cannot install snapshot");
      AppState restored;
      decode(rd.snapshot->data(), &restored);
      restored.applied = rd.snapshot->metadata().index();
      restored.conf = rd.snapshot->metadata().conf_state();
      check_snapshot_hash(n, restored);
      n.app = restored;
    }
    if (n.storage->append(std::move(rd.entries)) != Error::kOk) {
      return fail("node " + std::to_string(n.id) + " cannot append entries");
    }
    if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
    // 2. send
    for (auto& m : rd.messages) send(std::move(m));
    // 3. apply
    for (const auto& e : rd.committed_entries) {
      apply(n, e);
      if (!result_.ok) return;
    }
    for (const auto& rs : rd.read_states) check_read(n, rs);
    n.node->advance();
    for (auto [from, to] : pending_reports_) {
      if (nodes_[from].up()) nodes_[from].node->report_snapshot(to, false);
    }
    pending_reports_.clear();
    observe(n);
    stop_removed();
  }

  void apply(SimNode& n, const raftpb::Entry& e) {
    if (e.index() != n.app.applied + 1) {
      return fail("node " + std::to_string(n.id) + " applies index " + std::to_string(e.index()) +
                  " after " + std::to_string(n.app.applied) + " (gap or repeat)");
    }
    n.app.hash = chain(n.app.hash, e);
    n.app.applied = e.index();
    const std::uint64_t data_hash = fnv1a(e.data()) ^ (static_cast<std::uint64_t>(e.type()) << 60);
    if (committed_.size() <= e.index()) committed_.resize(e.index() + 1);
    Committed& c = committed_[e.index()];
    if (!c.known) {
      c = Committed{true, e.term(), data_hash, n.app.hash};
      ++result_.stats.committed;
    } else if (c.term != e.term() || c.data != data_hash || c.chain != n.app.hash) {
      return fail("state machine safety: node " + std::to_string(n.id) +
                  " applied a different entry at index " + std::to_string(e.index()) + " (term " +
                  std::to_string(e.term()) + " vs " + std::to_string(c.term) + ")");
    }
    if (e.type() == raftpb::EntryConfChange) {
      raftpb::ConfChange cc;
      cc.ParseFromString(e.data());
      n.app.conf = n.node->apply_conf_change(cc);
      if (cc.type() == raftpb::ConfChangeRemoveNode) {
        to_remove_.insert(cc.node_id());
        ++result_.stats.removals;
      }
      if (cc.type() == raftpb::ConfChangeAddNode) ++result_.stats.promotions;
      log("node %llu applied %s %llu at %llu", ull(n.id),
          raftpb::ConfChangeType_Name(cc.type()).c_str(), ull(cc.node_id()), ull(e.index()));
    }
  }

  // A member whose removal was applied is shut down for good (as the server does; its peers
  // would refuse to talk to it anyway).
  void stop_removed() {
    for (std::uint64_t id : to_remove_) {
      auto it = nodes_.find(id);
      if (it == nodes_.end() || it->second.removed) continue;
      it->second.removed = true;
      it->second.node.reset();
      log("member %llu removed and stopped", ull(id));
    }
  }

  void check_snapshot_hash(const SimNode& n, const AppState& s) {
    if (s.applied < committed_.size() && committed_[s.applied].known &&
        committed_[s.applied].chain != s.hash) {
      fail("state machine safety: node " + std::to_string(n.id) + " installed a snapshot at " +
           std::to_string(s.applied) + " whose state differs from what others applied");
    }
  }

  void check_read(const SimNode& n, const ReadState& rs) {
    auto it = read_floor_.find(rs.request_ctx);
    if (it == read_floor_.end()) return;  // a duplicate answer of an already checked read
    ++result_.stats.reads;
    if (rs.index < it->second) {
      fail("linearizability: node " + std::to_string(n.id) + " got read index " +
           std::to_string(rs.index) + " for " + rs.request_ctx + " but index " +
           std::to_string(it->second) + " was committed before the read began");
    }
    read_floor_.erase(it);
  }

  // Runs after every event on a node: election safety, leader completeness, commit watermark.
  void observe(SimNode& n) {
    if (!n.up() || !result_.ok) return;
    const Raft& r = n.node->raft();
    ++steps_;
    if (std::string err = invariants_.check(r); !err.empty()) {
      return fail("invariant broken at step " + std::to_string(steps_) + ": " + err);
    }
    max_commit_ = std::max(max_commit_, r.log().committed());
    if (r.state() == StateType::kLeader) {
      auto [it, fresh] = leaders_.emplace(r.term(), n.id);
      if (it->second != n.id) {
        return fail("election safety: nodes " + std::to_string(it->second) + " and " +
                    std::to_string(n.id) + " are both leader of term " + std::to_string(r.term()));
      }
      if (n.last_state != StateType::kLeader || n.last_term != r.term()) {
        ++result_.stats.elections;
        log("node %llu becomes leader of term %llu (last %llu, commit %llu)", ull(n.id),
            ull(r.term()), ull(r.log().last_index()), ull(r.log().committed()));
        check_completeness(n);
      }
    }
    if (opt_.verbose && (n.last_state != r.state() || n.last_term != r.term())) {
      log("node %llu is %s of term %llu (lead %llu, elapsed %d/%d)", ull(n.id),
          to_string(r.state()), ull(r.term()), ull(r.lead()), r.election_elapsed(),
          r.randomized_election_timeout());
    }
    n.last_state = r.state();
    n.last_term = r.term();
  }

  void check_completeness(const SimNode& n) {
    const RaftLog& log = n.node->raft().log();
    const std::uint64_t first = log.first_index();
    for (std::uint64_t i = first; i < committed_.size(); ++i) {
      if (!committed_[i].known) continue;
      if (i > log.last_index() || log.term_or_zero(i) != committed_[i].term) {
        return fail("leader completeness: new leader " + std::to_string(n.id) + " of term " +
                    std::to_string(n.node->raft().term()) + " lacks committed entry " +
                    std::to_string(i));
      }
    }
  }

  // ---------------------------------------------------------------- liveness
  void calm() {
    calm_ = true;
    group_.clear();
    partition_until_ = -1;
    for (auto& [id, n] : nodes_) {
      if (!n.up() && n.started && !n.removed) start(n);
    }
    log("calm period");
    for (int i = 0; i < opt_.calm_ticks && result_.ok; ++i, ++now_) {
      workload();
      tick_all();
      settle();
    }
    if (!result_.ok) return;
    // One more write must reach every member.
    std::uint64_t l = leader_id();
    if (l == 0) return fail("liveness: no leader after the calm period");
    const std::string last = "final";
    bool proposed = false;
    for (int i = 0; i < 100 && result_.ok; ++i, ++now_) {
      l = leader_id();
      if (!proposed && l != 0) proposed = nodes_[l].node->propose(last) == Error::kOk;
      tick_all();
      settle();
    }
    if (!result_.ok) return;
    l = leader_id();
    if (l == 0) return fail("liveness: leader lost at the end of the calm period");
    const Raft& lr = nodes_[l].node->raft();
    for (auto& [id, n] : nodes_) {
      if (n.removed || !n.started || !n.up()) continue;
      const bool member = lr.tracker().is_voter(id) || lr.tracker().is_learner(id);
      if (!member) continue;
      if (n.app.applied != lr.log().committed()) {
        return fail("liveness: member " + std::to_string(id) + " applied " +
                    std::to_string(n.app.applied) + " but leader " + std::to_string(l) +
                    " committed " + std::to_string(lr.log().committed()));
      }
      if (id != l && n.node->raft().lead() != l) {
        return fail("liveness: member " + std::to_string(id) + " does not follow leader " +
                    std::to_string(l));
      }
    }
    if (!proposed) return fail("liveness: the final write was never accepted");
  }

  // ---------------------------------------------------------------- helpers
  std::vector<std::uint64_t> live_ids() const {
    std::vector<std::uint64_t> out;
    for (auto& [id, n] : nodes_) {
      if (n.up()) out.push_back(id);
    }
    return out;
  }
  static unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
  void fail(const std::string& what) {
    if (!result_.ok) return;
    result_.ok = false;
    result_.failure = "tick " + std::to_string(now_) + ": " + what;
    log("FAILURE %s", result_.failure.c_str());
    for (auto& [id, n] : nodes_) {
      if (!n.up()) {
        log("  node %llu down (started=%d removed=%d)", ull(id), n.started ? 1 : 0,
            n.removed ? 1 : 0);
        continue;
      }
      const Raft& r = n.node->raft();
      std::string voters, learners;
      for (auto v : r.tracker().voters()) voters += std::to_string(v) + " ";
      for (auto l : r.tracker().learners()) learners += std::to_string(l) + " ";
      log("  node %llu %s term=%llu vote=%llu lead=%llu last=%llu commit=%llu applied=%llu "
          "voters={%s} learners={%s}",
          ull(id), to_string(r.state()), ull(r.term()), ull(r.vote()), ull(r.lead()),
          ull(r.log().last_index()), ull(r.log().committed()), ull(n.app.applied), voters.c_str(),
          learners.c_str());
    }
  }
  template <typename... A>
  void log(const char* fmt, A... a) {
    if (!opt_.verbose) return;
    std::printf("[t=%d] ", now_);
    if constexpr (sizeof...(A) == 0) {
      std::printf("%s", fmt);
    } else {
      std::printf(fmt, a...);
    }
    std::printf("\n");
  }

  struct Committed {
    bool known = false;
    std::uint64_t term = 0, data = 0, chain = 0;
  };

  Options opt_;
  Rng rng_;
  Result result_;
  int now_ = 0;
  bool calm_ = false;
  raftpb::ConfState initial_;
  std::map<std::uint64_t, SimNode> nodes_;
  std::priority_queue<Flight, std::vector<Flight>, std::greater<Flight>> net_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pending_reports_;
  std::set<std::uint64_t> group_;  // one side of the partition (empty: no partition)
  int partition_until_ = -1;
  std::set<std::uint64_t> to_remove_;
  std::map<std::uint64_t, std::uint64_t> leaders_;  // term -> leader
  test::InvariantChecker invariants_;               // checked after every step (observe)
  std::uint64_t steps_ = 0;                         // steps observed so far, to name a broken one
  std::vector<Committed> committed_;                // index -> what was applied there
  std::map<std::string, std::uint64_t> read_floor_;
  std::uint64_t max_commit_ = 0;
  std::uint64_t proposal_seq_ = 0, read_seq_ = 0, next_spare_ = 0;
  int spares_ = 0;
  bool pre_vote_ = false, check_quorum_ = false;
  std::uint64_t drop_ppm_ = 0, dup_ppm_ = 0, crash_ppm_ = 0, partition_ppm_ = 0, compact_ppm_ = 0;
  int max_delay_ = 0;
  std::uint64_t max_msg_size_ = 4096, max_ready_size_ = 0;
  std::size_t max_inflight_ = 16;
};

}  // namespace

Result run(const Options& o) { return World(o).run(); }

}  // namespace outpost::raft::sim
