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
  return Error::ok;
}

Error MemoryStorage::entries(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
                             std::vector<raftpb::Entry>* out) const {
  out->clear();
  const std::uint64_t offset = ents_[0].index();
  if (lo <= offset) return Error::compacted;
  if (hi > last_index() + 1) return Error::unavailable;
  if (ents_.size() == 1) return Error::unavailable;  // only the dummy entry
  if (hi <= lo) return Error::ok;
  std::uint64_t size = 0;
  for (std::uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = ents_[i - offset];
    size += entry_size(e);
    if (!out->empty() && size > max_size) break;
    out->push_back(e);
  }
  return Error::ok;
}

Error MemoryStorage::term(std::uint64_t i, std::uint64_t* out) const {
  const std::uint64_t offset = ents_[0].index();
  *out = 0;
  if (i < offset) return Error::compacted;
  if (i - offset >= ents_.size()) return Error::unavailable;
  *out = ents_[i - offset].term();
  return Error::ok;
}

std::uint64_t MemoryStorage::last_index() const { return ents_[0].index() + ents_.size() - 1; }

std::uint64_t MemoryStorage::first_index() const { return ents_[0].index() + 1; }

Error MemoryStorage::snapshot(raftpb::Snapshot* out) const {
  *out = snapshot_;
  return Error::ok;
}

Error MemoryStorage::apply_snapshot(const raftpb::Snapshot& snap) {
  if (snapshot_.metadata().index() >= snap.metadata().index()) return Error::snap_out_of_date;
  snapshot_ = snap;
  ents_.clear();
  raftpb::Entry dummy;
  dummy.set_index(snap.metadata().index());
  dummy.set_term(snap.metadata().term());
  ents_.push_back(std::move(dummy));
  return Error::ok;
}

Error MemoryStorage::create_snapshot(std::uint64_t i, const raftpb::ConfState* cs,
                                     std::string data, raftpb::Snapshot* out) {
  if (i <= snapshot_.metadata().index()) return Error::snap_out_of_date;
  const std::uint64_t offset = ents_[0].index();
  if (i > last_index()) return Error::unavailable;
  auto* md = snapshot_.mutable_metadata();
  md->set_index(i);
  md->set_term(ents_[i - offset].term());
  if (cs != nullptr) *md->mutable_conf_state() = *cs;
  snapshot_.set_data(std::move(data));
  if (out != nullptr) *out = snapshot_;
  return Error::ok;
}

Error MemoryStorage::compact(std::uint64_t compact_index) {
  const std::uint64_t offset = ents_[0].index();
  if (compact_index <= offset) return Error::compacted;
  if (compact_index > last_index()) return Error::unavailable;
  const std::uint64_t k = compact_index - offset;
  std::vector<raftpb::Entry> kept;
  kept.reserve(ents_.size() - k);
  raftpb::Entry dummy;
  dummy.set_index(ents_[k].index());
  dummy.set_term(ents_[k].term());
  kept.push_back(std::move(dummy));
  for (std::size_t j = k + 1; j < ents_.size(); ++j) kept.push_back(std::move(ents_[j]));
  ents_ = std::move(kept);
  return Error::ok;
}

Error MemoryStorage::append(const std::vector<raftpb::Entry>& ents) {
  std::vector<raftpb::Entry> copy(ents);
  return append(std::move(copy));
}

Error MemoryStorage::append(std::vector<raftpb::Entry>&& ents) {
  if (ents.empty()) return Error::ok;
  const std::uint64_t first = first_index();
  const std::uint64_t last_new = ents.back().index();
  if (last_new < first) return Error::ok;  // everything is already compacted away
  // Skip the part of `ents` that is already covered by the snapshot.
  std::size_t skip = 0;
  if (first > ents[0].index()) skip = first - ents[0].index();
  const std::uint64_t start = ents[skip].index();
  const std::uint64_t offset = ents_[0].index();
  if (start - offset > ents_.size()) return Error::unavailable;  // would leave a gap
  ents_.resize(start - offset);
  for (std::size_t j = skip; j < ents.size(); ++j) ents_.push_back(std::move(ents[j]));
  return Error::ok;
}

}  // namespace outpost::raft
