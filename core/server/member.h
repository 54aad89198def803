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
// Threads: "raft" (RaftNode's loop), "apply" (applies committed entries, completes waiters and
// read barriers), "housekeeping" (lease expiry on the leader, request timeouts).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/lease/lessor.h"
#include "core/mvcc/store.h"
#include "core/mvcc/watch_hub.h"
#include "core/server/raft_node.h"
#include "core/storage/engine.h"
#include "outpostpb/internal.pb.h"

namespace google::protobuf {
class Message;
}

namespace outpost::server {

struct MemberOptions {
  std::string name = "default";
  std::string data_dir;
  std::string cluster_token = "etcd-cluster";
  std::vector<std::pair<std::string, std::vector<std::string>>> initial_cluster;
  std::vector<std::string> advertise_client_urls;
  std::string listen_peer_host = "127.0.0.1";  // where peers connect to us
  int listen_peer_port = 2380;
  uint64_t max_request_bytes = 1572864;
  uint64_t snapshot_count = 100000;
  uint64_t heartbeat_ms = 100;
  uint64_t election_timeout_ms = 1000;  // also the base of the smallest lease TTL
  uint64_t snapshot_rate_limit = 64ull << 20;  // bytes/s when streaming state to a member
  // Membership (etcd's flags).
  bool join_existing = false;  // --initial-cluster-state existing: ask the peers, do not bootstrap
  std::vector<std::string> advertise_peer_urls;  // how this member is known (joining: its record)
  size_t max_learners = 1;
  bool strict_reconfig_check = true;
  bool force_new_cluster = false;
  // Runs (on the applier thread) once this member has applied its own removal.
  std::function<void()> on_removed;
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

  // A keep-alive reaching a member that is not the leader: the renewal is forwarded to the
  // leader over the peer connection (RaftNode::call_leader), not through the log. While there is
  // no leader (or the one we knew is gone) it is sent again until a leader answers or the
  // request timeout passes, as etcd keeps retrying its forwarded renewals.
  void renew_lease(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done);

  // Runs done once a linearizable read may run: the leader confirmed a read index and this
  // member applied up to it. done may run on any thread.
  void read_barrier(Done done);

  // Membership changes (etcd's Cluster service), each through a committed conf change. done runs
  // once it is applied here, with etcd's error when refused (checks of etcd's
  // --strict-reconfig-check first, then the ones every member makes when applying).
  using AddDone = std::function<void(const Status&, uint64_t id)>;
  void add_member(std::vector<std::string> peer_urls, bool learner, AddDone done);
  // Removing the leader hands leadership to another voter first.
  void remove_member(uint64_t id, Done done);
  void update_member(uint64_t id, std::vector<std::string> peer_urls, Done done);
  void promote_member(uint64_t id, Done done);
  bool is_learner() const { return learner_.load(std::memory_order_relaxed); }

  // True once this member's name and client URLs are in the cluster record (etcd's publish);
  // etcd serves clients only from then on.
  bool published() const { return published_.load(); }

  mvcc::Store& store() { return *store_; }
  lease::Lessor& lessor() { return *lessor_; }
  mvcc::WatchHub& watch_hub() { return *watch_hub_; }
  bool lease_exists(int64_t id) const { return lessor_->exists(id); }
  // A fresh positive lease id, unique across members (member id bits + time + counter).
  int64_t next_lease_id();

  uint64_t cluster_id() const { return cluster_.cluster_id(); }
  uint64_t member_id() const { return cluster_.local_id(); }
  uint64_t leader_id() const { return raft_->leader(); }
  uint64_t term() const { return raft_->term(); }
  outpostpb::ClusterInfo cluster() const {
    std::lock_guard l(cluster_mu_);
    return cluster_;
  }
  uint64_t last_index() const { return raft_->last_index(); }
  uint64_t applied_index() const { return applied_index_.load(); }
  int64_t db_size() const { return engine_->approximate_size(); }

