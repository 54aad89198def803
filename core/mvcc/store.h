#pragma once
// Store: etcd's multi-version key-value model over core/storage.
//
// Every write transaction that changes something gets the next main revision; its changes get
// sub revisions 0, 1, 2... Each change is one record in the kv column family keyed by its
// revision and holding the whole mvccpb.KeyValue (a delete stores a tombstone holding just the
// key). The KeyIndex maps keys to revisions and is rebuilt from the records on open.
//
// Concurrency: any number of ReadTxn (shared lock) or one WriteTxn (exclusive lock) at a time.
// A WriteTxn sees its own changes; nobody else sees them until it ends, when its batch (changes,
// the new revision and the consistent index) is committed to the engine in one write.
// Compaction is a write like any other: it drops history at or below a revision except the
// newest record of each key live there, and later reads below it fail with kCompacted.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/mvcc/key_index.h"
#include "core/storage/engine.h"
#include "mvccpb/kv.pb.h"

namespace outpost::mvcc {

struct RangeOptions {
  int64_t limit = 0;     // 0: no limit
  int64_t revision = 0;  // 0: the current revision
  bool count_only = false;
};

struct RangeResult {
  std::vector<mvccpb::KeyValue> kvs;
  int64_t count = 0;  // keys in the range, regardless of limit
  int64_t rev = 0;    // the store revision the read was made at (for the response header)
};

// What both transactions can do: read a key range as etcd's mvcc does.
class KvReader {
 public:
  virtual ~KvReader() = default;
  // key/end follow etcd's request convention (see KeyIndex::range).
  virtual Status range(std::string_view key, std::string_view end, const RangeOptions& opts,
                       RangeResult* out) = 0;
  virtual int64_t rev() const = 0;        // revision reads see
  virtual int64_t first_rev() const = 0;  // compacted revision (reads below it fail)
};

class Store;

// Keeps lease attachments in step with the keys (core/lease implements it). Called inside write
// transactions, under the store's write lock: a put names the key's lease (0 for none), a
// delete drops it.
class LeaseHook {
 public:
  virtual ~LeaseHook() = default;
  virtual void on_put(std::string_view key, int64_t lease) = 0;
  virtual void on_delete(std::string_view key) = 0;
};

class ReadTxn final : public KvReader {
 public:
  explicit ReadTxn(const Store& s);
  ~ReadTxn() override;  // counts the ranges it ran (etcd_mvcc_range_total, _txn_total)
  Status range(std::string_view key, std::string_view end, const RangeOptions& opts,
               RangeResult* out) override;
  int64_t rev() const override { return rev_; }
  int64_t first_rev() const override;

 private:
  const Store& s_;
  std::shared_lock<std::shared_mutex> lock_;
  int64_t rev_;
  uint32_t ranges_ = 0;
};

class WriteTxn final : public KvReader {
 public:
  explicit WriteTxn(Store& s);
  ~WriteTxn() override;  // ends the transaction if end() was not called (commits)
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  Status range(std::string_view key, std::string_view end, const RangeOptions& opts,
               RangeResult* out) override;
  int64_t rev() const override { return begin_rev_ + (changes_.empty() ? 0 : 1); }
  int64_t first_rev() const override;

  // Returns the revision the put lands at.
  int64_t put(std::string_view key, std::string_view value, int64_t lease);
  // Returns the number of keys deleted; *rev is the revision a response reports.
  int64_t delete_range(std::string_view key, std::string_view end, int64_t* rev);
  // Compacts history at or below rev (kCompacted / kFutureRev as etcd).
  Status compact(int64_t rev);
  // Meta records committed atomically with the changes (leases, membership).
  void put_meta(std::string_view key, std::string_view value) { batch_.put_meta(key, value); }
  void delete_meta(std::string_view key) { batch_.delete_meta(key); }
  // Records the log index this transaction applies (persisted with the changes).
  void set_consistent_index(uint64_t index) { consistent_index_ = index; }

  const std::vector<mvccpb::KeyValue>& changes() const { return changes_; }
  int64_t begin_rev() const { return begin_rev_; }
  // Commits the batch; changes become visible to readers. Idempotent.
  Status end();

 private:
  Status read_record(Revision rev, mvccpb::KeyValue* kv);

