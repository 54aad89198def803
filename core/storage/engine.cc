#include "core/storage/engine.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "core/common/clock.h"
#include "core/common/crc32c.h"
#include "core/common/log.h"
#include "core/common/metrics.h"
#include "core/common/panic.h"

namespace outpost::storage {
namespace {

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::ok();
  if (s.IsCorruption()) return {ErrorCode::kCorrupt, std::string(what) + ": " + s.ToString()};
  return Status::io(std::string(what) + ": " + s.ToString());
}

}  // namespace

std::string encode_u64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[size_t(i)] = char(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t decode_u64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | uint8_t(s[i]);
  return v;
}

Batch::Batch() : wb_(std::make_unique<rocksdb::WriteBatch>()) {}
Batch::~Batch() = default;
Batch::Batch(Batch&&) noexcept = default;
Batch& Batch::operator=(Batch&&) noexcept = default;
void Batch::put_kv(std::string_view k, std::string_view v) {
  wb_->Put(kv_, rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
}
void Batch::delete_kv(std::string_view k) { wb_->Delete(kv_, rocksdb::Slice(k.data(), k.size())); }
void Batch::delete_kv(std::string_view k, size_t freed) {
  delete_kv(k);
  freed_ += freed;
}
void Batch::put_meta(std::string_view k, std::string_view v) {
  wb_->Put(meta_, rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
}
void Batch::delete_meta(std::string_view k) {
  wb_->Delete(meta_, rocksdb::Slice(k.data(), k.size()));
}
size_t Batch::count() const { return size_t(wb_->Count()); }
void Batch::clear() {
  wb_->Clear();
  freed_ = 0;
}

namespace {

const char* reason_name(rocksdb::BackgroundErrorReason r) {
  switch (r) {
    case rocksdb::BackgroundErrorReason::kFlush: return "flush";
    case rocksdb::BackgroundErrorReason::kCompaction: return "compaction";
    case rocksdb::BackgroundErrorReason::kWriteCallback: return "write";
    case rocksdb::BackgroundErrorReason::kMemTable: return "memtable";
    case rocksdb::BackgroundErrorReason::kManifestWrite: return "manifest write";
    case rocksdb::BackgroundErrorReason::kFlushNoWAL: return "flush without WAL";
    case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL: return "manifest write without WAL";
  }
  return "unknown";
}

// RocksDB's own log, sent to Outpost's instead of a LOG file in the data dir: warnings and
// errors only (etcd's data dir has no such file, and its info lines are noise to an operator).
// It also keeps the disk out of logging: librocksdb 7.8's file logger aborts on an assertion at
// the line after one that failed to fit on a full disk (seen with the nemesis disk-full fault).
class RocksLogger : public rocksdb::Logger {
 public:
  RocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < rocksdb::InfoLogLevel::WARN_LEVEL) return;
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, format, ap);
    OUTPOST_LOG(kWarn, "rocksdb", log::kv("message", std::string_view(buf)));
  }
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
};

// A write RocksDB failed on its own threads (a memtable flush, a compaction, a manifest update:
// a full disk, an I/O error) leaves the instance refusing writes until it recovers by itself, and
// librocksdb 7.8's recovery from "no space" trips one of its own assertions (seen with the nemesis
// disk-full fault: the member aborted with no word about the disk). Outpost stops here instead,
// with the reason, as etcd stops when its backend cannot commit. Nothing acknowledged is lost: the
// Raft log was synced before any acknowledgement and replays on restart.
class BackgroundErrorListener : public rocksdb::EventListener {
 public:
  explicit BackgroundErrorListener(std::string path) : path_(std::move(path)) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (error == nullptr || error->ok()) return;
    OUTPOST_PANIC("storage write failed", log::kv("path", path_),
                  log::kv("operation", reason_name(reason)), log::kv("error", error->ToString()));
  }

 private:
  std::string path_;
};

