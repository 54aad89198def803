#pragma once
// RaftNode: the raft thread of a member (DESIGN.md, core/server).
//
// One thread runs a libuv loop holding: a tick timer (every heartbeat interval), the peer
// Transport, an async handle through which other threads hand in work, and a check handle that
// handles Ready once per loop iteration, so everything that arrived in one poll (peer messages,
// proposals) is persisted with a single fsync (group commit). Each Ready is handled in order:
//   persist (DurableLog: entries, hard state, snapshot metadata; synced when Raft asks)
//   -> send its messages (only now: they may promise what was just persisted)
//   -> apply committed conf changes to Raft, hand committed entries to on_committed
//   -> answer read-index requests -> advance.
// on_committed runs on the raft thread and must only enqueue (the applier applies).
//
// The raft thread's other jobs live in parts of their own, each in a file named for it:
// MembershipView (committed conf changes, promotion check), ReadIndexRounds (batched
// ReadIndex), LeaderCalls (calls to the leader outside the log), SnapshotSender and
// SnapshotReceiver (state streaming), force_new_cluster (boot.h). Peer messages arrive in the
// transport's envelope (a Raft message or an application message).
//
// Thread-safety: propose(), propose_conf_change(), read_index() and the getters are safe from any
// thread; the callbacks run on the raft thread.

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/raft/raw_node.h"
#include "core/server/leader_call.h"
#include "core/server/membership_view.h"
#include "core/server/read_index.h"
#include "core/server/snapshot_stream.h"
#include "core/storage/raft_log.h"
#include "core/transport/transport.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

struct PeerAddr {
  std::string host;
  int port = 0;
  bool tls = false;  // an https peer URL
};

struct RaftNodeOptions {
  uint64_t id = 0;
  uint64_t cluster_id = 0;
  // The membership the state machine holds at `applied`: Raft's configuration is brought in line
  // with it on start (conf changes after the last log snapshot are in it, not in the snapshot),
  // and every other member in it is a peer.
  outpostpb::ClusterInfo membership;
  size_t max_learners = 1;
  // Disaster recovery: discard uncommitted entries and commit the removal of every other
  // member, leaving a one-voter cluster (etcd's --force-new-cluster).
  bool force_new_cluster = false;
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;
  // Peer TLS (transport::Options::tls / listen_tls): null: no certificates.
  std::shared_ptr<const transport::TlsContext> peer_tls;
  bool listen_tls = false;
  uint64_t applied = 0;  // state machine's consistent index
  uint64_t heartbeat_ms = 100;
  int election_ticks = 10;
  uint64_t snapshot_rate_limit = 64ull << 20;  // bytes/s for streaming state to a peer; 0: no limit
  uint64_t log_retain = 5000;                  // entries kept behind a compaction point
  uint64_t read_timeout_ms = 0;  // how long a linearizable read may wait (0: an election timeout)
  const Clock* clock = nullptr;  // nullptr: Clock::real(); must outlive the node
};

class RaftNode {
 public:
  using OnCommitted = std::function<void(std::vector<raftpb::Entry>)>;
  using OnLeader = std::function<void(uint64_t leader, uint64_t term)>;
  using OnDropped = std::function<void(const Status&)>;
  using OnRead = ReadIndexRounds::OnRead;
  // The leader refused a conf change this member proposed (id: the ConfChange's id).
  using OnRefused = std::function<void(uint64_t id, const Status&)>;
  // A whole state received from the leader, staged in the engine: install it (replacing the state
  // machine) and return; Raft then records the snapshot. Runs on the raft thread.
  using OnInstall = std::function<Status(std::unique_ptr<storage::Engine::Staging> staged,
                                         const raftpb::Snapshot& meta)>;

