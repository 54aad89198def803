#pragma once
// RawNode: the application-facing wrapper of Raft, in the Ready/advance style.
//
// The application drives it from one thread (the raft loop):
//
//   node.tick();                       // every heartbeat interval
//   node.step(msg);                    // for every message from a peer
//   node.propose(data);                // for client writes
//   if (node.has_ready()) {
//     Ready rd = node.ready();
//     storage: install rd.snapshot, append rd.entries, set rd.hard_state   (one fsync)
//     send rd.messages                 // only now: they may promise the entries just persisted
//     apply rd.committed_entries       // conf changes: node.apply_conf_change(cc)
//     serve rd.read_states once applied >= index
//     node.advance();
//   }
//
// Invariant: between ready() and advance() the application must not call ready() again; every
// Ready is acknowledged exactly once, in order. advance() marks the last Ready's entries stable and
// its committed entries applied. It remembers what it handed out, so the application may move
// entries, messages and the snapshot out of the Ready (no copies needed).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/raft/raft.h"

namespace outpost::raft {

struct Ready {
  // Set when the leader or the role changed since the previous Ready.
  std::optional<SoftState> soft_state;
  // Set when term, vote or commit changed: persist before sending messages.
  std::optional<raftpb::HardState> hard_state;
  // Reads confirmed by ReadIndex.
  std::vector<ReadState> read_states;
  // New log entries to persist (they may replace a suffix of the persisted log).
  std::vector<raftpb::Entry> entries;
  // A snapshot to install (persist it, then restore the state machine from it).
  std::optional<raftpb::Snapshot> snapshot;
  // Entries known committed, to apply in order.
  std::vector<raftpb::Entry> committed_entries;
  // Messages to send after entries / hard state / snapshot of this Ready are durable.
  std::vector<raftpb::Message> messages;
  // Whether the write of this Ready must be synced (new entries or a new term/vote).
  bool must_sync = false;
};

// A peer's replication state as the leader sees it (empty on followers).
struct PeerProgress {
  std::uint64_t match = 0;
  std::uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  bool is_learner = false;
  bool recent_active = false;
};

struct Status {
  std::uint64_t id = 0;
  raftpb::HardState hard_state;
  SoftState soft_state;
  std::uint64_t applied = 0;
  std::uint64_t lead_transferee = 0;
  raftpb::ConfState conf_state;
  std::map<std::uint64_t, PeerProgress> progress;  // leader only
};

class RawNode {
 public:
  explicit RawNode(const Config& c);

  void tick() { raft_.tick(); }
  // Starts an election now (pre-vote first when enabled).
  Error campaign();
  Error propose(std::string data);
  Error propose_conf_change(const raftpb::ConfChange& cc);
  // Applies a committed conf change entry's ConfChange; returns the new membership (to be kept
  // with the state machine and put into snapshots).
  raftpb::ConfState apply_conf_change(const raftpb::ConfChange& cc) {
    return raft_.apply_conf_change(cc);
  }
  // A message from a peer. Local message types are refused.
  Error step(raftpb::Message m);
  // Asks for a read index tagged with ctx (unique per request); answered in Ready::read_states.
  Error read_index(std::string ctx);
  // Asks the leader to hand leadership to `transferee` (a voter).
  Error transfer_leader(std::uint64_t transferee);
  void report_unreachable(std::uint64_t id);
  void report_snapshot(std::uint64_t id, bool ok);

  bool has_ready() const;
  Ready ready();
  void advance();

  Status status() const;
  Raft& raft() { return raft_; }
  const Raft& raft() const { return raft_; }

 private:
  Raft raft_;
  SoftState prev_soft_;
  raftpb::HardState prev_hard_;
  // What the last ready() handed out, acknowledged by advance().
  struct Handed {
    std::uint64_t stable_index = 0, stable_term = 0;  // last entry to persist (0: none)
    std::uint64_t snapshot_index = 0;                 // snapshot to install (0: none)
    std::uint64_t applied_index = 0;                  // last committed entry to apply (0: none)
    std::uint64_t committed_payload = 0;              // bytes of committed payload
  } handed_;
};

}  // namespace outpost::raft
