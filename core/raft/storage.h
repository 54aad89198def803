#pragma once
// The seam between the Raft state machine and durable storage.
//
// Raft reads everything it has already handed out for persistence (entries, hard state, the last
// snapshot) back through `Storage`. The application is the only writer: after it persisted a
// Ready it appends the entries / sets the hard state / installs the snapshot in its Storage, then
// calls advance(). core/storage provides the RocksDB implementation; MemoryStorage below is the
// in-memory one used by tests, the simulation and the benchmark.

#include <cstdint>
#include <vector>

#include "core/raft/error.h"
#include "raftpb/raft.pb.h"

namespace outpost::raft {

constexpr std::uint64_t no_limit = UINT64_MAX;

class Storage {
 public:
  virtual ~Storage() = default;
  // The persisted hard state and the membership as of the last snapshot.
  virtual Error initial_state(raftpb::HardState* hs, raftpb::ConfState* cs) const = 0;
  // Entries [lo, hi), truncated after the first entry so that the total byte size stays under
  // max_size (at least one entry is returned if any exists). compacted if lo is below
  // first_index(); unavailable if hi is above last_index()+1.
  virtual Error entries(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
                        std::vector<raftpb::Entry>* out) const = 0;
  // Term of entry i; valid for first_index()-1 ..= last_index() (the entry just before the first
  // one is the last entry covered by the snapshot, whose term is remembered).
  virtual Error term(std::uint64_t i, std::uint64_t* out) const = 0;
  virtual std::uint64_t last_index() const = 0;
  // Index of the first entry still available (snapshot index + 1).
  virtual std::uint64_t first_index() const = 0;
  // The most recent snapshot; snapshot_temporarily_unavailable if one is being made.
  virtual Error snapshot(raftpb::Snapshot* out) const = 0;
};

// Byte size of an entry as the size limits count it.
inline std::uint64_t entry_size(const raftpb::Entry& e) { return e.ByteSizeLong(); }

// Cuts `ents` after the prefix whose total size stays within max_size (always keeps one entry).
void limit_size(std::vector<raftpb::Entry>* ents, std::uint64_t max_size);

// MemoryStorage keeps the log in a vector. Invariant: ents_[0] is a dummy entry whose index and
// term are those of the last snapshot (0/0 initially), so ents_[i - ents_[0].index()] is entry i.
// Not thread-safe: one owner (the raft loop) writes and reads it.
class MemoryStorage final : public Storage {
 public:
  MemoryStorage();
  // Starts a fresh member with the given membership (what a snapshot at index 0 would hold).
  explicit MemoryStorage(const raftpb::ConfState& initial);

  Error initial_state(raftpb::HardState* hs, raftpb::ConfState* cs) const override;
  Error entries(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
                std::vector<raftpb::Entry>* out) const override;
  Error term(std::uint64_t i, std::uint64_t* out) const override;
  std::uint64_t last_index() const override;
  std::uint64_t first_index() const override;
  Error snapshot(raftpb::Snapshot* out) const override;

  void set_hard_state(const raftpb::HardState& hs) { hard_state_ = hs; }
  const raftpb::HardState& hard_state() const { return hard_state_; }
  // Replaces the whole log by the snapshot. kSnapOutOfDate if it is not newer than ours.
  Error apply_snapshot(const raftpb::Snapshot& snap);
  // Records a snapshot at index i (i <= last_index) with the given membership and data; the log is
  // not compacted by this (call compact()).
  Error create_snapshot(std::uint64_t i, const raftpb::ConfState* cs, std::string data,
                        raftpb::Snapshot* out = nullptr);
  // Drops entries before compact_index (compact_index itself becomes the dummy entry).
  Error compact(std::uint64_t compact_index);
  // Appends entries, replacing any existing suffix they overlap. Entries must be contiguous and
  // must not leave a gap after last_index().
  Error append(const std::vector<raftpb::Entry>& ents);
  // The same, moving the entries in.
  Error append(std::vector<raftpb::Entry>&& ents);

 private:
  raftpb::HardState hard_state_;
  raftpb::Snapshot snapshot_;
  std::vector<raftpb::Entry> ents_;
};

}  // namespace outpost::raft