  // A call to the leader outside the log (call_leader): the leader's answer to payload, given
  // through the Reply now or later, from any thread.
  using OnCall = LeaderCalls::Answer;
  using CallDone = LeaderCalls::CallDone;
  // Leader: fills in what the state machine knows (revision, applied index) of the progress
  // sent to learners every heartbeat interval.
  using FillLeaderState = std::function<void(outpostpb::LeaderState*)>;
  // Learner: the leader's progress as it arrives.
  using OnLeaderState = std::function<void(const outpostpb::LeaderState&)>;

  // What the member hears from its raft thread; every one runs on that thread. Only committed
  // is required.
  struct Callbacks {
    OnCommitted committed;
    OnLeader leader;
    OnInstall install;
    OnRefused refused;
    OnCall call;
    FillLeaderState fill_leader_state;
    OnLeaderState leader_state;
  };

  // Loads the durable log from engine, binds the peer listener and starts the thread.
  static Result<std::unique_ptr<RaftNode>> start(RaftNodeOptions opts, storage::Engine* engine,
                                                 Callbacks callbacks);
  ~RaftNode();
  void stop();

  // Proposes data; if Raft refuses it (no leader, transfer in progress) on_dropped runs with
  // kNoLeader. Otherwise the entry shows up in on_committed on every member.
  void propose(std::string data, OnDropped on_dropped);
  // A conf change (context: outpostpb.ConfChangeContext). The leader refuses to promote a
  // learner that is not in sync (its match index under 90% of the leader's, etcd's rule): with
  // kLearnerNotReady through on_dropped here, or through on_refused when a follower proposed it.
  void propose_conf_change(const raftpb::ConfChange& cc, OnDropped on_dropped);
  // A call to the leader outside the log: payload goes to the leader's Callbacks::call and its
  // answer comes back to done (on the raft thread). kNoLeader when there is no leader (or the
  // member asked no longer leads), kTimeout when no answer came within an election timeout.
  void call_leader(std::string payload, CallDone done) {
    call_leader(outpostpb::LeaderCall::LEASE_RENEW, std::move(payload), {}, std::move(done));
  }
  // The same for a given service, waiting up to timeout (0: an election timeout) for the answer.
  void call_leader(LeaderCalls::Service service, std::string payload, Clock::duration timeout,
                   CallDone done);
  // Asks the leader to hand leadership to `to` (forwarded by Raft when we follow).
  void transfer_leadership(uint64_t to);
  // Asks for a linearizable read index; requests arriving together share one ReadIndex round.
  // Fails with kTimeout when no answer came within an election timeout (leader lost).
  void read_index(OnRead on_read);
  // The state machine is durable (flushed) up to `applied`: record a snapshot point there and
  // drop log entries older than log_retain behind it.
  void compact(uint64_t applied);

  uint64_t id() const { return id_; }
  uint64_t leader() const { return leader_.load(); }
  uint64_t term() const { return term_.load(); }
  // The term in which this node was leader as of the last Ready it handled, 0 if it was not: a
  // term it really led in (term() and leader() are stored one after the other, so reading both
  // can pair a new term with the old leader).
  uint64_t leading_term() const { return leading_term_.load(); }
  uint64_t commit_index() const { return commit_.load(); }
  uint64_t last_index() const { return last_.load(); }
  int peer_port() const { return port_; }
  // Raft thread only (from OnInstall): the state just installed holds this membership, as of
  // its applied index. Conf changes up to that index are in it already and are not checked
  // again; Raft's configuration is aligned with it once the snapshot is recorded.
  void reset_membership(const outpostpb::ClusterInfo& membership, uint64_t applied);
  // Peers this member's connection to has been up since (others are down); thread-safe.
  std::map<uint64_t, Clock::time_point> active_peers() const {
    std::lock_guard l(active_mu_);
    return active_;
  }
  // The leader's view of how far each member's log matches its own (empty when not leader).
  std::map<uint64_t, uint64_t> match_indexes() const {
    std::lock_guard l(active_mu_);
    return match_;
  }
  // What this member did on the peer network, for replica status (thread-safe).
  struct Counters {
    uint64_t read_index_rounds_sent = 0;        // ReadIndex rounds asked for, here or forwarded
    uint64_t read_index_requests_answered = 0;  // as leader: ReadIndex answers sent to others
    uint64_t peer_messages_sent = 0;            // frames sent on peer connections
  };
  Counters counters() const {
    return {reads_->rounds_started(), read_index_answered_.load(), messages_sent_.load()};
  }

