#pragma once
// Engine: the member's RocksDB storage, and the only code in Outpost that talks to RocksDB.
//
// Column families (DESIGN.md, core/storage), in two RocksDB instances under <data-dir>/member:
//   wal/  raft_log   index (8 bytes, big-endian) -> one encoded raftpb.Entry
//         raft_meta  hard state, snapshot metadata (with the conf state)
//   db/   kv         MVCC revision key (core/mvcc/revision.h) -> encoded mvccpb.KeyValue
//         meta       consistent index (last applied log index), compaction marks, members, leases
// Two instances because RocksDB puts every writer of one instance into one queue: applies would
// wait behind each fsync of the Raft log. Apart, the log syncs while the state machine applies
// (etcd keeps its WAL and its bolt database apart for the same reason).
//
// Durability contract:
//   - write_raft() / append_log() write log entries and raft meta in one batch through the WAL
//     with sync: one fsync per call, so a caller that batches gets group commit.
//   - write(batch) for the state machine skips RocksDB's WAL (the Raft log is the state
//     machine's log; etcd's bolt database has none either): after any crash the state is as of
//     the last memtable flush, which is atomic across kv and meta, and the batch carries the
//     consistent index with the changes, so replaying the Raft log from there applies every
//     entry exactly once. write(batch, sync=true) flushes before it returns. Before log entries
//     are deleted, flush() makes the state machine durable.
// All methods are thread-safe (RocksDB is); ordering between writers is the caller's business.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace outpost::storage {

// Changes to the state machine (kv and meta column families), committed atomically.
class Batch {
 public:
  Batch();
  ~Batch();
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;

  void put_kv(std::string_view key, std::string_view value);
  void delete_kv(std::string_view key);
  // The same, telling how many bytes the record held: counted as free space (Status
  // dbSizeInUse) once the batch is written, until the next defragment().
  void delete_kv(std::string_view key, size_t freed);
  void put_meta(std::string_view key, std::string_view value);
  void delete_meta(std::string_view key);
  size_t count() const;
  void clear();

 private:
  friend class Engine;
  std::unique_ptr<rocksdb::WriteBatch> wb_;
  rocksdb::ColumnFamilyHandle* kv_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  uint64_t freed_ = 0;
};

struct LogRecord {
  uint64_t index = 0;
  std::string data;
};

class Engine {
 public:
  // Opens (creating if missing) the database under dir.
  static Result<std::unique_ptr<Engine>> open(const std::string& dir);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- raft log and raft meta ---
  // One durable write of the raft column families: drops the log from truncate_from on (0: keep
  // all; a new leader's entries replace a conflicting suffix), appends records, sets raft_meta
  // keys. With sync, one fsync.
  struct RaftWrite {
    uint64_t truncate_from = 0;
    std::vector<LogRecord> records;
    std::vector<std::pair<std::string, std::string>> meta;
    bool sync = true;
  };
  Status write_raft(const RaftWrite& w);
  // Appends records (and replaces raft_meta entries given as key/value pairs) with one fsync.
  Status append_log(const std::vector<LogRecord>& records,
                    const std::vector<std::pair<std::string, std::string>>& raft_meta = {});
  // Records with from <= index < to, in order; stops early at a gap.
  Status read_log(uint64_t from, uint64_t to, std::vector<LogRecord>* out) const;
  // Highest index in the log, 0 when empty.
  uint64_t last_log_index() const;
  // Removes every record with index < before (after a snapshot).
  Status compact_log(uint64_t before);
  // Value of a raft_meta key; false when missing.
  bool get_raft_meta(std::string_view key, std::string* value) const;

  // --- state machine ---
  Batch new_batch() const;
  Status write(Batch& batch, bool sync = false);
  // Makes every state-machine write so far durable.
  Status flush();
  bool get_kv(std::string_view key, std::string* value) const;
  bool get_meta(std::string_view key, std::string* value) const;
  // Calls fn(key, value) for every kv key in [from, to) (to empty: to the end) in key order,
  // until fn returns false.
  Status scan_kv(std::string_view from, std::string_view to,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const;

  // --- whole-state snapshots (a member far behind gets the state machine, not the log) ---
  // Calls fn(cf, key, value) for every record of the kv (cf 0) and meta (cf 1) column families
  // as of one point in time (a RocksDB snapshot), until fn returns false.
  Status scan_state(
      const std::function<bool(int cf, std::string_view, std::string_view)>& fn) const;

  // A state being received into a staging instance (member/db.incoming); install_staged()
  // replaces the live state with it.
  class Staging {
   public:
    ~Staging();
    Status put(int cf, std::string_view key, std::string_view value);
    Status finish();  // flushes what is buffered
   private:
    friend class Engine;
    std::unique_ptr<rocksdb::DB> db_;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
    std::unique_ptr<rocksdb::WriteBatch> batch_;
  };
  Result<std::unique_ptr<Staging>> begin_staging();
  // Swaps the staged state in (closing and reopening the state instance). The caller keeps every
  // reader of the state away meanwhile (Store::replace_state).
  Status install_staged(std::unique_ptr<Staging> staged);

  // Approximate bytes on disk and in memory tables, for Status.dbSize and the space quota
  // (etcd's backend Size(): the bolt file, free pages included). Like a bolt file, it does not
  // shrink when keys are deleted or compacted away, only once defragment() rewrote the files.
  int64_t approximate_size() const;
  // The bytes live data takes (Status.dbSizeInUse; etcd's SizeInUse(): the file without its free
  // pages): approximate_size() less what compactions deleted since the last defragment() (or
  // start; Batch::delete_kv with a size), and never above RocksDB's own live-data estimate.
  int64_t live_data_size() const;
  // etcd's defragmentation: flushes the memory tables and rewrites every file of the state
  // machine (kv and meta) by a full compaction to the bottom level, so deleted and overwritten
  // versions leave the disk and approximate_size() drops to about live_data_size(). Blocks
  // until done; writes go on meanwhile.
  Status defragment();
  // CRC-32C (Castagnoli) over every kv record, key bytes then value bytes, in key order, as of
  // one point in time: Maintenance.Hash. Equal on members that applied the same entries (the
  // meta column family, with each member's own consistent index, is left out).
  Status hash_kv(uint32_t* out) const;
  const std::string& dir() const { return dir_; }
  // --unsafe-no-fsync: Raft log writes asked to sync are not synced.
  void set_unsafe_no_fsync(bool v) { no_fsync_ = v; }

 private:
  Engine() = default;
  std::string dir_;
  std::unique_ptr<rocksdb::DB> log_db_;  // raft_log, raft_meta
  std::unique_ptr<rocksdb::DB> db_;      // kv, meta
  std::vector<rocksdb::ColumnFamilyHandle*> log_handles_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* raft_log_ = nullptr;
  rocksdb::ColumnFamilyHandle* raft_meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* kv_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  bool no_fsync_ = false;
  std::atomic<int64_t> freed_{0};  // bytes deleted since the last defragment (live_data_size)
};

// Big-endian fixed-width encoding used by keys that must sort numerically.
std::string encode_u64(uint64_t v);
uint64_t decode_u64(std::string_view s);

}  // namespace outpost::storage
