#pragma once
// RaftLog: the replicated log as one member sees it.
//
// It stitches together the persisted prefix (read through Storage) and the unstable tail
// (UnstableLog). Two watermarks move only forward: `committed` (known to be stored on a quorum)
// and `applied` (handed to the application), with applied <= committed <= last_index(). Entries
// below first_index() were compacted into a snapshot and can only be shipped as that snapshot.
//
// Log matching: maybe_append() accepts entries only if the entry just before them matches by
// (index, term); a conflicting suffix is truncated, never an entry at or below `committed`.

#include <cstdint>
#include <optional>
#include <vector>

#include "core/raft/log_unstable.h"
#include "core/raft/storage.h"

namespace outpost::raft {

class RaftLog {
 public:
  // storage must outlive the log. max_next_ents_size bounds one batch of committed entries.
  RaftLog(Storage* storage, std::uint64_t max_next_ents_size);

  // Handles an append from the leader: the entries follow (index, log_term). Returns the last
  // index of the new entries if the log matched, nullopt if it did not.
  std::optional<std::uint64_t> maybe_append(std::uint64_t index, std::uint64_t log_term,
                                            std::uint64_t committed,
                                            std::vector<raftpb::Entry>&& ents);
  // Appends at the end (or over a conflicting unstable suffix); returns the new last index.
  // The entries are moved in.
  std::uint64_t append(std::vector<raftpb::Entry>&& ents);
  // Index of the first new entry that conflicts with (or extends) the log; 0 if all match.
  std::uint64_t find_conflict(const std::vector<raftpb::Entry>& ents) const;

  const std::vector<raftpb::Entry>& unstable_entries() const { return unstable_.entries(); }
  // Committed entries not yet applied, limited in total size.
  std::vector<raftpb::Entry> next_entries() const;
  bool has_next_entries() const;
  const std::optional<raftpb::Snapshot>& unstable_snapshot() const { return unstable_.snapshot(); }
  bool has_pending_snapshot() const { return unstable_.snapshot().has_value(); }
  // The snapshot to ship to a follower: the pending one if any, otherwise storage's.
  Error snapshot(raftpb::Snapshot* out) const;

  std::uint64_t first_index() const;
  std::uint64_t last_index() const;
  std::uint64_t last_term() const;
  // Term of entry i; 0 with ok for an index past the end or before the dummy entry is handled as
  // the errors compacted / unavailable (term 0 returned).
  Error term(std::uint64_t i, std::uint64_t* out) const;
  // Term of entry i or 0 if it is not known (compacted or beyond the end).
  std::uint64_t term_or_zero(std::uint64_t i) const;
  bool match_term(std::uint64_t i, std::uint64_t t) const;
  // Entries from i to the end, size-limited.
  Error entries(std::uint64_t i, std::uint64_t max_size, std::vector<raftpb::Entry>* out) const;
  // Entries [lo, hi), size-limited.
  Error slice(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
              std::vector<raftpb::Entry>* out) const;
  // §5.4.1: is a log ending at (lasti, term) at least as up to date as ours?
  bool is_up_to_date(std::uint64_t lasti, std::uint64_t term) const;

  // Commits up to max_index only if that entry has term `term` (a leader commits by counting only
  // entries of its own term). Returns whether committed moved.
  bool maybe_commit(std::uint64_t max_index, std::uint64_t term);
  void commit_to(std::uint64_t to);
  void applied_to(std::uint64_t i);
  void stable_to(std::uint64_t i, std::uint64_t t) { unstable_.stable_to(i, t); }
  void stable_snap_to(std::uint64_t i) { unstable_.stable_snap_to(i); }
  // Replaces the log by a snapshot; committed jumps to its index.
  void restore(const raftpb::Snapshot& s);

  std::uint64_t committed() const { return committed_; }
  std::uint64_t applied() const { return applied_; }

 private:
  Error check_bounds(std::uint64_t lo, std::uint64_t hi) const;

  Storage* storage_;
  UnstableLog unstable_;
  std::uint64_t committed_ = 0;
  std::uint64_t applied_ = 0;
  std::uint64_t max_next_ents_size_;
};

}  // namespace outpost::raft