// Opens one instance with the default column family plus `names`; handles come back in order
// (default first).
// atomic_flush: memtables of all column families are flushed together (the state machine
// instance, which writes without a WAL, must never be seen with kv and meta from different
// points).
Status open_instance(const std::string& path, const std::vector<std::string>& names,
                     bool atomic_flush, std::unique_ptr<rocksdb::DB>* db,
                     std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  // RocksDB warns ("Error when reading ... dir") when it has to create the directory itself.
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  rocksdb::Options options;
  options.atomic_flush = atomic_flush;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.max_open_files = 512;
  options.listeners.push_back(std::make_shared<BackgroundErrorListener>(path));
  options.info_log = std::make_shared<RocksLogger>();
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_opts(options);
  // Memory tables count in approximate_size() (the space quota) by the arena blocks they hold:
  // small blocks keep that close to the bytes written (the default would be 1 MiB at once).
  cf_opts.arena_block_size = 64 << 10;
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_opts);
  for (const auto& n : names) cfs.emplace_back(n, cf_opts);
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), path, cfs, handles, &raw);
  if (!s.ok()) return from_rocks(s, "open " + path);
  db->reset(raw);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/member", ec);
  if (ec) return Status::io("cannot create data directory " + dir + ": " + ec.message());
  // A crash in the middle of install_staged(): go back to the state from before it (the Raft
  // log never recorded the snapshot, so the leader sends it again).
  // With both db and db.old present the crash came after the received state was renamed into
  // place: db.old is the replaced state, left over.
  const std::string live = dir + "/member/db";
  if (!std::filesystem::exists(live) && std::filesystem::exists(live + ".old"))
    std::filesystem::rename(live + ".old", live, ec);
  else
    std::filesystem::remove_all(live + ".old", ec);
  std::filesystem::remove_all(live + ".incoming", ec);
  std::unique_ptr<Engine> e(new Engine());
  e->dir_ = dir;
  Status s = open_instance(dir + "/member/wal", {"raft_log", "raft_meta"}, false, &e->log_db_,
                           &e->log_handles_);
  if (!s) return s;
  s = open_instance(dir + "/member/db", {"kv", "meta"}, true, &e->db_, &e->handles_);
  if (!s) return s;
  e->raft_log_ = e->log_handles_[1];
  e->raft_meta_ = e->log_handles_[2];
  e->kv_ = e->handles_[1];
  e->meta_ = e->handles_[2];
  return e;
}

Engine::~Engine() {
  for (auto* db : {&db_, &log_db_}) {
    if (!*db) continue;
    for (auto* h : (db == &db_ ? handles_ : log_handles_)) (*db)->DestroyColumnFamilyHandle(h);
    (*db)->Close();
  }
}

namespace {
// etcd's disk latency histograms, with etcd's buckets (1 ms doubling to about 8 s).
metrics::Histogram& wal_fsync_seconds() {
  static auto& h = metrics::default_registry()
                       .histogram("etcd_disk_wal_fsync_duration_seconds",
                                  "Time to write a Ready's entries and hard state to the Raft log "
                                  "with fsync, in seconds.",
                                  metrics::exponential_buckets(0.001, 2, 14))
                       .get();
  return h;
}
metrics::Histogram& backend_commit_seconds() {
  static auto& h = metrics::default_registry()
                       .histogram("etcd_disk_backend_commit_duration_seconds",
                                  "Time to commit a batch of applied entries to the state "
                                  "machine's RocksDB instance, in seconds.",
                                  metrics::exponential_buckets(0.001, 2, 14))
                       .get();
  return h;
}
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::real().now() - start).count();
}
}  // namespace

Status Engine::write_raft(const RaftWrite& w) {
  rocksdb::WriteBatch wb;
  if (w.truncate_from > 0)
    wb.DeleteRange(raft_log_, encode_u64(w.truncate_from), encode_u64(UINT64_MAX));
  for (const auto& r : w.records) wb.Put(raft_log_, encode_u64(r.index), r.data);
  for (const auto& [k, v] : w.meta) wb.Put(raft_meta_, k, v);
  rocksdb::WriteOptions wo;
  wo.sync = w.sync && !no_fsync_;
  if (!wo.sync) return from_rocks(log_db_->Write(wo, &wb), "write raft log");
  const Clock::time_point start = Clock::real().now();
  Status s = from_rocks(log_db_->Write(wo, &wb), "write raft log");
  wal_fsync_seconds().observe(seconds_since(start));
  return s;
}

