#pragma once
// Raft: the consensus state machine of one member (follower, pre-candidate, candidate, leader).
//
// Pure and deterministic: it never does I/O, never reads a clock and never spawns a thread. Time
// is tick(); the network is step() in and `msgs_` out; durability is the Storage it reads and the
// RaftLog's unstable part it hands out. Randomized election timeouts come from a seeded PRNG
// owned by the instance, so a run is a pure function of its inputs and can be replayed.
//
// What it implements (the Raft paper, §5 and §6 with the thesis' extensions):
//  - elections with randomized timeouts (as in Figure 2, a vote request that is refused does not
//    restart the election timer, so stale candidates cannot starve up-to-date ones); optional
//    pre-vote (a candidate first asks whether it could win, without bumping any term) and
//    check-quorum (a leader that did not hear from a quorum of voters within an election timeout
//    steps down; a follower that heard from a leader within the election timeout ignores vote
//    requests: the leader lease);
//  - log replication with the log-matching check, fast back-off on rejection (the follower hints
//    at the last index whose term could match), per-follower flow control (progress.h);
//  - commitment only by counting replicas of entries of the current term (§5.4.2);
//  - snapshots for followers behind the first retained index;
//  - learners: they receive the log but are never counted in any quorum (quorum.h counts voters
//    only), never campaign and are never sent vote requests;
//  - single-step membership changes, applied when committed (apply_conf_change), at most one
//    pending at a time (pending_conf_index_);
//  - ReadIndex (safe: confirmed by a heartbeat round to a quorum; lease-based: relies on
//    check-quorum) served only once the leader committed an entry of its own term;
//  - leader transfer to an up-to-date voter via MsgTimeoutNow.
//
// Invariants kept: term_ never decreases; a member votes at most once per term (vote_ persists in
// HardState); committed never decreases and committed entries are never overwritten; a leader
// never overwrites or deletes its own entries.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/raft/log.h"
#include "core/raft/progress.h"
#include "core/raft/read_only.h"
#include "core/raft/storage.h"

namespace outpost::raft {

constexpr std::uint64_t no_node = 0;

enum class StateType { kFollower, kCandidate, kLeader, kPreCandidate };
const char* to_string(StateType s);

// Severity of a line the library logs (etcd raft's Logger levels).
enum class LogLevel { kDebug, kInfo, kWarning, kError };
// "DEBUG", "INFO", "WARN", "ERROR": the prefixes etcd's interaction tests print.
const char* to_string(LogLevel l);

// Receives one line per event: role transitions ("1 became leader at term 2"), votes sent, cast,
// received and rejected, messages ignored for their term, snapshots restored, configurations
// switched, proposals dropped. The line has no level prefix and no trailing newline. It is called
// synchronously from tick()/step()/the constructor on the caller's thread, so it must not call
// back into the node; the library itself does no I/O, the callback decides where lines go.
using Logger = std::function<void(LogLevel level, std::string_view line)>;

struct Config {
  std::uint64_t id = 0;        // this member; must not be 0
  int election_tick = 10;      // ticks without a leader before campaigning (randomized x1..x2)
  int heartbeat_tick = 1;      // ticks between leader heartbeats
  Storage* storage = nullptr;  // the persisted log; must outlive the node
  std::uint64_t applied = 0;   // last index the application applied before a restart
  std::uint64_t max_size_per_msg = 1024 * 1024;    // bytes of entries per MsgApp
  std::uint64_t max_committed_size_per_ready = 0;  // 0: same as max_size_per_msg
  std::size_t max_inflight_msgs = 256;  // unacknowledged MsgApp per follower in replicate state
  std::uint64_t max_uncommitted_entries_size = 0;  // bytes of uncommitted payload; 0 = unlimited
  bool check_quorum = false;
  bool pre_vote = false;
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;
  bool disable_proposal_forwarding = false;
  // Seeds the PRNG of randomized election timeouts. 0 derives a seed from `id`.
  std::uint64_t random_seed = 0;
  // Optional override: returns a value in [0, n). Takes precedence over random_seed.
  std::function<std::uint64_t(std::uint64_t n)> random;
  // Where the library's log lines go (see Logger). Default: empty, the library is silent.
  Logger logger;
  // Lines below this level are not formatted nor passed to `logger`. Default: info.
  LogLevel log_level = LogLevel::kInfo;

  // Empty if valid, otherwise what is wrong.
  std::string validate() const;
};

struct SoftState {
  std::uint64_t lead = no_node;
  StateType state = StateType::kFollower;
  bool operator==(const SoftState&) const = default;
};

class Raft {
 public:
  // Aborts on an invalid config (a programming error, caught at start-up).
  explicit Raft(const Config& c);

  // Advances logical time by one tick.
  void tick();
  // Feeds any message (network or local). Errors: kProposalDropped for refused proposals.
  Error step(raftpb::Message m);
  // Applies a committed membership change; returns the resulting membership.
  raftpb::ConfState apply_conf_change(const raftpb::ConfChange& cc);

