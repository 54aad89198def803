#include "core/server/applier.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>

#include "core/auth/request_check.h"
#include "core/common/log.h"
#include "core/common/panic.h"
#include "core/mvcc/kv_ops.h"
#include "core/server/membership.h"

namespace outpost::server {
namespace {

// The waiting call's response when this member proposed the entry, else a scratch one: every
// member applies every entry, only the proposer answers.
template <class Resp>
Resp* response_or(google::protobuf::Message* waiting, Resp* scratch) {
  return waiting ? static_cast<Resp*>(waiting) : scratch;
}

}  // namespace

Applier::Applier(storage::Engine& engine, mvcc::Store& store, lease::Lessor& lessor,
                 auth::AuthStore& auth, ClusterRecord& cluster, Waiters& waiters, Options opts)
    : engine_(engine),
      store_(store),
      lessor_(lessor),
      auth_(auth),
      cluster_(cluster),
      waiters_(waiters),
      opts_(std::move(opts)),
      applied_(store.consistent_index()) {}

Applier::~Applier() { stop(); }

void Applier::start() {
  thread_ = std::thread([this] { loop(); });
}

void Applier::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Applier::enqueue(std::vector<raftpb::Entry> entries) {
  {
    std::lock_guard l(mu_);
    for (auto& e : entries) queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void Applier::loop() {
  pthread_setname_np(pthread_self(), "apply");
  std::vector<raftpb::Entry> todo;
  for (;;) {
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      todo.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    apply(todo);
    todo.clear();
    if (opts_.on_applied) opts_.on_applied(applied_.load());
  }
}

void Applier::apply(const std::vector<raftpb::Entry>& entries) {
  std::lock_guard a(apply_mu_);
  for (const auto& e : entries) apply_one(e);
}

void Applier::apply_one(const raftpb::Entry& e) {
  if (e.index() <= applied_.load()) return;  // already in the state machine
  if (e.type() == raftpb::EntryConfChange) return apply_conf_change(e);
  outpostpb::Request req;
  Waiters::Waiter w;
  if (e.type() == raftpb::EntryNormal && !e.data().empty()) {
    if (!req.ParseFromString(e.data()))
      OUTPOST_PANIC("undecodable entry in raft log", {"index", std::to_string(e.index())});
    w = waiters_.take(req.id());
    if (req.has_lease_revoke() && req.expiry_term() != 0 && req.expiry_term() != e.term()) {
      // An expiry decided by a leader that no longer led when its proposal was appended (see
      // expiry_term in internal.proto): the lease may have been renewed since. Only the
      // consistent index moves.
      OUTPOST_LOG(kInfo, "dropped a lease revoke decided in an earlier term",
                  log::kv_hex("lease-id", uint64_t(req.lease_revoke().id())),
                  log::kv("decided-term", req.expiry_term()), log::kv("entry-term", e.term()));
      req.clear_lease_revoke();
    }
  }
  // Empty entries (a new leader's) only move the consistent index.
  const auto start = std::chrono::steady_clock::now();
  apply_request(e.index(), req, w);
  const auto took = std::chrono::steady_clock::now() - start;
  if (took > opts_.warning_apply_duration) warn_slow_apply(req, took, opts_.warning_apply_duration);
}

namespace {

// Go's time.Duration.String for the durations logged: "106.302511ms", "1.5s", "850µs".
std::string go_duration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  char buf[64];
  if (ns < 1000) {
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
    return buf;
  }
  const char* unit = ns < 1'000'000 ? "µs" : ns < 1'000'000'000 ? "ms" : "s";
  const double v = ns < 1'000'000       ? double(ns) / 1e3
                   : ns < 1'000'000'000 ? double(ns) / 1e6
                                        : double(ns) / 1e9;
  std::snprintf(buf, sizeof buf, "%.9f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + unit;
}

// What etcd's loggable request shows: the operation and its key, values by their size only
// (a value or a password never reaches the log).
std::string loggable(const outpostpb::Request& req) {
  const auto* field = req.GetDescriptor()->FindFieldByNumber(int(req.op_case()));
  std::string op = field ? field->name() : "empty";
  switch (req.op_case()) {
    case outpostpb::Request::kPut:
      return op + ":<key:\"" + req.put().key() +
             "\" value_size:" + std::to_string(req.put().value().size()) +
             " lease:" + std::to_string(req.put().lease()) + " >";
    case outpostpb::Request::kDeleteRange:
      return op + ":<key:\"" + req.delete_range().key() + "\" range_end:\"" +
             req.delete_range().range_end() + "\" >";
    case outpostpb::Request::kTxn:
      return op + ":<compare_size:" + std::to_string(req.txn().compare_size()) +
             " success_size:" + std::to_string(req.txn().success_size()) +
             " failure_size:" + std::to_string(req.txn().failure_size()) + " >";
    default: return op + ":<size:" + std::to_string(req.ByteSizeLong()) + " >";
  }
}

}  // namespace

void Applier::warn_slow_apply(const outpostpb::Request& req, std::chrono::nanoseconds took,
                              std::chrono::nanoseconds expected) {
  OUTPOST_LOG(kWarn, "apply request took too long", log::kv("took", go_duration(took)),
              log::kv("expected-duration", go_duration(expected)), log::kv("prefix", ""),
              log::kv("request", loggable(req)), log::kv("response", ""));
}

void Applier::commit(mvcc::WriteTxn& txn, uint64_t index) {
  Status committed = txn.end();
  if (!committed) {
    // The in-memory index is ahead of the disk now; the only safe way on is a restart, which
    // gets the entries again from the Raft log.
    OUTPOST_PANIC("failed to commit applied entry", {"index", std::to_string(index)},
                  log::kv("error", committed.message()));
  }
}

void Applier::apply_request(uint64_t index, const outpostpb::Request& req, Waiters::Waiter& w) {
  auto leases = [this](int64_t id) { return lessor_.exists(id); };
  Status st;
  {
    mvcc::WriteTxn txn(store_);
    txn.set_consistent_index(index);
    if (!req.internal()) {
      auto lease_keys = [this](int64_t id) {
        auto info = lessor_.lookup(id, /*with_keys=*/true);
        return info ? info->keys : std::vector<std::string>{};
      };
      st = auth::check_request(auth_, {req.auth_user(), req.auth_revision()}, req, lease_keys);
    }
    // Growing requests while NOSPACE is active (etcd's capped applier), and the quota check
    // made again here (etcd's quota applier: applied, but answered NOSPACE).
    const int64_t cost = st ? quota_cost(req) : 0;
    if (cost > 0 && opts_.alarms && opts_.alarms->active(etcdserverpb::NOSPACE))
      st = Status::of(ErrorCode::kNoSpace);
    const bool fits = cost == 0 || !opts_.db_size || opts_.quota.fits(opts_.db_size(), cost);
    // A refused request moves only the consistent index.
    if (st && (auth::needs_admin(req) || req.has_authenticate())) {
      st = apply_auth(index, txn, req, w.resp);
    } else if (st) {
      switch (req.op_case()) {
        case outpostpb::Request::kPut: {
          etcdserverpb::PutResponse scratch;
          st = mvcc::put(txn, req.put(), response_or(w.resp, &scratch), leases);
          break;
        }
        case outpostpb::Request::kDeleteRange: {
          etcdserverpb::DeleteRangeResponse scratch;
          st = mvcc::delete_range(txn, req.delete_range(), response_or(w.resp, &scratch));
          break;
        }
        case outpostpb::Request::kTxn: {
          etcdserverpb::TxnResponse scratch;
          st = mvcc::txn(txn, &txn, req.txn(), response_or(w.resp, &scratch), leases);
          break;
        }
        case outpostpb::Request::kCompaction: {
          etcdserverpb::CompactionResponse scratch;
          st = mvcc::compaction(txn, req.compaction(), response_or(w.resp, &scratch));
          break;
        }
        case outpostpb::Request::kLeaseGrant: {
          etcdserverpb::LeaseGrantResponse scratch;
          auto* resp = response_or(w.resp, &scratch);
          auto ttl = lessor_.grant(txn, req.lease_grant().id(), req.lease_grant().ttl());
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
          auto* resp = response_or(w.resp, &scratch);
          st = lessor_.revoke(txn, req.lease_revoke().id());
          resp->mutable_header()->set_revision(txn.rev());
          break;
        }
        case outpostpb::Request::kLeaseRenew: {
          // Log entries of earlier builds (renewals now go to the leader outside the log). Every
          // member applies it; only the primary's renew moves a deadline.
          etcdserverpb::LeaseKeepAliveResponse scratch;
          auto* resp = response_or(w.resp, &scratch);
          auto ttl = lessor_.renew(req.lease_renew().id());
          resp->set_id(req.lease_renew().id());
          resp->set_ttl(ttl ? ttl.value() : 0);
          break;
        }
        case outpostpb::Request::kMemberAttrs: {
          const auto& a = req.member_attrs();
          cluster_.update([&](outpostpb::ClusterInfo& c) {
            for (auto& m : *c.mutable_members()) {
              if (m.id() != a.id()) continue;
              m.set_name(a.name());
              *m.mutable_client_urls() = a.client_urls();
              m.set_promote(a.promote());
              m.set_failover_after_s(a.failover_after_s());
            }
            txn.put_meta(ClusterRecord::kMetaKey, c.SerializeAsString());
          });
          break;
        }
        case outpostpb::Request::kAlarm: {
          etcdserverpb::AlarmResponse scratch;
          if (opts_.alarms) opts_.alarms->apply(txn, req.alarm(), response_or(w.resp, &scratch));
          break;
        }
        case outpostpb::Request::OP_NOT_SET: break;
        default: break;
      }
    }
    if (st && !fits) {
      st = Status::of(ErrorCode::kNoSpace);
      if (opts_.on_nospace && !(opts_.alarms && opts_.alarms->active(etcdserverpb::NOSPACE))) {
        OUTPOST_LOG(kWarn, "message exceeded backend quota; raising alarm",
                    log::kv("quota-size-bytes", opts_.quota.bytes()));
        opts_.on_nospace();
      }
    }
    commit(txn, index);
  }
  applied_ = index;
  if (w.done) w.done(st);
}

Status Applier::apply_auth(uint64_t index, mvcc::WriteTxn& txn, const outpostpb::Request& req,
                           google::protobuf::Message* waiting) {
  // Every auth response has only a header besides what is set here (the API fills it).
  switch (req.op_case()) {
    case outpostpb::Request::kAuthEnable: return auth_.enable(txn);
    case outpostpb::Request::kAuthDisable: return auth_.disable(txn);
    case outpostpb::Request::kAuthUserAdd: return auth_.user_add(txn, req.auth_user_add());
    case outpostpb::Request::kAuthUserDelete:
      return auth_.user_delete(txn, req.auth_user_delete().name());
    case outpostpb::Request::kAuthUserChangePassword:
      return auth_.user_change_password(txn, req.auth_user_change_password());
    case outpostpb::Request::kAuthUserGrantRole:
      return auth_.user_grant_role(txn, req.auth_user_grant_role().user(),
                                   req.auth_user_grant_role().role());
    case outpostpb::Request::kAuthUserRevokeRole:
      return auth_.user_revoke_role(txn, req.auth_user_revoke_role().name(),
                                    req.auth_user_revoke_role().role());
    case outpostpb::Request::kAuthRoleAdd: return auth_.role_add(txn, req.auth_role_add().name());
    case outpostpb::Request::kAuthRoleDelete:
      return auth_.role_delete(txn, req.auth_role_delete().role());
    case outpostpb::Request::kAuthRoleGrantPermission:
      return auth_.role_grant_permission(txn, req.auth_role_grant_permission());
    case outpostpb::Request::kAuthRoleRevokePermission:
      return auth_.role_revoke_permission(txn, req.auth_role_revoke_permission());
    case outpostpb::Request::kAuthenticate: {
      auto token =
          auth_.authenticate(req.authenticate().name(), req.authenticate().simple_token(), index);
      if (!token) return token.status();
      etcdserverpb::AuthenticateResponse scratch;
      response_or(waiting, &scratch)->set_token(token.value());
      return Status::ok();
    }
    default: return Status::ok();
  }
}

void Applier::apply_conf_change(const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  outpostpb::ConfChangeContext ctx;
  if (!cc.ParseFromString(e.data()) || !ctx.ParseFromString(cc.context()))
    OUTPOST_PANIC("undecodable conf change in raft log", {"index", std::to_string(e.index())});
  Waiters::Waiter w = waiters_.take(cc.id());
  // The same verdict as the raft thread's (MembershipView): same checks, same membership
  // before this entry.
  bool removed_self = false;
  Status v;
  {
    mvcc::WriteTxn txn(store_);
    txn.set_consistent_index(e.index());
    cluster_.update([&](outpostpb::ClusterInfo& c) {
      v = validate_conf_change(c, cc, ctx, opts_.max_learners);
      if (!v) return;
      server::apply_conf_change(&c, cc, ctx);
      removed_self = cc.type() == raftpb::ConfChangeRemoveNode && cc.node_id() == c.local_id();
      txn.put_meta(ClusterRecord::kMetaKey, c.SerializeAsString());
    });
    commit(txn, e.index());
  }
  applied_ = e.index();
  if (w.done) w.done(v);
  if (removed_self && !removed_.exchange(true)) {
    OUTPOST_LOG(kWarn, "the member has been permanently removed from the cluster",
                log::kv_hex("member-id", cluster_.local_id()));
    if (opts_.on_removed) opts_.on_removed();
  }
}

Result<outpostpb::ClusterInfo> Applier::install(std::unique_ptr<storage::Engine::Staging> staged) {
  std::lock_guard a(apply_mu_);
  Status s = store_.replace_state([&] { return engine_.install_staged(std::move(staged)); });
  if (!s) {
    // The old state may be closed already; a restart goes back to it (Engine::open).
    OUTPOST_PANIC("failed to install snapshot", log::kv("error", s.message()));
  }
  s = lessor_.restore(engine_, store_);
  if (!s) return s;
  s = auth_.restore(engine_);
  if (!s) return s;
  if (opts_.alarms) {
    s = opts_.alarms->restore(engine_);
    if (!s) return s;
  }
  std::string raw;
  outpostpb::ClusterInfo info;
  if (engine_.get_meta(ClusterRecord::kMetaKey, &raw) && info.ParseFromString(raw)) {
    // The record came from the leader: it names the leader as the local member.
    info.set_local_id(cluster_.local_id());
    auto b = engine_.new_batch();
    b.put_meta(ClusterRecord::kMetaKey, info.SerializeAsString());
    s = engine_.write(b, /*sync=*/true);
    if (!s) return s;
    cluster_.set(info);
  } else {
    OUTPOST_LOG(kWarn, "the received state holds no cluster record; keeping the local one");
    info = cluster_.get();
  }
  applied_ = store_.consistent_index();
  return info;
}

}  // namespace outpost::server
