#pragma once
// Member: one Outpost server process's state and write pipeline.
//
// Writes go through Raft (DESIGN.md, core/server): a client call becomes an outpostpb.Request,
// is proposed to the RaftNode (forwarded to the leader by Raft when this member follows), made
// durable in the raft_log column family, committed by a quorum, and applied in log order by the
// applier thread on every member. The member that proposed it finds its waiter by request id,
// fills the call's response and completes it. The consistent index stored with every applied
// entry says how far the state machine got; on start Raft hands back every committed entry after
// it, so each is applied exactly once.
//
// Reads: serializable reads run against the local store; linearizable ones first get a read
// index from the leader (one ReadIndex round for reads arriving together) and run once the
// applier has reached it (read_barrier()).
//
// Member composes the parts, each in a file named for its job: Waiters (calls waiting for their
// entry), Applier (committed entries -> state machine), ReadBarrier (linearizable reads waiting
// for their read index), LeaseRenewals (keep-alives forwarded to the leader), ClusterOps (the
// Cluster service), Housekeeping (periodic tasks), RaftNode (the raft loop). Time comes from
// MemberOptions::clock.
//
// Threads: "raft" (RaftNode's loop), "apply" (Applier), "housekeeping" (request timeouts,
// retried renewals, publishing, lease expiry on the leader).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/auth/store.h"
#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/lease/lessor.h"
#include "core/mvcc/store.h"
#include "core/mvcc/watch_hub.h"
#include "core/server/alarms.h"
#include "core/server/applier.h"
#include "core/server/auto_compactor.h"
#include "core/server/cluster_ops.h"
#include "core/server/cluster_record.h"
#include "core/server/forwarded_calls.h"
#include "core/server/housekeeping.h"
#include "core/server/lease_renewals.h"
#include "core/server/quota.h"
#include "core/server/raft_node.h"
#include "core/server/read_barrier.h"
#include "core/server/replica_lag.h"
#include "core/server/waiters.h"
#include "core/storage/engine.h"
#include "outpostpb/internal.pb.h"

namespace google::protobuf {
class Message;
}

namespace outpost::server {

struct MemberOptions {
  std::string name = "default";
  std::string data_dir;
  bool unsafe_no_fsync = false;  // --unsafe-no-fsync
  // --auto-compaction-mode/-retention (auto_compactor.h): a period (periodic mode) or a revision
  // count (revision mode); both zero: no automatic compaction.
  Clock::duration auto_compaction_period{0};
  int64_t auto_compaction_revisions = 0;
  std::chrono::nanoseconds warning_apply_duration = std::chrono::milliseconds(100);
  std::string cluster_token = "etcd-cluster";
  std::vector<std::pair<std::string, std::vector<std::string>>> initial_cluster;
  std::vector<std::string> advertise_client_urls;
  std::string listen_peer_host = "127.0.0.1";  // where peers connect to us
  int listen_peer_port = 2380;
  // Peer TLS (etcd's --peer-* security flags): the certificates, and whether the peer listener
  // speaks TLS (an https listen peer URL). Peers with https peer URLs are dialled with TLS;
  // nullopt: no certificates (an https peer is then verified against the system roots).
  std::optional<transport::TlsOptions> peer_tls;
  bool peer_listen_tls = false;
  uint64_t max_request_bytes = 1572864;
  // --quota-backend-bytes (quota.h): 0 = etcd's default (2 GiB), negative = no quota.
  int64_t quota_backend_bytes = 0;
  uint64_t snapshot_count = 100000;
  uint64_t heartbeat_ms = 100;
  uint64_t election_timeout_ms = 1000;         // also the base of the smallest lease TTL
  uint64_t snapshot_rate_limit = 64ull << 20;  // bytes/s when streaming state to a member
  // Membership (etcd's flags).
  bool join_existing = false;  // --initial-cluster-state existing: ask the peers, do not bootstrap
  std::vector<std::string> advertise_peer_urls;  // how this member is known (joining: its record)
  size_t max_learners = 1;
  bool strict_reconfig_check = true;
  bool force_new_cluster = false;
  // How this member may be promoted while a learner ([replica] promote), published with its
  // name so the leader knows: never (refused), standby (promoted on failover), ...
  outpostpb::MemberInfo::Promote promote = outpostpb::MemberInfo::PROMOTE_MANUAL;
  uint32_t failover_after_s = 10;  // a standby's [replica] failover_after_s, published likewise
  // How long a simple token lives after its last use (--auth-token-ttl).
  Clock::duration auth_token_ttl = std::chrono::minutes(5);
  // Runs (on the applier thread) once this member has applied its own removal.
  std::function<void()> on_removed;
  // Where every timer of the member reads the time; must outlive it. Default: Clock::real().
  const Clock* clock = nullptr;
};

class Member {
 public:
  using Done = std::function<void(const Status&)>;