Status Engine::append_log(const std::vector<LogRecord>& records,
                          const std::vector<std::pair<std::string, std::string>>& raft_meta) {
  RaftWrite w;
  w.records = records;
  w.meta = raft_meta;
  return write_raft(w);
}

Status Engine::read_log(uint64_t from, uint64_t to, std::vector<LogRecord>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(log_db_->NewIterator(rocksdb::ReadOptions(), raft_log_));
  uint64_t want = from;
  for (it->Seek(encode_u64(from)); it->Valid() && want < to; it->Next()) {
    const uint64_t idx = decode_u64(std::string_view(it->key().data(), it->key().size()));
    if (idx != want) break;
    out->push_back({idx, it->value().ToString()});
    ++want;
  }
  return from_rocks(it->status(), "read raft log");
}

uint64_t Engine::last_log_index() const {
  std::unique_ptr<rocksdb::Iterator> it(log_db_->NewIterator(rocksdb::ReadOptions(), raft_log_));
  it->SeekToLast();
  if (!it->Valid()) return 0;
  return decode_u64(std::string_view(it->key().data(), it->key().size()));
}

Status Engine::compact_log(uint64_t before) {
  rocksdb::WriteBatch wb;
  wb.DeleteRange(raft_log_, encode_u64(0), encode_u64(before));
  return from_rocks(log_db_->Write(rocksdb::WriteOptions(), &wb), "compact raft log");
}

bool Engine::get_raft_meta(std::string_view key, std::string* value) const {
  return log_db_
      ->Get(rocksdb::ReadOptions(), raft_meta_, rocksdb::Slice(key.data(), key.size()), value)
      .ok();
}

Batch Engine::new_batch() const {
  Batch b;
  b.kv_ = kv_;
  b.meta_ = meta_;
  return b;
}

Status Engine::write(Batch& batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  const Clock::time_point start = Clock::real().now();
  Status s = from_rocks(db_->Write(wo, batch.wb_.get()), "write state machine");
  if (s && batch.freed_ > 0) freed_ += int64_t(batch.freed_);
  if (s && sync) s = flush();
  backend_commit_seconds().observe(seconds_since(start));
  return s;
}

Status Engine::flush() {
  // librocksdb 7.8 (Debian's, built with its assertions) aborts when a flush runs out of space:
  // its table builder syncs a file whose write already failed. So a flush that cannot fit is not
  // started; the caller keeps the Raft log (nothing is lost) and tries again later, when the
  // space may be back. The memory tables' size bounds what the flush writes.
  uint64_t mem = 0;
  if (db_->GetAggregatedIntProperty("rocksdb.cur-size-all-mem-tables", &mem)) {
    struct statvfs st {};
    if (statvfs(dir_.c_str(), &st) == 0) {
      const uint64_t free = uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
      const uint64_t need = mem + (4u << 20);
      if (free < need)
        return Status::io("flush: no space left on device (" + std::to_string(free) +
                          " bytes free, the flush needs up to " + std::to_string(need) + ")");
    }
  }
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return from_rocks(db_->Flush(fo, {kv_, meta_}), "flush");
}

bool Engine::get_kv(std::string_view key, std::string* value) const {
  return db_->Get(rocksdb::ReadOptions(), kv_, rocksdb::Slice(key.data(), key.size()), value).ok();
}

bool Engine::get_meta(std::string_view key, std::string* value) const {
  return db_->Get(rocksdb::ReadOptions(), meta_, rocksdb::Slice(key.data(), key.size()), value)
      .ok();
}

Status Engine::scan_kv(std::string_view from, std::string_view to,
                       const std::function<bool(std::string_view, std::string_view)>& fn) const {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(to.data(), to.size());
  if (!to.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, kv_));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size())))
      break;
  }
  return from_rocks(it->status(), "scan kv");
}

