#include "core/server/member.h"

#include <chrono>
#include <cstdlib>

#include "core/common/log.h"
#include "core/mvcc/kv_ops.h"
#include "core/server/membership.h"

namespace outpost::server {
namespace {

constexpr std::string_view kMetaCluster = "cluster";
constexpr std::string_view kRaftMetaTerm = "term";
// Entries kept in the log behind the applied index when it is trimmed (etcd keeps 5000).
constexpr uint64_t kLogRetainEntries = 5000;

}  // namespace

Result<std::unique_ptr<Member>> Member::open(const MemberOptions& opts) {
  std::unique_ptr<Member> m(new Member(opts));
  Status s = m->init();
  if (!s) return s;
  return m;
}

Status Member::init() {
  auto engine = storage::Engine::open(opts_.data_dir);
  if (!engine) return engine.status();
  engine_ = std::move(engine.value());

  // Cluster identity: from disk when the member has run before, else from the flags.
  std::string raw;
  if (engine_->get_meta(kMetaCluster, &raw)) {
    if (!cluster_.ParseFromString(raw))
      return {ErrorCode::kCorrupt, "corrupt cluster record in " + opts_.data_dir};
  } else {
    cluster_ = initial_cluster_info(opts_.initial_cluster, opts_.cluster_token, opts_.name,
                                    opts_.advertise_client_urls);
    if (cluster_.local_id() == 0)
      return {ErrorCode::kInternal, "member " + opts_.name + " is not in --initial-cluster"};
    auto b = engine_->new_batch();
    b.put_meta(kMetaCluster, cluster_.SerializeAsString());
    Status s = engine_->write(b, /*sync=*/true);
    if (!s) return s;
  }
  // Client URLs may change between runs; the local member advertises what it was given now.
  for (auto& m : *cluster_.mutable_members()) {
    if (m.id() != cluster_.local_id()) continue;
    m.clear_client_urls();
    for (const auto& u : opts_.advertise_client_urls) m.add_client_urls(u);
  }

  // A single member wins an election at every start; the term records that, as Raft would
  // (etcd: bootstrap entries in term 1, first election to term 2, one more per restart).
  term_ = engine_->get_raft_meta(kRaftMetaTerm, &raw) ? storage::decode_u64(raw) + 1 : 2;
  Status s = engine_->append_log({}, {{std::string(kRaftMetaTerm), storage::encode_u64(term_)}});
  if (!s) return s;

  auto store = mvcc::Store::open(engine_.get());
  if (!store) return store.status();
  store_ = std::move(store.value());

  // etcd's smallest lease TTL: 1.5 election timeouts, rounded up to whole seconds.
  const int64_t min_ttl = int64_t((opts_.election_timeout_ms * 3 / 2 + 999) / 1000);
  lessor_ = std::make_unique<lease::Lessor>(min_ttl);
  s = lessor_->restore(*engine_, *store_);
  if (!s) return s;
  store_->set_lease_hook(lessor_.get());

  // Replay what the log holds beyond the state machine.
  const uint64_t applied = store_->consistent_index();
  const uint64_t last = engine_->last_log_index();
  applied_index_ = applied;
  last_index_ = std::max(last, applied);
  if (last > applied) {
    std::vector<storage::LogRecord> recs;
    s = engine_->read_log(applied + 1, last + 1, &recs);
    if (!s) return s;
    if (recs.size() != last - applied)
      return {ErrorCode::kCorrupt, "raft log has a gap after applied index " +
                                       std::to_string(applied)};
    for (const auto& r : recs) apply(r.index, r.data);
    OUTPOST_LOG(kInfo, "replayed raft log", log::kv("from", applied + 1),
                log::kv("to", last), log::kv("revision", store_->current_revision()));
  }
  log_compacted_to_ = applied;
  // Like a newly elected Raft leader, start the term with an empty entry.
  {
    outpostpb::Request noop;
    storage::LogRecord rec{last_index_.load() + 1, noop.SerializeAsString()};
    s = engine_->append_log({rec});
    if (!s) return s;
    apply(rec.index, rec.data);
    last_index_ = rec.index;
  }

  next_id_ = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) << 8;
  // The only member leads: its lease clock starts now, with a full TTL for every lease.
  lessor_->promote();
  log_thread_ = std::thread([this] { log_loop(); });
  apply_thread_ = std::thread([this] { apply_loop(); });
  lease_thread_ = std::thread([this] { lease_loop(); });
  OUTPOST_LOG(kInfo, "member started", log::kv("name", opts_.name),
              log::kv_hex("member-id", member_id()), log::kv_hex("cluster-id", cluster_id()),
              log::kv("term", term_), log::kv("applied-index", applied_index_.load()),
              log::kv("revision", store_->current_revision()));
  return Status::ok();
}