  Store& s_;
  std::unique_lock<std::shared_mutex> lock_;
  int64_t begin_rev_;
  uint64_t consistent_index_ = 0;
  storage::Batch batch_;
  std::vector<mvccpb::KeyValue> changes_;
  std::map<Revision, std::string> pending_;  // encoded records written by this txn
  bool compacted_ = false;
  bool ended_ = false;
  uint32_t ranges_ = 0, puts_ = 0, deletes_ = 0;  // counted into etcd_mvcc_* by end()
};

class Store {
 public:
  // Rebuilds the key index from the engine; finishes a compaction a crash interrupted.
  static Result<std::unique_ptr<Store>> open(storage::Engine* engine);

  // Replaces the whole state: runs swap() (which installs new contents in the engine) with
  // every reader and writer kept out, then rebuilds the index from the new contents.
  Status replace_state(const std::function<Status()>& swap);

  // Every record of the state (kv and meta column families) as of one point in time
  // (storage::Engine::scan_state), for a saved snapshot. Writers are not held up; a
  // replace_state() waits until the scan is over.
  Status scan_state(
      const std::function<bool(int cf, std::string_view key, std::string_view value)>& fn) const;

  int64_t current_revision() const;
  int64_t compact_revision() const;
  uint64_t consistent_index() const;
  size_t key_count() const;

  struct Hash {
    uint32_t hash = 0;
    int64_t current_rev = 0;
    int64_t compact_rev = 0;
  };
  // etcd's HashKV: CRC-32C over "key" and every kv record (revision key, encoded value) up to
  // rev (0: current), leaving out records a compaction at the compacted revision drops. Members
  // with the same history give the same hash, and so does etcd for the same history.
  Status hash_kv(int64_t rev, Hash* out) const;

  void set_lease_hook(LeaseHook* hook) { lease_hook_ = hook; }

  // History for watchers. Runs fn under the read lock, so no write transaction commits while it
  // runs: fn sees the current and compacted revisions and may read the events of any revisions
  // in (compacted, current] through `read` (in revision order; a delete is a DELETE event whose
  // kv holds the key and its mod revision).
  // The key's record as of rev, for callers already holding the store's lock (the commit hook,
  // with_history callbacks): false when the key was not live then.
  bool get_locked(const std::string& key, int64_t rev, mvccpb::KeyValue* out) const;

  using EventFn = std::function<void(const mvccpb::Event&)>;
  using HistoryReader = std::function<Status(int64_t from, int64_t to, const EventFn&)>;
  void with_history(const std::function<void(int64_t current, int64_t compacted,
                                             const HistoryReader& read)>& fn) const;
  // Calls fn with the latest record of every live key, in key order (for rebuilding state that
  // hangs off keys, such as lease attachments).
  Status for_each_live(const std::function<void(const mvccpb::KeyValue&)>& fn) const;

  // Called (under the write lock, after commit) with the changes of every write txn and its
  // revision; the watch hub hooks in here.
  void set_on_commit(std::function<void(int64_t rev, const std::vector<mvccpb::KeyValue>&)> fn) {
    on_commit_ = std::move(fn);
  }

 private:
  friend class ReadTxn;
  friend class WriteTxn;
  explicit Store(storage::Engine* e) : engine_(e) {}
  Status restore();
  // Rebuilds the index and revisions from the engine (no locking: open, or lock held).
  Status restore_index(int64_t* scheduled_compaction);
  Status read_at(const std::vector<std::pair<std::string, Revision>>& revs,
                 std::vector<mvccpb::KeyValue>* out) const;

  storage::Engine* engine_;
  mutable std::shared_mutex mu_;
  mutable std::shared_mutex swap_mu_;  // scan_state() shared, replace_state() exclusive
  KeyIndex index_;
  int64_t current_rev_ = 1;   // etcd starts at revision 1
  int64_t compact_rev_ = -1;  // main revision of the last compaction (-1: none, as etcd)
  uint64_t consistent_index_ = 0;
  std::function<void(int64_t, const std::vector<mvccpb::KeyValue>&)> on_commit_;
  LeaseHook* lease_hook_ = nullptr;
};

// meta column keys.
inline constexpr std::string_view kMetaConsistentIndex = "consistent_index";
inline constexpr std::string_view kMetaCurrentRev = "current_rev";
inline constexpr std::string_view kMetaScheduledCompact = "scheduled_compact_rev";
inline constexpr std::string_view kMetaFinishedCompact = "finished_compact_rev";

}  // namespace outpost::mvcc
