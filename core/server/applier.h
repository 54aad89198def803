#pragma once
// Applier: committed Raft entries -> the state machine (mvcc store, lessor, cluster record), in
// log order, each in one write together with the consistent index (DESIGN.md, core/server).
//
// Every member applies every entry; the member that proposed one finds its waiter (Waiters)
// by the request id in it and answers the call with the response the apply filled. An entry
// at or below the consistent index is in the state already and is skipped, so a restart that
// replays the Raft log applies each entry exactly once.
//
// Requests from clients are checked against the auth store again here, with the identity the
// proposal carries (core/auth/request_check.h): a refused one changes nothing but the consistent
// index, and its waiter gets etcd's error.
//
// Conf changes are checked with etcd's rules against the recorded membership and applied to it
// (the raft thread's MembershipView makes the same check on the same sequence, so both agree).
//
// Threads: start() runs the "apply" thread, fed by enqueue() (from the raft thread); after each
// batch, on_applied(applied index) runs on it. apply() and install() take the apply lock, so a
// received state is never installed in the middle of a batch. Tests call apply() directly,
// without a thread, a RaftNode or sockets.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/auth/store.h"
#include "core/common/status.h"
#include "core/lease/lessor.h"
#include "core/mvcc/store.h"
#include "core/server/alarms.h"
#include "core/server/cluster_record.h"
#include "core/server/quota.h"
#include "core/server/waiters.h"
#include "core/storage/engine.h"
#include "raftpb/raft.pb.h"

namespace outpost::server {

class Applier {
 public:
  struct Options {
    size_t max_learners = 1;  // etcd checks the limit when applying, too
    // Runs on the apply thread after each batch, with the applied index.
    std::function<void(uint64_t applied)> on_applied;
    // Runs once, on the apply thread, when this member applied its own removal.
    std::function<void()> on_removed;
    // An entry whose apply takes longer is logged as etcd logs it: "apply request took too long"
    // (--warning-apply-duration).
    std::chrono::nanoseconds warning_apply_duration = std::chrono::milliseconds(100);
    // Alarms (alarms.h): applied from Alarm entries; with NOSPACE active, growing requests are
    // refused. Null: Alarm entries change nothing.
    AlarmStore* alarms = nullptr;
    // The space quota checked again at apply time (quota.h), against db_size(); a request that
    // passed it is applied but answered NOSPACE, and on_nospace runs (apply thread; it must
    // only propose the alarm, never wait for it) unless NOSPACE is active already.
    Quota quota{-1};
    std::function<int64_t()> db_size;
    std::function<void()> on_nospace;
  };

  Applier(storage::Engine& engine, mvcc::Store& store, lease::Lessor& lessor, auth::AuthStore& auth,
          ClusterRecord& cluster, Waiters& waiters, Options opts);
  ~Applier();
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  void start();
  // Stops the thread; entries still queued are not applied (the Raft log has them).
  void stop();
  // Hands committed entries to the apply thread (called on the raft thread; never blocks on
  // an apply).
  void enqueue(std::vector<raftpb::Entry> entries);

  // Applies entries in order, now, on the calling thread.
  void apply(const std::vector<raftpb::Entry>& entries);
  uint64_t applied_index() const { return applied_.load(); }

  // Replaces the whole state machine by a state received from the leader and returns the
  // membership it holds (local id set to this member). Waits for the batch being applied.
  Result<outpostpb::ClusterInfo> install(std::unique_ptr<storage::Engine::Staging> staged);

 private:
  void loop();
  void apply_one(const raftpb::Entry& e);
  static void warn_slow_apply(const outpostpb::Request& req, std::chrono::nanoseconds took,
                              std::chrono::nanoseconds expected);
  void apply_request(uint64_t index, const outpostpb::Request& req, Waiters::Waiter& w);
  void apply_conf_change(const raftpb::Entry& e);
  // The auth store's part of apply_request (auth management and Authenticate).
  Status apply_auth(uint64_t index, mvcc::WriteTxn& txn, const outpostpb::Request& req,
                    google::protobuf::Message* waiting);
  // Commits txn (the state is ahead of the disk if that fails: panics, a restart replays).
  void commit(mvcc::WriteTxn& txn, uint64_t index);

  storage::Engine& engine_;
  mvcc::Store& store_;
  lease::Lessor& lessor_;
  auth::AuthStore& auth_;
  ClusterRecord& cluster_;
  Waiters& waiters_;
  const Options opts_;

  std::atomic<uint64_t> applied_{0};
  std::atomic<bool> removed_{false};
  std::mutex apply_mu_;  // held while entries are applied, and while a state is installed

  std::mutex mu_;  // guards the queue
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<raftpb::Entry> queue_;
  std::thread thread_;
};

}  // namespace outpost::server
