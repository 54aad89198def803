// Raft, part three: elections. The roles and their transitions, the election timer, pre-vote
// and vote campaigns, vote requests and their tally, and the candidate's step function. Message
// dispatch, ReadIndex, transfers and membership live in raft.cc, replication in
// raft_replication.cc.
#include <algorithm>
#include <cinttypes>

#include "core/common/panic.h"
#include "core/raft/raft.h"

namespace outpost::raft {

void Raft::reset_randomized_election_timeout() {
  randomized_election_timeout_ =
      election_timeout_ +
      static_cast<int>(random_below(static_cast<std::uint64_t>(election_timeout_)));
}

bool Raft::promotable() const {
  const Progress* pr = prs_.get(id_);
  return pr != nullptr && !pr->is_learner;
}

void Raft::become_follower(std::uint64_t term, std::uint64_t lead) {
  reset(term);
  lead_ = lead;
  state_ = StateType::kFollower;
  logf(LogLevel::kInfo, "%" PRIx64 " became follower at term %" PRIu64, id_, term_);
}

void Raft::become_candidate() {
  if (state_ == StateType::kLeader) OUTPOST_PANIC("invalid transition leader -> candidate");
  reset(term_ + 1);
  vote_ = id_;
  state_ = StateType::kCandidate;
  logf(LogLevel::kInfo, "%" PRIx64 " became candidate at term %" PRIu64, id_, term_);
}

void Raft::become_pre_candidate() {
  if (state_ == StateType::kLeader) OUTPOST_PANIC("invalid transition leader -> pre-candidate");
  // Pre-candidacy changes neither the term nor the vote: it only asks whether it could win.
  prs_.reset_votes();
  lead_ = no_node;
  state_ = StateType::kPreCandidate;
  logf(LogLevel::kInfo, "%" PRIx64 " became pre-candidate at term %" PRIu64, id_, term_);
}

void Raft::become_leader() {
  if (state_ == StateType::kFollower) OUTPOST_PANIC("invalid transition follower -> leader");
  reset(term_);
  lead_ = id_;
  state_ = StateType::kLeader;
  if (Progress* self = prs_.get(id_)) {
    self->become_replicate();
    self->recent_active = true;
  }
  // Any conf change still in the log might be uncommitted: no new one until it is applied.
  pending_conf_index_ = raft_log_.last_index();
  // The empty entry of the new term lets the leader commit (and learn the commit index) quickly.
  std::vector<raftpb::Entry> noop(1);
  if (!append_entry(std::move(noop))) OUTPOST_PANIC("cannot append the leader's empty entry");
  logf(LogLevel::kInfo, "%" PRIx64 " became leader at term %" PRIu64, id_, term_);
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (promotable() && past_election_timeout()) {
    election_elapsed_ = 0;
    step_local(raftpb::MsgHup);
  }
}

void Raft::hup(CampaignType t) {
  if (state_ == StateType::kLeader) {
    logf(LogLevel::kDebug, "%" PRIx64 " ignoring MsgHup because already leader", id_);
    return;
  }
  if (!promotable()) {
    logf(LogLevel::kWarning, "%" PRIx64 " is unpromotable and can not campaign", id_);
    return;
  }
  // A committed but unapplied conf change could change whether we may campaign at all.
  if (raft_log_.committed() > raft_log_.applied()) {
    std::vector<raftpb::Entry> ents;
    if (raft_log_.slice(raft_log_.applied() + 1, raft_log_.committed() + 1, no_limit, &ents) !=
        Error::kOk) {
      OUTPOST_PANIC("cannot read unapplied entries");
    }
    for (const auto& e : ents) {
      if (e.type() == raftpb::EntryConfChange) {
        logf(LogLevel::kWarning,
             "%" PRIx64 " cannot campaign at term %" PRIu64
             " since there are still pending configuration changes to apply",
             id_, term_);
        return;
      }
    }
  }
  logf(LogLevel::kInfo, "%" PRIx64 " is starting a new election at term %" PRIu64, id_, term_);
  campaign(t);
}

void Raft::campaign(CampaignType t) {
  raftpb::MessageType vote_msg;
  std::uint64_t term;
  if (t == CampaignType::kPreElection) {
    become_pre_candidate();
    vote_msg = raftpb::MsgPreVote;
    term = term_ + 1;  // the term we would campaign for; ours stays unchanged
  } else {
    become_candidate();
    vote_msg = raftpb::MsgVote;
    term = term_;
  }
  if (poll(id_, vote_resp_type(vote_msg), true) == VoteResult::kWon) {
    // Single voter: we won on our own vote.
    if (t == CampaignType::kPreElection) {
      campaign(CampaignType::kElection);
    } else {
      become_leader();
    }
    return;
  }
  for (std::uint64_t id : prs_.voters()) {  // learners are never asked
    if (id == id_) continue;
    raftpb::Message m;
    m.set_to(id);
    m.set_term(term);
    m.set_type(vote_msg);
    m.set_index(raft_log_.last_index());
    m.set_log_term(raft_log_.last_term());
    if (t == CampaignType::kTransfer) m.set_context(kCampaignTransferContext);
    logf(LogLevel::kInfo,
         "%" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64 "] sent %s request to %" PRIx64
         " at term %" PRIu64,
         id_, m.log_term(), m.index(), message_type_name(vote_msg), id, term_);
    send(std::move(m));
  }
}

VoteResult Raft::poll(std::uint64_t id, raftpb::MessageType t, bool granted) {
  if (granted) {
    logf(LogLevel::kInfo, "%" PRIx64 " received %s from %" PRIx64 " at term %" PRIu64, id_,
         message_type_name(t), id, term_);
  } else {
    logf(LogLevel::kInfo, "%" PRIx64 " received %s rejection from %" PRIx64 " at term %" PRIu64,
         id_, message_type_name(t), id, term_);
  }
  prs_.record_vote(id, granted);
  return prs_.tally(nullptr, nullptr);
}

void Raft::handle_vote_request(const raftpb::Message& m) {
  // We can vote for m.from if we already did in this term, or we have not voted and know no
  // leader, or it is a pre-vote for a future term (pre-votes record nothing).
  const bool can_vote = vote_ == m.from() || (vote_ == no_node && lead_ == no_node) ||
                        (m.type() == raftpb::MsgPreVote && m.term() > term_);
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(vote_resp_type(m.type()));
  const bool grant = can_vote && raft_log_.is_up_to_date(m.index(), m.log_term());
  logf(LogLevel::kInfo,
       "%" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64 ", vote: %" PRIx64 "] %s %s %s %" PRIx64
       " [logterm: %" PRIu64 ", index: %" PRIu64 "] at term %" PRIu64,
       id_, raft_log_.last_term(), raft_log_.last_index(), vote_, grant ? "cast" : "rejected",
       message_type_name(m.type()), grant ? "for" : "from", m.from(), m.log_term(), m.index(),
       term_);
  if (grant) {
    // A granted answer carries the candidate's term, so a granted pre-vote (for a term we have
    // not entered) is recognised by the candidate.
    resp.set_term(m.term());
    send(std::move(resp));
    if (m.type() == raftpb::MsgVote) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
    send(std::move(resp));
  }
}

Error Raft::step_candidate(raftpb::Message& m) {
  const raftpb::MessageType my_resp =
      state_ == StateType::kPreCandidate ? raftpb::MsgPreVoteResp : raftpb::MsgVoteResp;
  switch (m.type()) {
    case raftpb::MsgProp:
      logf(LogLevel::kInfo, "%" PRIx64 " no leader at term %" PRIu64 "; dropping proposal", id_,
           term_);
      return Error::kProposalDropped;
    case raftpb::MsgApp:
      become_follower(m.term(), m.from());  // someone won this term
      handle_append(m);
      break;
    case raftpb::MsgHeartbeat:
      become_follower(m.term(), m.from());
      handle_heartbeat(m);
      break;
    case raftpb::MsgSnap:
      become_follower(m.term(), m.from());
      handle_snapshot(m);
      break;
    case raftpb::MsgReadIndex: return Error::kProposalDropped;
    default:
      if (m.type() != my_resp) break;
      const VoteResult res = poll(m.from(), m.type(), !m.reject());
      if (log_enabled(LogLevel::kInfo)) {
        std::size_t granted = 0, rejected = 0;
        prs_.tally(&granted, &rejected);
        logf(LogLevel::kInfo, "%" PRIx64 " has received %zu %s votes and %zu vote rejections", id_,
             granted, message_type_name(m.type()), rejected);
      }
      switch (res) {
        case VoteResult::kWon:
          if (state_ == StateType::kPreCandidate) {
            campaign(CampaignType::kElection);
          } else {
            become_leader();
            bcast_append();
          }
          break;
        case VoteResult::kLost: become_follower(term_, no_node); break;
        case VoteResult::kPending: break;
      }
      break;
  }
  return Error::kOk;
}

}  // namespace outpost::raft
