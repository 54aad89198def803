#include "core/raft/storage.h"

namespace outpost::raft {

void limit_size(std::vector<raftpb::Entry>* ents, std::uint64_t max_size) {
  if (ents->empty() || max_size == no_limit) return;
  std::uint64_t size = entry_size((*ents)[0]);
  std::size_t keep = 1;
  for (; keep < ents->size(); ++keep) {
    size += entry_size((*ents)[keep]);
    if (size > max_size) break;
  }
  ents->resize(keep);
}

MemoryStorage::MemoryStorage() { ents_.emplace_back(); }

MemoryStorage::MemoryStorage(const raftpb::ConfState& initial) : MemoryStorage() {
  *snapshot_.mutable_metadata()->mutable_conf_state() = initial;
}

Error MemoryStorage::initial_state(raftpb::HardState* hs, raftpb::ConfState* cs) const {
  *hs = hard_state_;
  *cs = snapshot_.metadata().conf_state();
  return Error::kOk;
}

Error MemoryStorage::entries(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
                             std::vector<raftpb::Entry>* out) const {
  out->clear();
  const std::uint64_t offset = ents_[0].index();
  if (lo <= offset) return Error::kCompacted;
  if (hi > last_index() + 1) return Error::kUnavailable;
  if (ents_.size() == 1) return Error::kUnavailable;  // only the dummy entry
  if (hi <= lo) return Error::kOk;
  std::uint64_t size = 0;
  for (std::uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = ents_[i - offset];
    size += entry_size(e);
    if (!out->empty() && size > max_size) break;
    out->push_back(e);
  }
  return Error::kOk;
}

Error MemoryStorage::term(std::uint64_t i, std::uint64_t* out) const {
  const std::uint64_t offset = ents_[0].index();
  *out = 0;
  if (i < offset) return Error::kCompacted;
  if (i - offset >= ents_.size()) return Error::kUnavailable;
  *out = ents_[i - offset].term();
  return Error::kOk;
}

std::uint64_t MemoryStorage::last_index() const { return ents_[0].index() + ents_.size() - 1; }

std::uint64_t MemoryStorage::first_index() const { return ents_[0].index() + 1; }

Error MemoryStorage::snapshot(raftpb::Snapshot* out) const {
  *out = snapshot_;
  return Error::kOk;
}

Error MemoryStorage::apply_snapshot(const raftpb::Snapshot& snap) {
  if (snapshot_.metadata().index() >= snap.metadata().index()) return Error::kSnapOutOfDate;
  snapshot_ = snap;
  ents_.clear();
  raftpb::Entry dummy;
  dummy.set_index(snap.metadata().index());
  dummy.set_term(snap.metadata().term());
  ents_.push_back(std::move(dummy));
  return Error::kOk;
}

Error MemoryStorage::create_snapshot(std::uint64_t i, const raftpb::ConfState* cs, std::string data,
                                     raftpb::Snapshot* out) {
  if (i <= snapshot_.metadata().index()) return Error::kSnapOutOfDate;
  const std::uint64_t offset = ents_[0].index();
  if (i > last_index()) return Error::kUnavailable;
  auto* md = snapshot_.mutable_metadata();
  md->set_index(i);
  md->set_term(ents_[i - offset].term());
  if (cs != nullptr) *md->mutable_conf_state() = *cs;
  snapshot_.set_data(std::move(data));
  if (out != nullptr) *out = snapshot_;
  return Error::kOk;
}

Error MemoryStorage::compact(std::uint64_t compact_index) {
  const std::uint64_t offset = ents_[0].index();
  if (compact_index <= offset) return Error::kCompacted;
  if (compact_index > last_index()) return Error::kUnavailable;
  const std::uint64_t k = compact_index - offset;
  std::vector<raftpb::Entry> kept;
  kept.reserve(ents_.size() - k);
  raftpb::Entry dummy;
  dummy.set_index(ents_[k].index());
  dummy.set_term(ents_[k].term());
  kept.push_back(std::move(dummy));
  for (std::size_t j = k + 1; j < ents_.size(); ++j) kept.push_back(std::move(ents_[j]));
  ents_ = std::move(kept);
  return Error::kOk;
}

Error MemoryStorage::append(const std::vector<raftpb::Entry>& ents) {
  std::vector<raftpb::Entry> copy(ents);
  return append(std::move(copy));
}

Error MemoryStorage::append(std::vector<raftpb::Entry>&& ents) {
  if (ents.empty()) return Error::kOk;
  const std::uint64_t first = first_index();
  const std::uint64_t last_new = ents.back().index();
  if (last_new < first) return Error::kOk;  // everything is already compacted away
  // Skip the part of `ents` that is already covered by the snapshot.
  std::size_t skip = 0;
  if (first > ents[0].index()) skip = first - ents[0].index();
  const std::uint64_t start = ents[skip].index();
  const std::uint64_t offset = ents_[0].index();
  if (start - offset > ents_.size()) return Error::kUnavailable;  // would leave a gap
  ents_.resize(start - offset);
  for (std::size_t j = skip; j < ents.size(); ++j) ents_.push_back(std::move(ents[j]));
  return Error::kOk;
}

}  // namespace outpost::raft