  // --- accessors used by RawNode, status() and tests ---
  std::uint64_t id() const { return id_; }
  std::uint64_t term() const { return term_; }
  std::uint64_t vote() const { return vote_; }
  std::uint64_t lead() const { return lead_; }
  StateType state() const { return state_; }
  bool is_learner() const { return is_learner_; }
  std::uint64_t lead_transferee() const { return lead_transferee_; }
  SoftState soft_state() const { return SoftState{lead_, state_}; }
  raftpb::HardState hard_state() const;
  RaftLog& log() { return raft_log_; }
  const RaftLog& log() const { return raft_log_; }
  ProgressTracker& tracker() { return prs_; }
  const ProgressTracker& tracker() const { return prs_; }
  std::vector<raftpb::Message>& msgs() { return msgs_; }
  std::vector<ReadState>& read_states() { return read_states_; }
  const std::vector<raftpb::Message>& msgs() const { return msgs_; }
  const std::vector<ReadState>& read_states() const { return read_states_; }
  int election_elapsed() const { return election_elapsed_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  std::uint64_t pending_conf_index() const { return pending_conf_index_; }
  std::uint64_t uncommitted_size() const { return uncommitted_size_; }
  // Checks what must hold of this node between any two calls (LogCabin's invariant checker):
  // committed within [first_index - 1, last_index], applied <= committed, log terms
  // non-decreasing and never above the current term, a candidate voted for itself, a leader leads
  // itself, a learner never campaigns. Returns "" when all hold,
  // otherwise what broke. The log is scanned from max(first_index, log_from): entries at or below
  // the commit index never change, so a caller checking after every step may pass the commit
  // index it saw at the previous check. For tests and debug builds: O(log length) otherwise.
  std::string check_invariants(std::uint64_t log_from = 0) const;
  // Called by RawNode::advance with the payload bytes of the committed entries handed out.
  void reduce_uncommitted_size(std::uint64_t committed_payload);

  // Test hooks: force a role (tests of the paper's rules start from a given state).
  void become_follower(std::uint64_t term, std::uint64_t lead);
  void become_candidate();
  void become_pre_candidate();
  void become_leader();
  void set_randomized_election_timeout(int t) { randomized_election_timeout_ = t; }

 private:
  enum class CampaignType { kPreElection, kElection, kTransfer };

  void reset(std::uint64_t term);
  void reset_randomized_election_timeout();
  std::uint64_t random_below(std::uint64_t n);
  bool promotable() const;
  bool past_election_timeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  // Steps a message this member sends itself (MsgHup, MsgBeat, MsgCheckQuorum).
  void step_local(raftpb::MessageType t);
  void tick_election();
  void tick_heartbeat();

  void hup(CampaignType t);
  void campaign(CampaignType t);
  VoteResult poll(std::uint64_t id, raftpb::MessageType t, bool granted);

  Error step_leader(raftpb::Message& m);
  Error step_candidate(raftpb::Message& m);
  Error step_follower(raftpb::Message& m);
  void handle_vote_request(const raftpb::Message& m);
  void handle_append(raftpb::Message& m);
  void handle_heartbeat(const raftpb::Message& m);
  void handle_snapshot(const raftpb::Message& m);
  void handle_append_response(const raftpb::Message& m, Progress& pr);
  void handle_heartbeat_response(const raftpb::Message& m, Progress& pr);
  void handle_read_index(raftpb::Message& m);
  void handle_transfer_leader(const raftpb::Message& m, Progress& pr);
  bool restore(const raftpb::Snapshot& s);

  void send(raftpb::Message m);
  void send_append(std::uint64_t to) { maybe_send_append(to, true); }
  bool maybe_send_append(std::uint64_t to, bool send_if_empty);
  void send_heartbeat(std::uint64_t to, const std::string& ctx);
  void send_timeout_now(std::uint64_t to);
  void send_read_index_response(const raftpb::Message& req, std::uint64_t index);
  void bcast_append();
  void bcast_heartbeat();
  void bcast_heartbeat_with_ctx(const std::string& ctx);
  bool append_entry(std::vector<raftpb::Entry>&& es);
  bool maybe_commit();
  bool committed_entry_in_current_term() const;
  void release_pending_read_index_messages();
  void abort_leader_transfer() { lead_transferee_ = no_node; }
  std::uint64_t find_conflict_by_term(std::uint64_t index, std::uint64_t term) const;
  void add_node(std::uint64_t id, bool learner);
  void remove_node(std::uint64_t id);
  void load_state(const raftpb::HardState& hs);
  // Formats and hands a line to logger_ when one is set and `level` is enabled.
  bool log_enabled(LogLevel level) const { return logger_ && level >= log_level_; }
  void logf(LogLevel level, const char* fmt, ...) const __attribute__((format(printf, 3, 4)));
  // "voters=(1 2 3) learners=(4)", etcd's way of printing a configuration.
  std::string describe_config() const;

  std::uint64_t id_;
  std::uint64_t term_ = 0;
  std::uint64_t vote_ = no_node;
  std::uint64_t lead_ = no_node;
  StateType state_ = StateType::kFollower;
  bool is_learner_ = false;

  RaftLog raft_log_;
  ProgressTracker prs_;
  ReadOnly read_only_;
  std::vector<ReadState> read_states_;
  std::vector<raftpb::Message> msgs_;
  std::vector<raftpb::Message> pending_read_index_msgs_;

  std::uint64_t max_msg_size_;
  std::uint64_t max_uncommitted_size_;
  std::uint64_t uncommitted_size_ = 0;
  std::uint64_t lead_transferee_ = no_node;
  std::uint64_t pending_conf_index_ = 0;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int election_timeout_;
  int heartbeat_timeout_;
  int randomized_election_timeout_ = 0;
  bool check_quorum_;
  bool pre_vote_;
  bool disable_proposal_forwarding_;
  std::uint64_t rng_state_;
  std::function<std::uint64_t(std::uint64_t)> random_;
  Logger logger_;
  LogLevel log_level_;
};

// Message classification helpers.
bool is_local_msg(raftpb::MessageType t);
bool is_response_msg(raftpb::MessageType t);
raftpb::MessageType vote_resp_type(raftpb::MessageType t);
// The message type's name for log lines ("MsgVote").
const char* message_type_name(raftpb::MessageType t);
// Context marking a vote request as part of a leadership transfer: it must not be ignored by
// the leader lease, since the current leader asked for it.
inline constexpr const char* kCampaignTransferContext = "CampaignTransfer";

}  // namespace outpost::raft