Status Engine::scan_state(
    const std::function<bool(int, std::string_view, std::string_view)>& fn) const {
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  Status result;
  bool go = true;
  for (int cf = 0; cf < 2 && go; ++cf) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf == 0 ? kv_ : meta_));
    for (it->SeekToFirst(); it->Valid() && go; it->Next())
      go = fn(cf, std::string_view(it->key().data(), it->key().size()),
              std::string_view(it->value().data(), it->value().size()));
    if (!it->status().ok()) result = from_rocks(it->status(), "scan state");
  }
  db_->ReleaseSnapshot(snap);
  return result;
}

Engine::Staging::~Staging() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

Status Engine::Staging::put(int cf, std::string_view key, std::string_view value) {
  if (cf < 0 || cf > 1)
    return Status(ErrorCode::kCorrupt, "snapshot record for an unknown column family");
  batch_->Put(handles_[size_t(cf) + 1], rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
  if (batch_->GetDataSize() < (4u << 20)) return Status::ok();
  return finish();
}

Status Engine::Staging::finish() {
  if (batch_->Count() == 0) return Status::ok();
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;  // the staging instance is flushed before it is installed
  auto s = db_->Write(wo, batch_.get());
  batch_->Clear();
  return from_rocks(s, "write staged snapshot");
}

Result<std::unique_ptr<Engine::Staging>> Engine::begin_staging() {
  const std::string path = dir_ + "/member/db.incoming";
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  auto st = std::make_unique<Staging>();
  Status s = open_instance(path, {"kv", "meta"}, true, &st->db_, &st->handles_);
  if (!s) return s;
  st->batch_ = std::make_unique<rocksdb::WriteBatch>();
  return st;
}

Status Engine::install_staged(std::unique_ptr<Staging> staged) {
  Status s = staged->finish();
  if (!s) return s;
  rocksdb::FlushOptions fo;
  fo.wait = true;
  s = from_rocks(staged->db_->Flush(fo, staged->handles_), "flush staged snapshot");
  if (!s) return s;
  staged.reset();  // closes the staging instance
  const std::string live = dir_ + "/member/db", incoming = live + ".incoming", old = live + ".old";
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  db_->Close();
  db_.reset();
  std::error_code ec;
  std::filesystem::remove_all(old, ec);
  std::filesystem::rename(live, old, ec);
  if (!ec) std::filesystem::rename(incoming, live, ec);
  if (ec) return Status::io("cannot swap in the received snapshot: " + ec.message());
  s = open_instance(live, {"kv", "meta"}, true, &db_, &handles_);
  if (!s) return s;
  kv_ = handles_[1];
  meta_ = handles_[2];
  std::filesystem::remove_all(old, ec);
  return Status::ok();
}

int64_t Engine::approximate_size() const {
  uint64_t total = 0;
  for (auto* h : {kv_, meta_}) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) total += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) total += v;
  }
  return int64_t(total);
}

int64_t Engine::live_data_size() const {
  uint64_t total = 0;
  for (auto* h : {kv_, meta_}) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.estimate-live-data-size", &v)) total += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) total += v;
  }
  const int64_t size = approximate_size();
  return std::max<int64_t>(0, std::min({int64_t(total), size, size - freed_.load()}));
}

Status Engine::defragment() {
  Status s = flush();
  if (!s) return s;
  const int64_t freed = freed_.load();
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.change_level = true;  // everything ends in one level: later reads touch fewer files
  for (auto* h : {kv_, meta_}) {
    s = from_rocks(db_->CompactRange(co, h, nullptr, nullptr), "defragment");
    if (!s) return s;
  }
  freed_ -= freed;  // what was deleted meanwhile may still be on disk
  return Status::ok();
}

Status Engine::hash_kv(uint32_t* out) const {
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = false;
  Crc32c crc;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, kv_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    crc.update(std::string_view(it->key().data(), it->key().size()));
    crc.update(std::string_view(it->value().data(), it->value().size()));
  }
  Status s = from_rocks(it->status(), "hash kv");
  it.reset();
  db_->ReleaseSnapshot(snap);
  *out = crc.value();
  return s;
}

}  // namespace outpost::storage