 private:
  RaftNode() = default;
  void run();
  void on_wake();
  void on_inbox();
  void on_tick();
  void handle_ready();
  void send_messages(raft::Ready& rd, bool early);
  void on_peer_message(uint64_t from, transport::MessageKind kind, std::string payload);
  void on_raft_message(uint64_t from, std::string payload);
  // Leader: drops from a follower's forwarded proposal the promotions that are not ready, and
  // tells the follower.
  void refuse_unready_promotions(uint64_t from, raftpb::Message& m);
  void on_snapshot_stream(uint64_t stream, uint64_t from, transport::SnapshotEvent ev,
                          std::string payload);
  void send_snapshot(raftpb::Message m);
  void set_peer(const outpostpb::MemberInfo& m);
  void apply_peer_change(const MembershipView::PeerChange& change);
  void publish_peer_state();
  // Leader: sends each learner the leader's progress (outpostpb.LeaderState).
  void send_leader_state();
  bool leading() const;

  uint64_t id_ = 0;
  RaftNodeOptions opts_;
  const Clock* clock_ = nullptr;
  storage::Engine* engine_ = nullptr;
  std::unique_ptr<storage::DurableLog> log_;
  std::unique_ptr<raft::RawNode> node_;
  Callbacks cb_;
  std::unique_ptr<MembershipView> view_;    // raft thread
  std::unique_ptr<ReadIndexRounds> reads_;  // raft thread
  std::unique_ptr<LeaderCalls> calls_;      // raft thread
  std::unique_ptr<SnapshotSender> snapshots_out_;
  std::unique_ptr<SnapshotReceiver> snapshots_in_;  // raft thread
  std::map<uint64_t, PeerAddr> peers_;              // raft thread: where each other member listens
  mutable std::mutex active_mu_;
  std::map<uint64_t, Clock::time_point> active_;
  std::map<uint64_t, uint64_t> match_;

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  uv_timer_t reads_timer_{};  // starts a waiting ReadIndex round once its gap ends
  void arm_reads_timer();
  uv_async_t wake_{};
  uv_check_t check_{};
  std::unique_ptr<transport::Transport> transport_;
  int port_ = 0;
  std::thread thread_;

  std::atomic<uint64_t> leader_{0}, term_{0}, commit_{0}, last_{0}, leading_term_{0};
  std::atomic<uint64_t> read_index_answered_{0}, messages_sent_{0};

  struct Inbox {
    std::vector<std::pair<std::string, OnDropped>> proposals;
    std::vector<std::pair<raftpb::ConfChange, OnDropped>> conf_changes;
    std::vector<OnRead> reads;
    struct Call {
      LeaderCalls::Service service;
      std::string payload;
      Clock::duration timeout;
      CallDone done;
    };
    std::vector<Call> calls;
    std::vector<std::function<void()>> tasks;  // run on the raft thread (answers to calls)
    std::vector<std::pair<uint64_t, bool>> snapshot_reports;  // peer, sent ok
    uint64_t transfer_to = 0;
    uint64_t compact_to = 0;
    bool stop = false;
  };
  // Puts fn's change into the inbox and wakes the loop; false (nothing queued) once stopped.
  template <class Fn>
  bool post(Fn fn);
  std::mutex mu_;
  Inbox inbox_;
  bool stopped_ = false;
  bool stopping_loop_ = false;  // raft thread only: handles are closing
};

}  // namespace outpost::server
