#include "core/mvcc/store.h"

#include "core/common/crc32c.h"
#include "core/common/log.h"
#include "core/common/metrics.h"
#include "core/common/panic.h"

namespace outpost::mvcc {
namespace {

int64_t meta_i64(const storage::Engine& e, std::string_view key, int64_t missing = 0) {
  std::string v;
  if (!e.get_meta(key, &v) || v.size() != 8) return missing;
  return int64_t(storage::decode_u64(v));
}

// Shared by both transactions: etcd's rangeKeys over the index at `cur` (the reader's
// revision), reading records through `load`.
template <class Load>
Status range_keys(const KeyIndex& index, int64_t cur, int64_t compact_rev, std::string_view key,
                  std::string_view end, const RangeOptions& opts, RangeResult* out, Load&& load) {
  int64_t rev = opts.revision;
  if (rev > cur) return Status::of(ErrorCode::kFutureRev);
  if (rev <= 0) rev = cur;
  if (rev < compact_rev) return Status::of(ErrorCode::kCompacted);
  out->rev = cur;
  size_t total = 0;
  const size_t limit = opts.count_only ? 1 : (opts.limit > 0 ? size_t(opts.limit) : 0);
  auto revs = index.range(key, end, rev, limit, &total);
  out->count = int64_t(total);
  if (opts.count_only) return Status::ok();
  out->kvs.resize(revs.size());
  for (size_t i = 0; i < revs.size(); ++i) {
    Status s = load(revs[i].second, &out->kvs[i]);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------- Store

Result<std::unique_ptr<Store>> Store::open(storage::Engine* engine) {
  std::unique_ptr<Store> s(new Store(engine));
  Status st = s->restore();
  if (!st) return st;
  return s;
}

Status Store::restore() {
  int64_t scheduled = -1;
  Status st = restore_index(&scheduled);
  if (!st) return st;
  if (scheduled > compact_rev_) {
    // A compaction was agreed but the crash came before its records were removed: finish it.
    OUTPOST_LOG(kInfo, "resuming interrupted compaction", log::kv("revision", scheduled));
    WriteTxn txn(*this);
    compact_rev_ = scheduled - 1;
    Status cs = txn.compact(scheduled);
    if (!cs) return cs;
    txn.set_consistent_index(consistent_index_);
    return txn.end();
  }
  return Status::ok();
}

Status Store::restore_index(int64_t* scheduled) {
  consistent_index_ = uint64_t(meta_i64(*engine_, kMetaConsistentIndex));
  compact_rev_ = meta_i64(*engine_, kMetaFinishedCompact, -1);
  *scheduled = meta_i64(*engine_, kMetaScheduledCompact, -1);
  int64_t max_rev = 1;
  Status bad;
  Status st = engine_->scan_kv("", "", [&](std::string_view k, std::string_view v) {
    const Revision rev = parse_revision_key(k);
    mvccpb::KeyValue kv;
    if (k.size() < kRevisionKeyLen || !kv.ParseFromArray(v.data(), int(v.size()))) {
      bad = Status(ErrorCode::kCorrupt, "corrupt record in kv column family");
      return false;
    }
    if (is_tombstone_key(k)) {
      index_.tombstone(kv.key(), rev);
    } else {
      index_.restore(kv.key(), Revision{kv.create_revision(), 0}, rev, kv.version());
    }
    max_rev = std::max(max_rev, rev.main);
    return true;
  });
  if (!st) return st;
  if (!bad) return bad;
  current_rev_ = std::max({max_rev, meta_i64(*engine_, kMetaCurrentRev), compact_rev_});
  return Status::ok();
}

Status Store::scan_state(
    const std::function<bool(int, std::string_view, std::string_view)>& fn) const {
  std::shared_lock scanning(swap_mu_);
  return engine_->scan_state(fn);
}

Status Store::replace_state(const std::function<Status()>& swap) {
  std::unique_lock swapping(swap_mu_);
  std::unique_lock l(mu_);
  Status s = swap();
  if (!s) return s;
  index_ = KeyIndex();
  current_rev_ = 1;
  compact_rev_ = -1;
  consistent_index_ = 0;
  int64_t scheduled = -1;
  s = restore_index(&scheduled);
  if (!s) return s;
  if (scheduled <= compact_rev_) return Status::ok();
  l.unlock();           // finishing a compaction the sender had under way takes the lock itself
  WriteTxn txn(*this);  // holds the write lock from here
  compact_rev_ = scheduled - 1;
  s = txn.compact(scheduled);
  if (!s) return s;
  txn.set_consistent_index(consistent_index_);
  return txn.end();
}

int64_t Store::current_revision() const {
  std::shared_lock l(mu_);
  return current_rev_;
}
int64_t Store::compact_revision() const {
  std::shared_lock l(mu_);
  return compact_rev_;
}
uint64_t Store::consistent_index() const {
  std::shared_lock l(mu_);
  return consistent_index_;
}
size_t Store::key_count() const {
  std::shared_lock l(mu_);
  return index_.size();
}

Status Store::hash_kv(int64_t rev, Hash* out) const {
  std::shared_lock l(mu_);
  out->compact_rev = compact_rev_;
  out->current_rev = current_rev_;
  if (rev > 0 && rev <= compact_rev_) return Status::of(ErrorCode::kCompacted);
  if (rev > current_rev_) return Status::of(ErrorCode::kFutureRev);
  if (rev == 0) rev = current_rev_;
  const std::set<Revision> keep = index_.keep(rev);
  const Revision lower{compact_rev_ + 1, 0};
  Crc32c crc;
  crc.update("key");
  Status st = engine_->scan_kv("", revision_key(Revision{rev + 1, 0}),
                               [&](std::string_view k, std::string_view v) {
                                 const Revision r = parse_revision_key(k);
                                 if (r < lower && !keep.empty() && !keep.count(r)) return true;
                                 crc.update(k);
                                 crc.update(v);
                                 return true;
                               });
  out->hash = crc.value();
  return st;
}

Status Store::for_each_live(const std::function<void(const mvccpb::KeyValue&)>& fn) const {
  std::shared_lock l(mu_);
  Status bad;
  index_.visit(std::string(1, '\0'), std::string(1, '\0'),
               [&](const std::string&, const KeyHistory& h) {
                 auto at = h.get(current_rev_);
                 if (!at) return true;
                 std::string v;
                 mvccpb::KeyValue kv;
                 if (!engine_->get_kv(revision_key(at->modified), &v) || !kv.ParseFromString(v)) {
                   bad = Status(ErrorCode::kCorrupt, "missing or corrupt revision record");
                   return false;
                 }
                 fn(kv);
                 return true;
               });
  return bad;
}

bool Store::get_locked(const std::string& key, int64_t rev, mvccpb::KeyValue* out) const {
  auto at = index_.get(key, rev);
  if (!at) return false;
  std::string v;
  return engine_->get_kv(revision_key(at->modified), &v) && out->ParseFromString(v);
}

void Store::with_history(
    const std::function<void(int64_t, int64_t, const HistoryReader&)>& fn) const {
  std::shared_lock l(mu_);
  HistoryReader read = [this](int64_t from, int64_t to, const EventFn& emit) {
    Status bad;
    Status st = engine_->scan_kv(revision_key(Revision{from, 0}), revision_key(Revision{to + 1, 0}),
                                 [&](std::string_view k, std::string_view v) {
                                   mvccpb::Event ev;
                                   if (!ev.mutable_kv()->ParseFromArray(v.data(), int(v.size()))) {
                                     bad = Status(ErrorCode::kCorrupt, "corrupt kv record");
                                     return false;
                                   }
                                   if (is_tombstone_key(k)) {
                                     ev.set_type(mvccpb::Event::DELETE);
                                     ev.mutable_kv()->set_mod_revision(parse_revision_key(k).main);
                                   }
                                   emit(ev);
                                   return true;
                                 });
    return st ? bad : st;
  };
  fn(current_rev_, compact_rev_, read);
}

// ---------------------------------------------------------------- metrics

namespace {
// etcd's operation counters: one transaction (a client's Range, Put, DeleteRange or Txn; a lease
// revocation) adds the operations it ran, and counts as a txn when it ran more than one.
struct OpCounters {
  metrics::Counter& range = metrics::default_registry()
                                .counter("etcd_mvcc_range_total", "Ranges run by transactions.")
                                .get();
  metrics::Counter& put =
      metrics::default_registry().counter("etcd_mvcc_put_total", "Keys put by transactions.").get();
  metrics::Counter& del =
      metrics::default_registry()
          .counter("etcd_mvcc_delete_total", "Delete-ranges run by transactions.")
          .get();
  metrics::Counter& txn =
      metrics::default_registry()
          .counter("etcd_mvcc_txn_total", "Transactions that ran more than one operation.")
          .get();
};
void count_ops(uint32_t ranges, uint32_t puts, uint32_t deletes) {
  static OpCounters c;
  if (ranges) c.range.inc(ranges);
  if (puts) c.put.inc(puts);
  if (deletes) c.del.inc(deletes);
  if (ranges + puts + deletes > 1) c.txn.inc();
}
}  // namespace

// ---------------------------------------------------------------- ReadTxn

ReadTxn::ReadTxn(const Store& s) : s_(s), lock_(s.mu_), rev_(s.current_rev_) {}

ReadTxn::~ReadTxn() { count_ops(ranges_, 0, 0); }

int64_t ReadTxn::first_rev() const { return s_.compact_rev_; }

Status ReadTxn::range(std::string_view key, std::string_view end, const RangeOptions& opts,
                      RangeResult* out) {
  ++ranges_;
  return range_keys(s_.index_, rev_, s_.compact_rev_, key, end, opts, out,
                    [this](Revision r, mvccpb::KeyValue* kv) {
                      std::string v;
                      if (!s_.engine_->get_kv(revision_key(r), &v) || !kv->ParseFromString(v))
                        return Status(ErrorCode::kCorrupt, "missing or corrupt revision record");
                      return Status::ok();
                    });
}

// ---------------------------------------------------------------- WriteTxn

WriteTxn::WriteTxn(Store& s)
    : s_(s),
      lock_(s.mu_),
      begin_rev_(s.current_rev_),
      consistent_index_(s.consistent_index_),
      batch_(s.engine_->new_batch()) {}

WriteTxn::~WriteTxn() {
  if (!ended_) {
    // A transaction left without end() still commits. If that write fails, the in-memory index
    // (and the lessor, through the hook) already hold changes the disk does not: serving on would
    // answer from state that was never persisted. As etcd's backend, die and let the restart
    // replay the Raft log.
    Status st = end();
    if (!st) OUTPOST_PANIC("write transaction failed to commit", log::kv("error", st.message()));
  }
}

int64_t WriteTxn::first_rev() const { return s_.compact_rev_; }

Status WriteTxn::read_record(Revision rev, mvccpb::KeyValue* kv) {
  auto it = pending_.find(rev);
  if (it != pending_.end()) {
    kv->ParseFromString(it->second);
    return Status::ok();
  }
  std::string v;
  if (!s_.engine_->get_kv(revision_key(rev), &v) || !kv->ParseFromString(v))
    return Status(ErrorCode::kCorrupt, "missing or corrupt revision record");
  return Status::ok();
}

Status WriteTxn::range(std::string_view key, std::string_view end, const RangeOptions& opts,
                       RangeResult* out) {
  ++ranges_;
  return range_keys(s_.index_, rev(), s_.compact_rev_, key, end, opts, out,
                    [this](Revision r, mvccpb::KeyValue* kv) { return read_record(r, kv); });
}

int64_t WriteTxn::put(std::string_view key, std::string_view value, int64_t lease) {
  ++puts_;
  const int64_t rev = begin_rev_ + 1;
  const Revision idx{rev, int64_t(changes_.size())};
  int64_t created = rev;
  int64_t ver = 0;
  if (auto at = s_.index_.get(key, rev)) {
    created = at->created.main;
    ver = at->version;
  }
  mvccpb::KeyValue kv;
  kv.set_key(std::string(key));
  kv.set_value(std::string(value));
  kv.set_create_revision(created);
  kv.set_mod_revision(rev);
  kv.set_version(ver + 1);
  kv.set_lease(lease);
  std::string enc = kv.SerializeAsString();
  batch_.put_kv(revision_key(idx), enc);
  pending_[idx] = std::move(enc);
  s_.index_.put(key, idx);
  if (s_.lease_hook_) s_.lease_hook_->on_put(key, lease);
  changes_.push_back(std::move(kv));
  return rev;
}

int64_t WriteTxn::delete_range(std::string_view key, std::string_view end, int64_t* out_rev) {
  ++deletes_;
  const int64_t rev = begin_rev_ + 1;
  auto live = s_.index_.range(key, end, rev);
  for (const auto& [k, _] : live) {
    const Revision idx{rev, int64_t(changes_.size())};
    mvccpb::KeyValue kv;
    kv.set_key(k);
    batch_.put_kv(revision_key(idx, /*tombstone=*/true), kv.SerializeAsString());
    s_.index_.tombstone(k, idx);
    if (s_.lease_hook_) s_.lease_hook_->on_delete(k);
    kv.set_mod_revision(rev);
    changes_.push_back(std::move(kv));
  }
  *out_rev = (!live.empty() || !changes_.empty()) ? rev : begin_rev_;
  return int64_t(live.size());
}

Status WriteTxn::compact(int64_t rev) {
  if (rev <= s_.compact_rev_) return Status::of(ErrorCode::kCompacted);
  if (rev > s_.current_rev_) return Status::of(ErrorCode::kFutureRev);
  // The mark goes to disk first (its own write) so a crash mid-way resumes the compaction.
  {
    storage::Batch mark = s_.engine_->new_batch();
    mark.put_meta(kMetaScheduledCompact, storage::encode_u64(uint64_t(rev)));
    Status st = s_.engine_->write(mark, /*sync=*/false);
    if (!st) return st;
  }
  s_.compact_rev_ = rev;
  const std::set<Revision> keep = s_.index_.compact(rev);
  const std::string upper = revision_key(Revision{rev + 1, 0});
  size_t removed = 0;
  Status st = s_.engine_->scan_kv("", upper, [&](std::string_view k, std::string_view v) {
    if (!keep.count(parse_revision_key(k))) {
      batch_.delete_kv(k, k.size() + v.size());
      ++removed;
    }
    return true;
  });
  if (!st) return st;
  batch_.put_meta(kMetaFinishedCompact, storage::encode_u64(uint64_t(rev)));
  compacted_ = true;
  OUTPOST_LOG(kInfo, "compacted key-value history", log::kv("compact-revision", rev),
              log::kv("removed-records", uint64_t(removed)));
  return Status::ok();
}

Status WriteTxn::end() {
  if (ended_) return Status::ok();
  ended_ = true;
  count_ops(ranges_, puts_, deletes_);
  const int64_t new_rev = begin_rev_ + (changes_.empty() ? 0 : 1);
  batch_.put_meta(kMetaConsistentIndex, storage::encode_u64(consistent_index_));
  if (!changes_.empty()) batch_.put_meta(kMetaCurrentRev, storage::encode_u64(uint64_t(new_rev)));
  Status st = s_.engine_->write(batch_);
  if (!st) return st;
  s_.current_rev_ = new_rev;
  s_.consistent_index_ = consistent_index_;
  if (!changes_.empty() && s_.on_commit_) s_.on_commit_(new_rev, changes_);
  lock_.unlock();
  return Status::ok();
}

}  // namespace outpost::mvcc
