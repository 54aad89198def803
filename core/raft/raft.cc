#include "core/raft/raft.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "core/common/panic.h"

namespace outpost::raft {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

const char* message_type_name(raftpb::MessageType t) { return raftpb::MessageType_Name(t).c_str(); }

const char* to_string(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

void Raft::logf(LogLevel level, const char* fmt, ...) const {
  if (!log_enabled(level)) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  logger_(level, std::string_view(buf, std::min(static_cast<std::size_t>(n), sizeof(buf) - 1)));
}

std::string Raft::describe_config() const {
  auto list = [](const std::set<std::uint64_t>& ids) {
    std::string out;
    for (std::uint64_t id : ids) {
      if (!out.empty()) out += ' ';
      char b[24];
      std::snprintf(b, sizeof(b), "%" PRIx64, id);
      out += b;
    }
    return out;
  };
  std::string out = "voters=(" + list(prs_.voters()) + ")";
  if (!prs_.learners().empty()) out += " learners=(" + list(prs_.learners()) + ")";
  return out;
}

const char* to_string(StateType s) {
  switch (s) {
    case StateType::kFollower: return "StateFollower";
    case StateType::kCandidate: return "StateCandidate";
    case StateType::kLeader: return "StateLeader";
    case StateType::kPreCandidate: return "StatePreCandidate";
  }
  return "?";
}

bool is_local_msg(raftpb::MessageType t) {
  return t == raftpb::MsgHup || t == raftpb::MsgBeat || t == raftpb::MsgUnreachable ||
         t == raftpb::MsgSnapStatus || t == raftpb::MsgCheckQuorum;
}

bool is_response_msg(raftpb::MessageType t) {
  return t == raftpb::MsgAppResp || t == raftpb::MsgVoteResp || t == raftpb::MsgHeartbeatResp ||
         t == raftpb::MsgUnreachable || t == raftpb::MsgPreVoteResp;
}

raftpb::MessageType vote_resp_type(raftpb::MessageType t) {
  switch (t) {
    case raftpb::MsgVote: return raftpb::MsgVoteResp;
    case raftpb::MsgPreVote: return raftpb::MsgPreVoteResp;
    default: OUTPOST_PANIC("not a vote message");
  }
}

std::string Config::validate() const {
  if (id == no_node) return "cannot use 0 as the member id";
  if (heartbeat_tick <= 0) return "heartbeat tick must be greater than 0";
  if (election_tick <= heartbeat_tick) return "election tick must be greater than heartbeat tick";
  if (storage == nullptr) return "storage cannot be null";
  if (max_inflight_msgs == 0) return "max inflight messages must be greater than 0";
  if (read_only_option == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return "check_quorum must be enabled when read_only_option is lease_based";
  }
  return {};
}

Raft::Raft(const Config& c)
    : id_(c.id),
      raft_log_(c.storage, c.max_committed_size_per_ready != 0 ? c.max_committed_size_per_ready
                                                               : c.max_size_per_msg),
      prs_(c.max_inflight_msgs),
      read_only_(c.read_only_option),
      max_msg_size_(c.max_size_per_msg),
      max_uncommitted_size_(c.max_uncommitted_entries_size == 0 ? UINT64_MAX
                                                                : c.max_uncommitted_entries_size),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      rng_state_(c.random_seed != 0 ? c.random_seed : c.id * 0x2545f4914f6cdd1dULL + 1),
      random_(c.random),
      logger_(c.logger),
      log_level_(c.log_level) {
  if (std::string err = c.validate(); !err.empty()) {
    OUTPOST_PANIC("invalid raft config", {"error", "\"" + err + "\""});
  }
  raftpb::HardState hs;
  raftpb::ConfState cs;
  if (c.storage->initial_state(&hs, &cs) != Error::kOk) {
    OUTPOST_PANIC("cannot read the initial state");
  }
  const std::uint64_t next = raft_log_.last_index() + 1;
  for (std::uint64_t v : cs.voters()) prs_.add_voter(v, next);
  for (std::uint64_t l : cs.learners()) prs_.add_learner(l, next);
  is_learner_ = prs_.is_learner(id_);
  logf(LogLevel::kInfo, "%" PRIx64 " switched to configuration %s", id_, describe_config().c_str());
  if (hs.term() != 0 || hs.vote() != 0 || hs.commit() != 0) load_state(hs);
  if (c.applied > 0) raft_log_.applied_to(c.applied);
  become_follower(term_, no_node);
  if (log_enabled(LogLevel::kInfo)) {
    std::string peers;
    for (std::uint64_t v : prs_.voters()) {
      char b[24];
      std::snprintf(b, sizeof(b), "%" PRIx64, v);  // ids in hex, as every other line prints them
      if (!peers.empty()) peers += ',';
      peers += b;
    }
    logf(LogLevel::kInfo,
         "newRaft %" PRIx64 " [peers: [%s], term: %" PRIu64 ", commit: %" PRIu64
         ", applied: %" PRIu64 ", lastindex: %" PRIu64 ", lastterm: %" PRIu64 "]",
         id_, peers.c_str(), term_, raft_log_.committed(), raft_log_.applied(),
         raft_log_.last_index(), raft_log_.last_term());
  }
}

void Raft::load_state(const raftpb::HardState& hs) {
  if (hs.commit() < raft_log_.committed() || hs.commit() > raft_log_.last_index()) {
    OUTPOST_PANIC("hard state commit index is out of the log's range");
  }
  raft_log_.commit_to(hs.commit());
  term_ = hs.term();
  vote_ = hs.vote();
}

std::string Raft::check_invariants(std::uint64_t log_from) const {
  auto num = [](std::uint64_t v) { return std::to_string(v); };
  const std::uint64_t first = raft_log_.first_index(), last = raft_log_.last_index();
  const std::uint64_t committed = raft_log_.committed(), applied = raft_log_.applied();
  if (committed > last) return "committed " + num(committed) + " > last index " + num(last);
  if (committed + 1 < first) {
    return "committed " + num(committed) + " < first index " + num(first) + " - 1";
  }
  if (applied > committed) return "applied " + num(applied) + " > committed " + num(committed);
  const std::uint64_t from = std::max(first, log_from);
  std::uint64_t prev = raft_log_.term_or_zero(from - 1);
  for (std::uint64_t i = from; i <= last; ++i) {
    const std::uint64_t t = raft_log_.term_or_zero(i);
    if (t < prev) {
      return "log term decreases at index " + num(i) + ": " + num(prev) + " then " + num(t);
    }
    prev = t;
  }
  // (A member booted from a snapshot may hold its term before learning any term: only entries of
  // the log proper count.)
  if (last >= first && raft_log_.last_term() > term_) {
    return "last log term " + num(raft_log_.last_term()) + " > current term " + num(term_);
  }
  switch (state_) {
    case StateType::kLeader:
      if (lead_ != id_) return "leader whose lead is " + num(lead_);
      // (It may have applied its own removal: like etcd's, it leads on until it is shut down.)
      break;
    case StateType::kCandidate:
      if (vote_ != id_) return "candidate that voted for " + num(vote_);
      [[fallthrough]];
    case StateType::kPreCandidate:
      if (lead_ != no_node) return "candidate that knows leader " + num(lead_);
      if (is_learner_) return "learner campaigning";
      break;
    case StateType::kFollower: break;
  }
  return {};
}

raftpb::HardState Raft::hard_state() const {
  raftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(raft_log_.committed());
  return hs;
}

std::uint64_t Raft::random_below(std::uint64_t n) {
  if (random_) return random_(n);
  return splitmix64(rng_state_) % n;
}

void Raft::reset(std::uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = no_node;
  }
  lead_ = no_node;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  abort_leader_transfer();
  prs_.reset_votes();
  const std::uint64_t last = raft_log_.last_index();
  for (auto& [id, pr] : prs_.progress()) {
    pr = Progress(last + 1, prs_.max_inflight(), pr.is_learner);
    if (id == id_) pr.match = last;
  }
  pending_conf_index_ = 0;
  uncommitted_size_ = 0;
  read_only_.clear();
  pending_read_index_msgs_.clear();
}

void Raft::tick() {
  if (state_ == StateType::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::step_local(raftpb::MessageType t) {
  raftpb::Message m;
  m.set_type(t);
  m.set_from(id_);
  // MsgHup, MsgBeat and MsgCheckQuorum are handled in every state and never refused.
  if (step(std::move(m)) != Error::kOk) {
    OUTPOST_PANIC("a local message was refused",
                  {"type", "\"" + raftpb::MessageType_Name(t) + "\""});
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      step_local(raftpb::MsgCheckQuorum);
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (state_ == StateType::kLeader && lead_transferee_ != no_node) abort_leader_transfer();
  }
  if (state_ != StateType::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    step_local(raftpb::MsgBeat);
  }
}

Error Raft::step(raftpb::Message m) {
  const auto type = m.type();
  if (m.term() == 0) {
    // local message
  } else if (m.term() > term_) {
    if (type == raftpb::MsgVote || type == raftpb::MsgPreVote) {
      const bool force = m.context() == kCampaignTransferContext;
      const bool in_lease =
          check_quorum_ && lead_ != no_node && election_elapsed_ < election_timeout_;
      // Leader lease: we heard from a leader recently, so this candidate cannot have a legitimate
      // reason to take over; ignoring it keeps a rejoining partitioned node from disrupting us.
      if (!force && in_lease) {
        logf(LogLevel::kInfo,
             "%" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64 ", vote: %" PRIx64
             "] ignored %s from %" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64
             "] at term %" PRIu64 ": lease is not expired (remaining ticks: %d)",
             id_, raft_log_.last_term(), raft_log_.last_index(), vote_, message_type_name(type),
             m.from(), m.log_term(), m.index(), term_, election_timeout_ - election_elapsed_);
        return Error::kOk;
      }
    }
    if (type != raftpb::MsgPreVote && !(type == raftpb::MsgPreVoteResp && !m.reject())) {
      logf(LogLevel::kInfo,
           "%" PRIx64 " [term: %" PRIu64 "] received a %s message with higher term from %" PRIx64
           " [term: %" PRIu64 "]",
           id_, term_, message_type_name(type), m.from(), m.term());
    }
    if (type == raftpb::MsgPreVote) {
      // Never bump our term for a pre-vote.
    } else if (type == raftpb::MsgPreVoteResp && !m.reject()) {
      // A granted pre-vote is for a term we have not entered yet; campaign() will.
    } else if (type == raftpb::MsgApp || type == raftpb::MsgHeartbeat || type == raftpb::MsgSnap) {
      become_follower(m.term(), m.from());
    } else if (type == raftpb::MsgVote) {
      // Adopt the term, but keep the election timer running (Figure 2: only a leader's message or
      // a granted vote restarts it). Otherwise candidates with stale logs, which cannot win, would
      // keep restarting the timers of the members that can, and elections could fail for long.
      const int elapsed = election_elapsed_;
      become_follower(m.term(), no_node);
      election_elapsed_ = elapsed;
    } else {
      become_follower(m.term(), no_node);
    }
  } else if (m.term() < term_) {
    if ((check_quorum_ || pre_vote_) && (type == raftpb::MsgHeartbeat || type == raftpb::MsgApp)) {
      // A stale leader (e.g. healed from a partition) learns our term from this answer and steps
      // down; otherwise, with check-quorum or pre-vote, nothing would ever tell it.
      raftpb::Message resp;
      resp.set_to(m.from());
      resp.set_type(raftpb::MsgAppResp);
      send(std::move(resp));
    } else if (type == raftpb::MsgPreVote) {
      logf(LogLevel::kInfo,
           "%" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64 ", vote: %" PRIx64
           "] rejected %s from %" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64
           "] at term %" PRIu64,
           id_, raft_log_.last_term(), raft_log_.last_index(), vote_, message_type_name(type),
           m.from(), m.log_term(), m.index(), term_);
      raftpb::Message resp;
      resp.set_to(m.from());
      resp.set_term(term_);
      resp.set_type(raftpb::MsgPreVoteResp);
      resp.set_reject(true);
      send(std::move(resp));
    } else {
      logf(LogLevel::kInfo,
           "%" PRIx64 " [term: %" PRIu64 "] ignored a %s message with lower term from %" PRIx64
           " [term: %" PRIu64 "]",
           id_, term_, message_type_name(type), m.from(), m.term());
    }
    return Error::kOk;
  }

  switch (type) {
    case raftpb::MsgHup:
      hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return Error::kOk;
    case raftpb::MsgVote:
    case raftpb::MsgPreVote: handle_vote_request(m); return Error::kOk;
    default: break;
  }
  switch (state_) {
    case StateType::kLeader: return step_leader(m);
    case StateType::kCandidate:
    case StateType::kPreCandidate: return step_candidate(m);
    case StateType::kFollower: return step_follower(m);
  }
  return Error::kOk;
}

Error Raft::step_leader(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MsgBeat: bcast_heartbeat(); return Error::kOk;
    case raftpb::MsgCheckQuorum:
      if (Progress* self = prs_.get(id_)) self->recent_active = true;
      if (!prs_.quorum_active()) {
        logf(LogLevel::kWarning, "%" PRIx64 " stepped down to follower since quorum is not active",
             id_);
        become_follower(term_, no_node);
        return Error::kOk;
      }
      for (auto& [id, pr] : prs_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
      return Error::kOk;
    case raftpb::MsgProp: {
      if (m.entries_size() == 0) OUTPOST_PANIC("stepped an empty proposal");
      if (prs_.get(id_) == nullptr) return Error::kProposalDropped;  // we were removed
      if (lead_transferee_ != no_node) {
        logf(LogLevel::kDebug,
             "%" PRIx64 " [term %" PRIu64 "] transfer leadership to %" PRIx64
             " is in progress; dropping proposal",
             id_, term_, lead_transferee_);
        return Error::kProposalDropped;
      }
      std::vector<raftpb::Entry> ents;
      ents.reserve(static_cast<std::size_t>(m.entries_size()));
      for (auto& e : *m.mutable_entries()) {
        if (e.type() == raftpb::EntryConfChange) {
          if (pending_conf_index_ > raft_log_.applied()) {
            logf(LogLevel::kInfo,
                 "%" PRIx64 " ignoring conf change at index %" PRIu64
                 ": possible unapplied conf change at index %" PRIu64 " (applied to %" PRIu64 ")",
                 id_, raft_log_.last_index() + ents.size() + 1, pending_conf_index_,
                 raft_log_.applied());
            return Error::kProposalDropped;
          }
          pending_conf_index_ = raft_log_.last_index() + ents.size() + 1;
        }
        ents.push_back(std::move(e));
      }
      if (!append_entry(std::move(ents))) return Error::kProposalDropped;
      bcast_append();
      return Error::kOk;
    }
    case raftpb::MsgReadIndex: handle_read_index(m); return Error::kOk;
    default: break;
  }
  Progress* pr = prs_.get(m.from());
  if (pr == nullptr) return Error::kOk;  // a member we no longer track
  switch (m.type()) {
    case raftpb::MsgAppResp: handle_append_response(m, *pr); break;
    case raftpb::MsgHeartbeatResp: handle_heartbeat_response(m, *pr); break;
    case raftpb::MsgSnapStatus:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject()) pr->pending_snapshot = 0;
      pr->become_probe();
      // Wait for the next heartbeat answer (or append answer) before probing again.
      pr->probe_sent = true;
      break;
    case raftpb::MsgUnreachable:
      if (pr->state == ProgressState::kReplicate) pr->become_probe();
      break;
    case raftpb::MsgTransferLeader: handle_transfer_leader(m, *pr); break;
    default: break;
  }
  return Error::kOk;
}

void Raft::handle_read_index(raftpb::Message& m) {
  if (m.entries_size() != 1) return;
  if (prs_.voters().size() == 1 && prs_.is_voter(id_)) {
    // Alone in the voting configuration: our commit index is the quorum's.
    send_read_index_response(m, raft_log_.committed());
    return;
  }
  if (!committed_entry_in_current_term()) {
    // Our commit index may still lag the previous leader's; answer once our term's entry commits.
    pending_read_index_msgs_.push_back(std::move(m));
    return;
  }
  if (read_only_.option() == ReadOnlyOption::kSafe) {
    read_only_.add_request(raft_log_.committed(), m);
    read_only_.recv_ack(id_, m.entries(0).data());
    bcast_heartbeat_with_ctx(m.entries(0).data());
  } else {
    send_read_index_response(m, raft_log_.committed());
  }
}

void Raft::send_read_index_response(const raftpb::Message& req, std::uint64_t index) {
  if (req.from() == no_node || req.from() == id_) {
    read_states_.push_back(ReadState{index, req.entries(0).data()});
    return;
  }
  raftpb::Message resp;
  resp.set_type(raftpb::MsgReadIndexResp);
  resp.set_to(req.from());
  resp.set_index(index);
  *resp.mutable_entries() = req.entries();
  send(std::move(resp));
}

void Raft::release_pending_read_index_messages() {
  if (pending_read_index_msgs_.empty() || !committed_entry_in_current_term()) return;
  std::vector<raftpb::Message> msgs = std::move(pending_read_index_msgs_);
  pending_read_index_msgs_.clear();
  for (auto& m : msgs) handle_read_index(m);
}

void Raft::handle_transfer_leader(const raftpb::Message& m, Progress& pr) {
  if (pr.is_learner) {  // a learner can never lead
    logf(LogLevel::kDebug, "%" PRIx64 " is learner. Ignored transferring leadership", m.from());
    return;
  }
  const std::uint64_t transferee = m.from();
  if (lead_transferee_ != no_node) {
    if (lead_transferee_ == transferee) {  // already under way
      logf(LogLevel::kInfo,
           "%" PRIx64 " [term %" PRIu64 "] transfer leadership to %" PRIx64
           " is in progress, ignores request to same node %" PRIx64,
           id_, term_, transferee, transferee);
      return;
    }
    logf(LogLevel::kInfo,
         "%" PRIx64 " [term %" PRIu64 "] abort previous transferring leadership to %" PRIx64, id_,
         term_, lead_transferee_);
    abort_leader_transfer();
  }
  if (transferee == id_) {
    logf(LogLevel::kDebug, "%" PRIx64 " is already leader. Ignored transferring leadership to self",
         id_);
    return;
  }
  logf(LogLevel::kInfo, "%" PRIx64 " [term %" PRIu64 "] starts to transfer leadership to %" PRIx64,
       id_, term_, transferee);
  // The transfer must finish within an election timeout (tick_heartbeat aborts it otherwise).
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  if (pr.match == raft_log_.last_index()) {
    logf(LogLevel::kInfo,
         "%" PRIx64 " sends MsgTimeoutNow to %" PRIx64 " immediately as %" PRIx64
         " already has up-to-date log",
         id_, transferee, transferee);
    send_timeout_now(transferee);
  } else {
    send_append(transferee);
  }
}

Error Raft::step_follower(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MsgProp:
      if (lead_ == no_node) {
        logf(LogLevel::kInfo, "%" PRIx64 " no leader at term %" PRIu64 "; dropping proposal", id_,
             term_);
        return Error::kProposalDropped;
      }
      if (disable_proposal_forwarding_) {
        logf(LogLevel::kInfo,
             "%" PRIx64 " not forwarding to leader %" PRIx64 " at term %" PRIu64
             "; dropping proposal",
             id_, lead_, term_);
        return Error::kProposalDropped;
      }
      m.set_to(lead_);
      send(std::move(m));
      break;
    case raftpb::MsgApp:
      election_elapsed_ = 0;
      lead_ = m.from();
      handle_append(m);
      break;
    case raftpb::MsgHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from();
      handle_heartbeat(m);
      break;
    case raftpb::MsgSnap:
      election_elapsed_ = 0;
      lead_ = m.from();
      handle_snapshot(m);
      break;
    case raftpb::MsgTransferLeader:
      if (lead_ == no_node) {
        logf(LogLevel::kInfo,
             "%" PRIx64 " no leader at term %" PRIu64 "; dropping leader transfer msg", id_, term_);
        return Error::kProposalDropped;
      }
      m.set_to(lead_);
      send(std::move(m));
      break;
    case raftpb::MsgTimeoutNow:
      // The leader asked us to take over: campaign at once, skipping pre-vote and the lease.
      if (promotable()) {
        logf(LogLevel::kInfo,
             "%" PRIx64 " [term %" PRIu64 "] received MsgTimeoutNow from %" PRIx64
             " and starts an election to get leadership.",
             id_, term_, m.from());
        hup(CampaignType::kTransfer);
      } else {
        logf(LogLevel::kInfo,
             "%" PRIx64 " received MsgTimeoutNow from %" PRIx64 " but is not promotable", id_,
             m.from());
      }
      break;
    case raftpb::MsgReadIndex:
      if (lead_ == no_node) {
        logf(LogLevel::kInfo,
             "%" PRIx64 " no leader at term %" PRIu64 "; dropping index reading msg", id_, term_);
        return Error::kProposalDropped;
      }
      m.set_to(lead_);
      send(std::move(m));
      break;
    case raftpb::MsgReadIndexResp:
      if (m.entries_size() != 1) break;
      read_states_.push_back(ReadState{m.index(), m.entries(0).data()});
      break;
    default: break;
  }
  return Error::kOk;
}

void Raft::send(raftpb::Message m) {
  if (m.from() == no_node) m.set_from(id_);
  const auto t = m.type();
  if (t == raftpb::MsgVote || t == raftpb::MsgVoteResp || t == raftpb::MsgPreVote ||
      t == raftpb::MsgPreVoteResp) {
    if (m.term() == 0) OUTPOST_PANIC("vote messages must carry a term");
  } else {
    if (m.term() != 0) OUTPOST_PANIC("only vote messages set their own term");
    // Proposals and forwarded read requests are not tied to a term.
    if (t != raftpb::MsgProp && t != raftpb::MsgReadIndex) m.set_term(term_);
  }
  msgs_.push_back(std::move(m));
}

bool Raft::committed_entry_in_current_term() const {
  return raft_log_.term_or_zero(raft_log_.committed()) == term_;
}

raftpb::ConfState Raft::apply_conf_change(const raftpb::ConfChange& cc) {
  if (cc.node_id() == no_node) return prs_.conf_state();
  switch (cc.type()) {
    case raftpb::ConfChangeAddNode: add_node(cc.node_id(), false); break;
    case raftpb::ConfChangeAddLearnerNode: add_node(cc.node_id(), true); break;
    case raftpb::ConfChangeRemoveNode: remove_node(cc.node_id()); break;
    case raftpb::ConfChangeUpdateNode: break;
    default: break;
  }
  logf(LogLevel::kInfo, "%" PRIx64 " switched to configuration %s", id_, describe_config().c_str());
  return prs_.conf_state();
}

void Raft::add_node(std::uint64_t id, bool learner) {
  Progress* pr = prs_.get(id);
  if (pr == nullptr) {
    const std::uint64_t next = raft_log_.last_index() + 1;
    if (learner) {
      prs_.add_learner(id, next);
    } else {
      prs_.add_voter(id, next);
    }
    pr = prs_.get(id);
    if (id == id_) pr->match = raft_log_.last_index();
    // A new member counts as active, so check-quorum does not depose us before it answered.
    pr->recent_active = true;
  } else if (learner && !pr->is_learner) {
    return;  // a voter cannot be demoted in one step
  } else if (!learner && pr->is_learner) {
    prs_.add_voter(id, pr->next);  // promotion keeps the replication progress
  } else {
    return;  // no change
  }
  if (id == id_) is_learner_ = learner;
  if (state_ == StateType::kLeader && !learner && id != id_) {
    // A new voter changes the quorum; nothing can become committed by it, but keep it fed.
    send_append(id);
  }
}

void Raft::remove_node(std::uint64_t id) {
  prs_.remove(id);
  if (id == id_) is_learner_ = false;
  if (prs_.voters().empty()) return;
  // A smaller quorum may commit more.
  if (state_ == StateType::kLeader) {
    if (maybe_commit()) bcast_append();
    if (lead_transferee_ == id) abort_leader_transfer();
  }
}

}  // namespace outpost::raft
