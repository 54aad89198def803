#include "core/storage/raft_log.h"

namespace outpost::storage {
namespace {
constexpr const char* kHardState = "hardstate";
constexpr const char* kSnapshot = "snapshot";

Status raft_error(raft::Error e, const char* what) {
  return Status(ErrorCode::kCorrupt, std::string(what) + ": " + std::string(raft::to_string(e)));
}
}  // namespace

Result<std::unique_ptr<DurableLog>> DurableLog::open(Engine* engine,
                                                     const raftpb::ConfState& initial) {
  std::unique_ptr<DurableLog> l(new DurableLog(engine));
  std::string raw;
  raftpb::Snapshot snap;
  if (engine->get_raft_meta(kSnapshot, &raw)) {
    if (!snap.ParseFromString(raw))
      return Status(ErrorCode::kCorrupt, "corrupt raft snapshot metadata");
  } else {
    l->fresh_ = true;
    *snap.mutable_metadata()->mutable_conf_state() = initial;
    Engine::RaftWrite w;
    w.meta.emplace_back(kSnapshot, snap.SerializeAsString());
    Status s = engine->write_raft(w);
    if (!s) return s;
  }
  if (snap.metadata().index() == 0) {
    // The founding membership: what a snapshot at index 0 would hold.
    l->mem_ = raft::MemoryStorage(snap.metadata().conf_state());
  } else {
    raft::Error e = l->mem_.apply_snapshot(snap);
    if (e != raft::Error::kOk) return raft_error(e, "load raft snapshot");
  }
  if (engine->get_raft_meta(kHardState, &raw)) {
    raftpb::HardState hs;
    if (!hs.ParseFromString(raw)) return Status(ErrorCode::kCorrupt, "corrupt raft hard state");
    l->mem_.set_hard_state(hs);
  }
  const uint64_t first = snap.metadata().index() + 1;
  const uint64_t last = engine->last_log_index();
  if (last >= first) {
    std::vector<LogRecord> recs;
    Status s = engine->read_log(first, last + 1, &recs);
    if (!s) return s;
    if (recs.size() != last + 1 - first)
      return Status(ErrorCode::kCorrupt, "raft log has a gap after index " + std::to_string(first));
    std::vector<raftpb::Entry> ents(recs.size());
    for (size_t i = 0; i < recs.size(); ++i)
      if (!ents[i].ParseFromString(recs[i].data))
        return Status(ErrorCode::kCorrupt,
                      "corrupt raft log entry " + std::to_string(recs[i].index));
    raft::Error e = l->mem_.append(ents);
    if (e != raft::Error::kOk) return raft_error(e, "load raft log");
  }
  return l;
}

Status DurableLog::save(const std::optional<raftpb::HardState>& hs,
                        const std::vector<raftpb::Entry>& ents,
                        const std::optional<raftpb::Snapshot>& snap, bool sync) {
  Engine::RaftWrite w;
  w.sync = sync;
  if (snap) {
    raftpb::Snapshot meta_only;
    *meta_only.mutable_metadata() = snap->metadata();
    w.meta.emplace_back(kSnapshot, meta_only.SerializeAsString());
    // Everything before and including the snapshot is covered by it.
    w.truncate_from = 1;
  }
  if (!ents.empty()) {
    if (ents.front().index() <= mem_.last_index() &&
        (w.truncate_from == 0 || ents.front().index() < w.truncate_from))
      w.truncate_from = ents.front().index();
    w.records.reserve(ents.size());
    for (const auto& e : ents) w.records.push_back({e.index(), e.SerializeAsString()});
  }
  if (hs) w.meta.emplace_back(kHardState, hs->SerializeAsString());
  if (w.records.empty() && w.meta.empty()) return Status::ok();
  Status s = engine_->write_raft(w);
  if (!s) return s;
  if (snap) {
    raft::Error e = mem_.apply_snapshot(*snap);
    if (e != raft::Error::kOk && e != raft::Error::kSnapOutOfDate)
      return raft_error(e, "install raft snapshot");
  }
  if (!ents.empty()) {
    raft::Error e = mem_.append(ents);
    if (e != raft::Error::kOk) return raft_error(e, "append raft log");
  }
  if (hs) mem_.set_hard_state(*hs);
  return Status::ok();
}

Status DurableLog::compact(uint64_t index, const raftpb::ConfState& cs, uint64_t retain) {
  raftpb::Snapshot snap;
  raft::Error e = mem_.create_snapshot(index, &cs, std::string(), &snap);
  if (e == raft::Error::kSnapOutOfDate) return Status::ok();
  if (e != raft::Error::kOk) return raft_error(e, "record snapshot");
  Engine::RaftWrite w;
  w.meta.emplace_back(kSnapshot, snap.SerializeAsString());
  Status s = engine_->write_raft(w);
  if (!s) return s;
  if (index <= retain) return Status::ok();
  const uint64_t before = index - retain;
  s = engine_->compact_log(before);
  if (!s) return s;
  e = mem_.compact(before);
  if (e != raft::Error::kOk && e != raft::Error::kCompacted)
    return raft_error(e, "compact raft log");
  return Status::ok();
}

}  // namespace outpost::storage