 private:
  struct Waiter {
    google::protobuf::Message* resp;
    Done done;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point start;
  };
  // Registers the waiter of request id (done is moved from); false when stopping.
  bool add_waiter(uint64_t id, google::protobuf::Message* resp, Done& done);
  // The waiter of request id, removed; an empty one (no done) if there is none.
  Waiter take_waiter(uint64_t id);
  struct Renewal {
    int64_t id;
    etcdserverpb::LeaseKeepAliveResponse* resp;
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  void renew_attempt(Renewal r);
  // etcd's answer for a request that timed out: it blames a leader change when the request
  // started within two election timeouts before the current leader was elected.
  Status timeout_status(std::chrono::steady_clock::time_point start) const;

  static constexpr std::string_view kMetaCluster = "cluster";  // meta key of the cluster record

  explicit Member(MemberOptions opts) : opts_(std::move(opts)) {}
  // etcd's request timeout: 5 s plus two election timeouts.
  std::chrono::milliseconds request_timeout() const;
  Status init();
  void apply_loop();
  // Applies one committed entry in its own write transaction; completes its waiter if any.
  void apply(const raftpb::Entry& e);
  void apply_request(uint64_t index, const outpostpb::Request& req, Waiter* w);
  void apply_conf_change_entry(const raftpb::Entry& e);
  Status join_cluster();
  void propose_conf_change(raftpb::ConfChange cc, Done done);
  // --strict-reconfig-check: every voter's connection has been up for 5 s (etcd's HealthInterval).
  bool connected_to_all_voters(const outpostpb::ClusterInfo& c) const;
  size_t voters_connected(const outpostpb::ClusterInfo& c) const;
  void housekeeping_loop();
  void fail_waiter(uint64_t id, const Status& s);
  void on_leader(uint64_t leader, uint64_t term);
  // Replaces the state machine by one received from the leader (raft thread; applies wait).
  Status install_snapshot(std::unique_ptr<storage::Engine::Staging> staged);
  // Proposes this member's name and client URLs until one proposal is applied.
  void maybe_publish();

  MemberOptions opts_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
  std::unique_ptr<mvcc::WatchHub> watch_hub_;
  std::unique_ptr<RaftNode> raft_;
  mutable std::mutex cluster_mu_;  // cluster_ changes on apply, is read by the API
  outpostpb::ClusterInfo cluster_;
  std::atomic<bool> published_{false}, publishing_{false};
  std::atomic<uint64_t> next_id_{0};
  std::atomic<uint64_t> lease_seq_{0};
  std::atomic<uint64_t> applied_index_{0};

  std::mutex apply_mu_;  // held while a batch is applied, and while a snapshot is installed
  std::atomic<uint64_t> snapshot_index_{0};  // last compaction point

  std::mutex mu_;  // guards everything below
  std::condition_variable apply_cv_, housekeeping_cv_;
  bool stopping_ = false;
  std::deque<raftpb::Entry> committed_;
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<uint64_t, Done> read_waiters_;  // applied index needed -> barrier
  std::set<int64_t> revoking_;  // expired leases whose revocation is in flight
  struct PendingRemoval {  // removal of the leader, waiting for leadership to move
    uint64_t id;
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<PendingRemoval> pending_removals_;
  std::vector<Renewal> renewals_;  // waiting to be proposed again (housekeeping)
  std::chrono::steady_clock::time_point lead_elected_;  // when the current leader was seen first
  uint64_t last_leader_ = 0;
  std::atomic<bool> removed_{false};
  // Whether cluster_ lists this member as a learner; read on every client call (not_on_learner).
  std::atomic<bool> learner_{false};
  // After any change to cluster_ (cluster_mu_ held, or before the threads start).
  void cluster_changed();

  std::thread apply_thread_, housekeeping_thread_;
};

}  // namespace outpost::server