  // Opens the data dir and the Raft log, starts the raft, apply and housekeeping threads.
  static Result<std::unique_ptr<Member>> open(const MemberOptions& opts);
  ~Member();
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Stops the threads; everything still waiting is answered with kStopped.
  void stop();

  // Proposes req (its id is assigned here). When the entry is applied, *resp (the response type
  // matching req's op) is filled and done runs on the applier thread. Requests larger than
  // max_request_bytes fail at once with kRequestTooLarge; a request not applied within the
  // request timeout fails with kTimeout.
  void propose(outpostpb::Request req, google::protobuf::Message* resp, Done done);

  // A keep-alive reaching a member that is not the leader (LeaseRenewals).
  void renew_lease(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done) {
    renewals_->renew(id, resp, std::move(done));
  }

  // Runs done once a linearizable read may run: the leader confirmed a read index and this
  // member applied up to it. done may run on any thread.
  void read_barrier(Done done);

  // Membership changes (etcd's Cluster service, ClusterOps). done runs once the change is
  // applied here, with etcd's error when refused.
  using AddDone = ClusterOps::AddDone;
  void add_member(std::vector<std::string> peer_urls, bool learner, AddDone done) {
    cluster_ops_->add_member(std::move(peer_urls), learner, std::move(done));
  }
  // Removing the leader hands leadership to another voter first.
  void remove_member(uint64_t id, Done done) { cluster_ops_->remove_member(id, std::move(done)); }
  void update_member(uint64_t id, std::vector<std::string> peer_urls, Done done) {
    cluster_ops_->update_member(id, std::move(peer_urls), std::move(done));
  }
  void promote_member(uint64_t id, Done done) { cluster_ops_->promote_member(id, std::move(done)); }
  bool is_learner() const { return cluster_.is_learner(); }
  bool is_leader() const { return leader_id() != 0 && leader_id() == member_id(); }

  // Replicas (replica/): a client call forwarded to the leader and answered as the leader
  // answers it (ForwardedCalls). The leader runs forwarded calls through the handler the API
  // registers (before clients are served); reply may run later, on any thread.
  using ForwardReply = std::function<void(outpostpb::ForwardedAnswer)>;
  using ForwardHandler = std::function<void(outpostpb::ForwardedCall, ForwardReply)>;
  void set_forward_handler(ForwardHandler h) {
    std::lock_guard l(forward_mu_);
    forward_handler_ = std::move(h);
  }
  void forward(outpostpb::ForwardedCall call, ForwardedCalls::Done done) {
    forwarded_->forward(std::move(call), std::move(done));
  }
  // How far this member is behind the leader (learners hear the leader's progress).
  ReplicaLag::Figures replica_lag() const { return lag_->figures(raft_->commit_index()); }
  struct Counters {
    RaftNode::Counters raft;
    uint64_t forwarded_calls_sent = 0;      // attempts to forward a client call to the leader
    uint64_t forwarded_calls_answered = 0;  // as leader: forwarded calls answered
  };
  Counters counters() const {
    return {raft_->counters(), forwarded_->sent(), forwarded_answered_.load()};
  }
  // Peers whose connection is up, and since when; the leader's match index per member.
  std::map<uint64_t, Clock::time_point> active_peers() const { return raft_->active_peers(); }
  std::map<uint64_t, uint64_t> match_indexes() const { return raft_->match_indexes(); }
  const Clock& clock() const { return clock_; }
  // Runs task every housekeeping round (100 ms) from now on, on the housekeeping thread.
  void add_periodic(std::function<void()> task) {
    std::lock_guard l(periodic_mu_);
    periodic_.push_back(std::move(task));
  }

  // True once this member's name and client URLs are in the cluster record (etcd's publish);
  // etcd serves clients only from then on.
  bool published() const { return published_.load(); }

  mvcc::Store& store() { return *store_; }
  lease::Lessor& lessor() { return *lessor_; }
  auth::AuthStore& auth() { return *auth_; }
  // Runs done once this member has applied up to index (at once when it has).
  void wait_applied(uint64_t index, Done done) { barrier_->wait(index, std::move(done)); }
  mvcc::WatchHub& watch_hub() { return *watch_hub_; }
  bool lease_exists(int64_t id) const { return lessor_->exists(id); }
  // A fresh positive lease id, unique across members (member id bits + time + counter).
  int64_t next_lease_id();

  uint64_t cluster_id() const { return cluster_.cluster_id(); }
  uint64_t member_id() const { return cluster_.local_id(); }
  uint64_t leader_id() const { return raft_->leader(); }
  uint64_t term() const { return raft_->term(); }
  outpostpb::ClusterInfo cluster() const { return cluster_.get(); }
  uint64_t last_index() const { return raft_->last_index(); }
  uint64_t commit_index() const { return raft_->commit_index(); }
  uint64_t applied_index() const { return applier_->applied_index(); }
  int64_t db_size() const { return engine_->approximate_size(); }
  const std::string& data_dir() const { return opts_.data_dir; }