Member::~Member() { stop(); }

void Member::stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  log_cv_.notify_all();
  apply_cv_.notify_all();
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (log_thread_.joinable()) log_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  std::map<uint64_t, Waiter> left;
  {
    std::lock_guard l(mu_);
    left.swap(waiters_);
  }
  for (auto& [_, w] : left) w.done(Status::of(ErrorCode::kStopped));
}

void Member::propose(outpostpb::Request req, google::protobuf::Message* resp, Done done) {
  req.set_id(next_id_.fetch_add(1));
  Pending p;
  p.data = req.SerializeAsString();
  if (p.data.size() > opts_.max_request_bytes) {
    done(Status::of(ErrorCode::kRequestTooLarge));
    return;
  }
  bool accepted = false;
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      waiters_.emplace(req.id(), Waiter{resp, std::move(done)});
      p.req = std::move(req);
      proposals_.push_back(std::move(p));
      accepted = true;
    }
  }
  if (!accepted) {  // the member is stopping; called outside the lock
    done(Status::of(ErrorCode::kStopped));
    return;
  }
  log_cv_.notify_one();
}

void Member::log_loop() {
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock l(mu_);
      log_cv_.wait(l, [&] { return stopping_ || !proposals_.empty(); });
      if (stopping_) return;
      batch.swap(proposals_);
    }
    std::vector<storage::LogRecord> recs;
    recs.reserve(batch.size());
    uint64_t index = last_index_.load();
    for (auto& p : batch) recs.push_back({++index, std::move(p.data)});
    Status s = engine_->append_log(recs);
    if (!s) {
      // Nothing of this batch is durable: fail its callers and keep serving.
      OUTPOST_LOG(kError, "failed to persist proposals", log::kv("error", s.message()));
      std::vector<Waiter> failed;
      {
        std::lock_guard l(mu_);
        for (auto& p : batch) {
          auto it = waiters_.find(p.req.id());
          if (it != waiters_.end()) {
            failed.push_back(std::move(it->second));
            waiters_.erase(it);
          }
        }
      }
      for (auto& w : failed) w.done(s);
      batch.clear();
      continue;
    }
    last_index_ = index;
    batch.clear();
    {
      std::lock_guard l(mu_);
      for (auto& r : recs) committed_.push_back(std::move(r));
    }
    apply_cv_.notify_one();
  }
}

void Member::apply_loop() {
  std::deque<storage::LogRecord> todo;
  for (;;) {
    {
      std::unique_lock l(mu_);
      apply_cv_.wait(l, [&] { return stopping_ || !committed_.empty(); });
      if (committed_.empty() && stopping_) return;
      todo.swap(committed_);
    }
    for (auto& r : todo) apply(r.index, r.data);
    maybe_compact_log(applied_index_.load());
    todo.clear();
  }
}

