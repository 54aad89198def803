#pragma once
// The tail of the Raft log that has not been persisted yet.
//
// Entries and a snapshot enter here when the leader appends or a follower accepts them; they leave
// when the application reports (via advance()) that it has written them to Storage. Invariants:
// entries_[k] has index offset_ + k; if a snapshot is held, offset_ == snapshot index + 1; the
// unstable entries always continue the stable log or the held snapshot without a gap.

#include <cstdint>
#include <iterator>
#include <optional>
#include <vector>

#include "raftpb/raft.pb.h"

namespace outpost::raft {

class UnstableLog {
 public:
  // Index of the first entry the snapshot implies (only known if a snapshot is pending).
  std::optional<std::uint64_t> maybe_first_index() const {
    if (snapshot_) return snapshot_->metadata().index() + 1;
    return std::nullopt;
  }
  std::optional<std::uint64_t> maybe_last_index() const {
    if (!entries_.empty()) return offset_ + entries_.size() - 1;
    if (snapshot_) return snapshot_->metadata().index();
    return std::nullopt;
  }
  // Term of entry i if this part of the log knows it.
  std::optional<std::uint64_t> maybe_term(std::uint64_t i) const {
    if (i < offset_) {
      if (snapshot_ && snapshot_->metadata().index() == i) return snapshot_->metadata().term();
      return std::nullopt;
    }
    auto last = maybe_last_index();
    if (!last || i > *last) return std::nullopt;
    return entries_[i - offset_].term();
  }

  // The application persisted entries up to i (with term t): drop them, unless they were
  // replaced meanwhile by a newer append (the term no longer matches).
  void stable_to(std::uint64_t i, std::uint64_t t) {
    auto gt = maybe_term(i);
    if (!gt || *gt != t || i < offset_) return;
    entries_.erase(entries_.begin(),
                   entries_.begin() + static_cast<std::ptrdiff_t>(i + 1 - offset_));
    offset_ = i + 1;
  }
  void stable_snap_to(std::uint64_t i) {
    if (snapshot_ && snapshot_->metadata().index() == i) snapshot_.reset();
  }
  void restore(const raftpb::Snapshot& s) {
    offset_ = s.metadata().index() + 1;
    entries_.clear();
    snapshot_ = s;
  }
  // Appends, truncating whatever the new entries conflict with. The entries are moved in.
  void truncate_and_append(std::vector<raftpb::Entry>&& ents) {
    if (ents.empty()) return;
    const std::uint64_t after = ents[0].index();
    if (after == offset_ + entries_.size()) {
      // plain append
    } else if (after <= offset_) {
      // Replaces everything unstable; the new entries start at or before our offset.
      offset_ = after;
      entries_.clear();
    } else {
      entries_.resize(after - offset_);
    }
    if (entries_.empty()) {
      entries_ = std::move(ents);
    } else {
      entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                      std::make_move_iterator(ents.end()));
    }
  }
  // Entries [lo, hi); the caller checked the bounds.
  void slice(std::uint64_t lo, std::uint64_t hi, std::vector<raftpb::Entry>* out) const {
    out->insert(out->end(), entries_.begin() + static_cast<std::ptrdiff_t>(lo - offset_),
                entries_.begin() + static_cast<std::ptrdiff_t>(hi - offset_));
  }

  const std::vector<raftpb::Entry>& entries() const { return entries_; }
  const std::optional<raftpb::Snapshot>& snapshot() const { return snapshot_; }
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t o) { offset_ = o; }

 private:
  std::optional<raftpb::Snapshot> snapshot_;
  std::vector<raftpb::Entry> entries_;
  std::uint64_t offset_ = 0;
};

}  // namespace outpost::raft
