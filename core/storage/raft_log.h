#pragma once
// DurableLog: a member's Raft log. Raft reads it through raft::Storage (an in-memory copy of
// everything since the last snapshot, as etcd keeps its MemoryStorage); every change is first
// written to the raft_log / raft_meta column families, so a restarted member comes back with
// the same log, hard state and snapshot metadata.
//
// raft_meta keys: "hardstate" (raftpb.HardState), "snapshot" (raftpb.Snapshot without data:
// the state machine itself lives in the kv/meta column families).
// Use from one thread (the raft loop).

#include <memory>
#include <optional>
#include <vector>

#include "core/common/status.h"
#include "core/raft/storage.h"
#include "core/storage/engine.h"

namespace outpost::storage {

class DurableLog {
 public:
  // Loads the log from the engine. A member that has never run gets a snapshot at index 0
  // holding `initial` as its membership (the cluster's founding voters).
  static Result<std::unique_ptr<DurableLog>> open(Engine* engine, const raftpb::ConfState& initial);

  raft::Storage& storage() { return mem_; }
  raft::MemoryStorage& memory() { return mem_; }
  // True when open() found nothing on disk.
  bool fresh() const { return fresh_; }

  // Persists one Ready's state (snapshot metadata, entries, hard state) with one fsync when
  // `sync`, then makes it visible to Raft.
  Status save(const std::optional<raftpb::HardState>& hs, const std::vector<raftpb::Entry>& ents,
              const std::optional<raftpb::Snapshot>& snap, bool sync = true);

  // Records that the state machine holds everything up to index (with membership cs) and drops
  // log entries before index - retain. The caller must have made the state machine durable up
  // to index first (Engine::flush()): the dropped entries were the other copy.
  Status compact(uint64_t index, const raftpb::ConfState& cs, uint64_t retain);

 private:
  explicit DurableLog(Engine* e) : engine_(e) {}
  Engine* engine_;
  raft::MemoryStorage mem_;
  bool fresh_ = false;
};

}  // namespace outpost::storage