void Member::apply(uint64_t index, const std::string& data) {
  outpostpb::Request req;
  if (!req.ParseFromString(data)) {
    OUTPOST_LOG(kFatal, "undecodable entry in raft log", log::kv("index", index));
    std::abort();
  }
  Waiter w{nullptr, nullptr};
  {
    std::lock_guard l(mu_);
    auto it = waiters_.find(req.id());
    if (it != waiters_.end()) {
      w = std::move(it->second);
      waiters_.erase(it);
    }
  }
  auto leases = [this](int64_t id) { return lease_exists(id); };
  Status st;
  {
    mvcc::WriteTxn txn(*store_);
    txn.set_consistent_index(index);
    switch (req.op_case()) {
      case outpostpb::Request::kPut: {
        etcdserverpb::PutResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::PutResponse*>(w.resp) : &scratch;
        st = mvcc::put(txn, req.put(), resp, leases);
        break;
      }
      case outpostpb::Request::kDeleteRange: {
        etcdserverpb::DeleteRangeResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::DeleteRangeResponse*>(w.resp) : &scratch;
        st = mvcc::delete_range(txn, req.delete_range(), resp);
        break;
      }
      case outpostpb::Request::kTxn: {
        etcdserverpb::TxnResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::TxnResponse*>(w.resp) : &scratch;
        st = mvcc::txn(txn, &txn, req.txn(), resp, leases);
        break;
      }
      case outpostpb::Request::kCompaction: {
        etcdserverpb::CompactionResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::CompactionResponse*>(w.resp) : &scratch;
        st = mvcc::compaction(txn, req.compaction(), resp);
        break;
      }
      case outpostpb::Request::kLeaseGrant: {
        etcdserverpb::LeaseGrantResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::LeaseGrantResponse*>(w.resp) : &scratch;
        auto ttl = lessor_->grant(txn, req.lease_grant().id(), req.lease_grant().ttl());
        st = ttl.status();
        if (ttl) {
          resp->set_id(req.lease_grant().id());
          resp->set_ttl(ttl.value());
          resp->mutable_header()->set_revision(txn.rev());
        }
        break;
      }
      case outpostpb::Request::kLeaseRevoke: {
        etcdserverpb::LeaseRevokeResponse scratch;
        auto* resp = w.resp ? static_cast<etcdserverpb::LeaseRevokeResponse*>(w.resp) : &scratch;
        st = lessor_->revoke(txn, req.lease_revoke().id());
        resp->mutable_header()->set_revision(txn.rev());
        break;
      }
      case outpostpb::Request::OP_NOT_SET:
        break;
    }
    Status committed = txn.end();
    if (!committed) {
      // The in-memory index is ahead of the disk now; the only safe way on is a restart that
      // replays the durable log.
      OUTPOST_LOG(kFatal, "failed to commit applied entry", log::kv("index", index),
                  log::kv("error", committed.message()));
      std::abort();
    }
  }
  applied_index_ = index;
  if (w.done) w.done(st);
}

int64_t Member::next_lease_id() {
  const uint64_t ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  const uint64_t low = ((ms << 8) + lease_seq_.fetch_add(1)) & ((uint64_t(1) << 48) - 1);
  const uint64_t id = ((member_id() & 0xffff) << 48 | low) & (uint64_t(INT64_MAX));
  return id == 0 ? 1 : int64_t(id);
}

void Member::lease_loop() {
  std::unique_lock l(mu_);
  while (!stopping_) {
    lease_cv_.wait_for(l, std::chrono::milliseconds(500));
    if (stopping_) return;
    l.unlock();
    for (int64_t id : lessor_->expired(1000)) {
      {
        std::lock_guard g(mu_);
        if (!revoking_.insert(id).second) continue;
      }
      OUTPOST_LOG(kInfo, "lease expired; revoking", log::kv_hex("lease-id", uint64_t(id)));
      outpostpb::Request r;
      r.mutable_lease_revoke()->set_id(id);
      auto* resp = new etcdserverpb::LeaseRevokeResponse;
      propose(std::move(r), resp, [this, id, resp](const Status&) {
        delete resp;
        std::lock_guard g(mu_);
        revoking_.erase(id);
      });
    }
    l.lock();
  }
}

void Member::maybe_compact_log(uint64_t applied) {
  if (applied < log_compacted_to_ + opts_.snapshot_count + kLogRetainEntries) return;
  // Make the applied state durable before the log entries that rebuild it go away.
  auto b = engine_->new_batch();
  Status s = engine_->write(b, /*sync=*/true);
  if (s) s = engine_->compact_log(applied - kLogRetainEntries + 1);
  if (!s) {
    OUTPOST_LOG(kWarn, "failed to compact raft log", log::kv("error", s.message()));
    return;
  }
  log_compacted_to_ = applied - kLogRetainEntries;
  OUTPOST_LOG(kInfo, "compacted raft log", log::kv("compact-index", log_compacted_to_));
}

}  // namespace outpost::server
