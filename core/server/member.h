#pragma once
// Member: one Outpost server process's state and write pipeline.
//
// Writes follow the path Raft will take (DESIGN.md, core/server): a client call becomes an
// outpostpb.Request, is proposed, made durable in the raft_log column family (one fsync per
// batch of proposals: group commit), then applied in log order by the applier thread, which
// fills the waiting call's response and completes it. The consistent index stored with every
// applied batch says how far the state machine got, so on start the member replays the durable
// log after it and every entry is applied exactly once.
//
// Until the cluster issue replaces it, the "log thread" below is the single-member stand-in
// for core/raft: it orders proposals and persists them. The seam is propose() on one side and
// apply(index, data) on the other; waiters are matched to applied entries by request id.
//
// Threads: "log" (persists proposals), "apply" (applies entries, completes waiters), "lease"
// (proposes revocation of expired leases; the single member is always the primary). Reads do
// not go through either: they run on the caller's thread against the mvcc::Store.

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
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/lease/lessor.h"
#include "core/mvcc/store.h"
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
  uint64_t max_request_bytes = 1572864;
  uint64_t snapshot_count = 100000;
  uint64_t election_timeout_ms = 1000;  // the smallest lease TTL derives from it
};

class Member {
 public:
  using Done = std::function<void(const Status&)>;

  // Opens the data dir, replays the log past the consistent index, starts the threads.
  static Result<std::unique_ptr<Member>> open(const MemberOptions& opts);
  ~Member();
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Stops accepting proposals, fails the pending ones with kStopped, joins the threads.
  void stop();

  // Proposes req (its id is assigned here). When the entry is applied, *resp (the response type
  // matching req's op) is filled and done runs on the applier thread. Requests larger than
  // max_request_bytes fail at once with kRequestTooLarge.
  void propose(outpostpb::Request req, google::protobuf::Message* resp, Done done);

  mvcc::Store& store() { return *store_; }
  lease::Lessor& lessor() { return *lessor_; }
  bool lease_exists(int64_t id) const { return lessor_->exists(id); }
  // A fresh positive lease id, unique across members (member id bits + time + counter).
  int64_t next_lease_id();

  uint64_t cluster_id() const { return cluster_.cluster_id(); }
  uint64_t member_id() const { return cluster_.local_id(); }
  uint64_t leader_id() const { return cluster_.local_id(); }
  uint64_t term() const { return term_; }
  outpostpb::ClusterInfo cluster() const { return cluster_; }
  uint64_t last_index() const { return last_index_.load(); }
  uint64_t applied_index() const { return applied_index_.load(); }
  int64_t db_size() const { return engine_->approximate_size(); }

 private:
  struct Waiter {
    google::protobuf::Message* resp;
    Done done;
  };
  struct Pending {
    outpostpb::Request req;
    std::string data;
  };

  explicit Member(MemberOptions opts) : opts_(std::move(opts)) {}
  Status init();
  void log_loop();
  void apply_loop();
  // Applies one entry in its own write transaction; completes its waiter if it has one.
  void apply(uint64_t index, const std::string& data);
  void maybe_compact_log(uint64_t applied);
  // The primary's lease clock: proposes the revocation of expired leases.
  void lease_loop();

  MemberOptions opts_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
  std::atomic<uint64_t> lease_seq_{0};
  outpostpb::ClusterInfo cluster_;
  uint64_t term_ = 0;
  std::atomic<uint64_t> next_id_{0};
  std::atomic<uint64_t> last_index_{0};
  std::atomic<uint64_t> applied_index_{0};
  uint64_t log_compacted_to_ = 0;

  std::mutex mu_;  // guards everything below
  std::condition_variable log_cv_, apply_cv_;
  bool stopping_ = false;
  std::deque<Pending> proposals_;
  std::deque<storage::LogRecord> committed_;
  std::map<uint64_t, Waiter> waiters_;
  std::set<int64_t> revoking_;  // expired leases whose revocation is in flight
  std::condition_variable lease_cv_;

  std::thread log_thread_, apply_thread_, lease_thread_;
};

}  // namespace outpost::server