  // Operations (member_ops.cc). Alarms (alarms.h) and the space quota (quota.h).
  const AlarmStore& alarms() const { return alarms_; }
  const Quota& quota() const { return quota_; }
  // Whether req fits the quota now; when it does not, raises NOSPACE through the log (once at a
  // time) and answers false: the caller refuses it with kNoSpace.
  bool check_quota(const outpostpb::Request& req);
  // Proposes Alarm ACTIVATE (member = this member, type) and forgets it.
  void raise_alarm(etcdserverpb::AlarmType type);
  // Status.dbSizeInUse (Engine::live_data_size).
  int64_t db_size_in_use() const { return engine_->live_data_size(); }
  // Maintenance.Defragment (Engine::defragment); blocks until done.
  Status defragment();
  // Maintenance.Hash: CRC-32C of the kv records (Engine::hash_kv).
  Status hash_kv(uint32_t* out) const { return engine_->hash_kv(out); }
  // Maintenance.MoveLeader on the leader: hands leadership to `to` (a voter: else
  // kBadLeaderTransferee) and runs done once `to` leads, or with kTimeoutLeaderTransfer after the
  // request timeout. done runs on the housekeeping thread.
  void move_leader(uint64_t to, Done done);

 private:
  explicit Member(MemberOptions opts)
      : opts_(std::move(opts)), clock_(opts_.clock ? *opts_.clock : Clock::real()) {}
  // etcd's request timeout: 5 s plus two election timeouts.
  Clock::duration request_timeout() const;
  Status init();
  // The cluster record from disk, or (first start) from the flags or the peers.
  Status load_cluster();
  Status start_raft();
  // After each applied batch (apply thread): compaction, reads waiting for it.
  void on_applied(uint64_t applied);
  void on_leader(uint64_t leader);
  // Replaces the state machine by one received from the leader (raft thread; applies wait).
  Status install_snapshot(std::unique_ptr<storage::Engine::Staging> staged);
  // etcd's answer for a request that timed out: it blames a leader change when the request
  // started within two election timeouts before the current leader was elected.
  Status timeout_status(Clock::time_point start) const;
  // Housekeeping tasks: propose this member's name and client URLs until one proposal is
  // applied; on the leader, propose the revocation of expired leases.
  void maybe_publish();
  void revoke_expired_leases();
  // Housekeeping: answers the move_leader calls whose transfer finished or timed out.
  void check_leader_transfers();
  // Housekeeping, on the leader: the Compaction the auto compactor asks for.
  void maybe_auto_compact();
  // The leader's side of a call another member made to it (LeaderCalls).
  void answer_call(outpostpb::LeaderCall::Service service, std::string payload,
                   LeaderCalls::Reply reply);

  MemberOptions opts_;
  std::shared_ptr<const transport::TlsContext> peer_tls_;  // from opts_.peer_tls; may be null
  const Clock& clock_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
  std::unique_ptr<auth::AuthStore> auth_;
  AlarmStore alarms_;
  Quota quota_{opts_.quota_backend_bytes};
  std::atomic<bool> raising_alarm_{false};
  struct Transfer {
    uint64_t to;
    Clock::time_point deadline;
    Done done;
  };
  std::mutex transfers_mu_;
  std::vector<Transfer> transfers_;
  std::unique_ptr<mvcc::WatchHub> watch_hub_;
  ClusterRecord cluster_;
  std::unique_ptr<Waiters> waiters_;
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<ReadBarrier> barrier_;
  std::unique_ptr<RaftNode> raft_;
  std::unique_ptr<LeaseRenewals> renewals_;
  std::unique_ptr<ClusterOps> cluster_ops_;
  std::unique_ptr<ForwardedCalls> forwarded_;
  std::unique_ptr<ReplicaLag> lag_;
  std::mutex forward_mu_;
  ForwardHandler forward_handler_;
  std::atomic<uint64_t> forwarded_answered_{0};
  std::mutex periodic_mu_;
  std::vector<std::function<void()>> periodic_;
  Housekeeping housekeeping_{std::chrono::milliseconds(100)};
  std::unique_ptr<AutoCompactor> compactor_;  // null: no automatic compaction

  std::atomic<bool> stopped_{false}, published_{false}, publishing_{false};
  std::atomic<uint64_t> lease_seq_{0};
  std::atomic<uint64_t> snapshot_index_{0};  // last compaction point (apply thread)
  uint64_t flush_retry_at_ = 0;  // after a failed flush: the index to try again at (apply thread)
  std::atomic<Clock::duration::rep> lead_elected_{0};  // when the current leader was seen first
  uint64_t last_leader_ = 0;                           // raft thread
  std::mutex revoking_mu_;
  std::set<int64_t> revoking_;  // expired leases whose revocation is in flight
};

}  // namespace outpost::server
