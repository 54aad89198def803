#include "core/raft/raw_node.h"

namespace outpost::raft {

namespace {
bool same_hard_state(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}
}  // namespace

RawNode::RawNode(const Config& c) : raft_(c) {
  prev_soft_ = raft_.soft_state();
  prev_hard_ = raft_.hard_state();
}

Error RawNode::campaign() {
  raftpb::Message m;
  m.set_type(raftpb::MsgHup);
  return raft_.step(std::move(m));
}

Error RawNode::propose(std::string data) {
  raftpb::Message m;
  m.set_type(raftpb::MsgProp);
  m.set_from(raft_.id());
  m.add_entries()->set_data(std::move(data));
  return raft_.step(std::move(m));
}

Error RawNode::propose_conf_change(const raftpb::ConfChange& cc) {
  raftpb::Message m;
  m.set_type(raftpb::MsgProp);
  m.set_from(raft_.id());
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::EntryConfChange);
  e->set_data(cc.SerializeAsString());
  return raft_.step(std::move(m));
}

Error RawNode::step(raftpb::Message m) {
  if (is_local_msg(m.type())) return Error::kStepLocalMsg;
  if (is_response_msg(m.type()) && raft_.tracker().get(m.from()) == nullptr) {
    return Error::kStepPeerNotFound;
  }
  return raft_.step(std::move(m));
}

Error RawNode::read_index(std::string ctx) {
  raftpb::Message m;
  m.set_type(raftpb::MsgReadIndex);
  m.add_entries()->set_data(std::move(ctx));
  return raft_.step(std::move(m));
}

Error RawNode::transfer_leader(std::uint64_t transferee) {
  raftpb::Message m;
  m.set_type(raftpb::MsgTransferLeader);
  m.set_from(transferee);
  return raft_.step(std::move(m));
}

void RawNode::report_unreachable(std::uint64_t id) {
  raftpb::Message m;
  m.set_type(raftpb::MsgUnreachable);
  m.set_from(id);
  // Only a leader acts on it, in every state it is accepted: nothing to report.
  static_cast<void>(raft_.step(std::move(m)));
}

void RawNode::report_snapshot(std::uint64_t id, bool ok) {
  raftpb::Message m;
  m.set_type(raftpb::MsgSnapStatus);
  m.set_from(id);
  m.set_reject(!ok);
  // Only a leader acts on it, in every state it is accepted: nothing to report.
  static_cast<void>(raft_.step(std::move(m)));
}

bool RawNode::has_ready() const {
  const RaftLog& log = raft_.log();
  if (raft_.soft_state() != prev_soft_) return true;
  if (!same_hard_state(raft_.hard_state(), prev_hard_)) return true;
  if (log.has_pending_snapshot()) return true;
  if (!log.unstable_entries().empty() || log.has_next_entries()) return true;
  if (!raft_.msgs().empty()) return true;
  if (!raft_.read_states().empty()) return true;
  return false;
}

Ready RawNode::ready() {
  Ready rd;
  RaftLog& log = raft_.log();
  rd.entries = log.unstable_entries();
  rd.committed_entries = log.next_entries();
  rd.messages = std::move(raft_.msgs());
  raft_.msgs().clear();
  rd.read_states = std::move(raft_.read_states());
  raft_.read_states().clear();
  if (log.has_pending_snapshot()) rd.snapshot = *log.unstable_snapshot();
  const SoftState ss = raft_.soft_state();
  if (ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  const raftpb::HardState hs = raft_.hard_state();
  if (!same_hard_state(hs, prev_hard_)) {
    rd.must_sync = hs.term() != prev_hard_.term() || hs.vote() != prev_hard_.vote();
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  if (!rd.entries.empty()) rd.must_sync = true;
  handed_ = Handed{};
  if (!rd.entries.empty()) {
    handed_.stable_index = rd.entries.back().index();
    handed_.stable_term = rd.entries.back().term();
  }
  if (rd.snapshot) handed_.snapshot_index = rd.snapshot->metadata().index();
  if (!rd.committed_entries.empty()) handed_.applied_index = rd.committed_entries.back().index();
  for (const auto& e : rd.committed_entries) handed_.committed_payload += e.data().size();
  return rd;
}

void RawNode::advance() {
  RaftLog& log = raft_.log();
  if (handed_.applied_index != 0) {
    log.applied_to(handed_.applied_index);
  } else if (handed_.snapshot_index > log.applied()) {
    log.applied_to(handed_.snapshot_index);
  }
  if (handed_.stable_index != 0) log.stable_to(handed_.stable_index, handed_.stable_term);
  if (handed_.snapshot_index != 0) log.stable_snap_to(handed_.snapshot_index);
  raft_.reduce_uncommitted_size(handed_.committed_payload);
  handed_ = Handed{};
}

Status RawNode::status() const {
  Status s;
  s.id = raft_.id();
  s.hard_state = raft_.hard_state();
  s.soft_state = raft_.soft_state();
  s.applied = raft_.log().applied();
  s.lead_transferee = raft_.lead_transferee();
  s.conf_state = raft_.tracker().conf_state();
  if (raft_.state() == StateType::kLeader) {
    for (const auto& [id, pr] : raft_.tracker().progress()) {
      s.progress[id] = PeerProgress{pr.match, pr.next, pr.state, pr.is_learner, pr.recent_active};
    }
  }
  return s;
}

}  // namespace outpost::raft
