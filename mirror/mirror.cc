#include "mirror/mirror.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/common/log.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "mirror/plan.h"

namespace outpost::mirror {
namespace {

using Clock = std::chrono::steady_clock;
using etcdserverpb::KV;
using etcdserverpb::Lease;
using etcdserverpb::Watch;

constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::milliseconds(5000);
constexpr auto kRpcTimeout = std::chrono::seconds(10);
constexpr int64_t kPageSize = 1000;
constexpr auto kProgressEvery = std::chrono::seconds(1);
constexpr auto kProgressTrustDelay = std::chrono::milliseconds(900);
constexpr auto kGoneLeaseMemory = std::chrono::seconds(10);
const std::string kCheckpointFamily = std::string(1, '\0') + "outpost-mirror/";

// A transport failure: worth trying the next endpoint.
bool retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return true;
    default: return false;
  }
}

// Refused for who we are (bad password, no permission): retrying cannot help.
bool refused(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         s.error_message().rfind("etcdserver: authentication failed", 0) == 0;
}

bool compacted(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::OUT_OF_RANGE &&
         s.error_message().find("compacted") != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void set_deadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
}

// One side: its endpoints in order, a channel to the current one, and the auth token when the
// side has a user. Not thread-safe: each thread that talks to a side has its own Side.
class Side {
 public:
  Side(std::string role, const Endpoints& cfg)
      : role_(std::move(role)), cfg_(cfg), creds_(credentials(cfg)) {
    connect();
  }
  KV::Stub& kv() { return *kv_; }
  Watch::Stub& watch() { return *watch_; }
  Lease::Stub& lease() { return *lease_; }
  const std::string& endpoint() const { return cfg_.endpoints[current_]; }
  const std::string& role() const { return role_; }
  size_t endpoint_count() const { return cfg_.endpoints.size(); }

  // The current endpoint failed: move to the next one.
  void fail_over(const std::string& why) {
    const std::string from = endpoint();
    current_ = (current_ + 1) % cfg_.endpoints.size();
    OUTPOST_LOG(kWarn, "endpoint failed; switching", log::kv("side", role_), log::kv("from", from),
                log::kv("to", endpoint()), log::kv("error", why));
    connect();
  }

  // The same endpoint on a new connection: whatever the old one still had in flight (a silent
  // link's backlog for a cancelled watch) is dropped with it instead of arriving first.
  void renew() { connect(); }

  // Readies a call's context: the RPC deadline (unless deadline = false: a watch stream) and, on a
  // side with a user, the token (authenticating first when there is none). Not OK: the
  // authentication failed, with its status (retryable when the endpoint did not answer).
  grpc::Status prepare(grpc::ClientContext* ctx, bool deadline = true) {
    if (deadline) set_deadline(ctx);
    if (cfg_.user.empty()) return grpc::Status::OK;
    if (token_.empty()) {
      etcdserverpb::AuthenticateRequest req;
      req.set_name(cfg_.user);
      req.set_password(cfg_.password);
      etcdserverpb::AuthenticateResponse resp;
      grpc::ClientContext actx;
      set_deadline(&actx);
      const grpc::Status s = auth_->Authenticate(&actx, req, &resp);
      if (!s.ok()) {
        OUTPOST_LOG(kWarn, "authentication failed", log::kv("side", role_),
                    log::kv("endpoint", endpoint()), log::kv("user", cfg_.user),
                    log::kv("error", s.error_message()));
        return s;
      }
      token_ = resp.token();
    }
    ctx->AddMetadata("token", token_);
    return grpc::Status::OK;
  }

  // Whether a call failed because of its token (expired, from an older auth revision, or lost):
  // then the token is dropped, so the next prepare() authenticates again. At most three times in
  // a row, so a user that cannot get a working token is not retried forever.
  bool token_refused(const grpc::Status& s) {
    if (cfg_.user.empty()) return false;
    const std::string& m = s.error_message();
    const bool refused = s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                         m == "etcdserver: revision of auth store is old" ||
                         m == "etcdserver: user name is empty";
    if (!refused || ++refusals_ > 3) return false;
    OUTPOST_LOG(kInfo, "token refused; authenticating again", log::kv("side", role_),
                log::kv("error", m));
    token_.clear();
    return true;
  }
  void call_succeeded() { refusals_ = 0; }

 private:
  static std::shared_ptr<grpc::ChannelCredentials> credentials(const Endpoints& e) {
    if (!e.tls) return grpc::InsecureChannelCredentials();
    grpc::SslCredentialsOptions o;
    if (!e.cacert.empty()) o.pem_root_certs = read_file(e.cacert);
    if (!e.cert.empty()) o.pem_cert_chain = read_file(e.cert);
    if (!e.key.empty()) o.pem_private_key = read_file(e.key);
    return grpc::SslCredentials(o);
  }

  void connect() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(-1);
    // A large receive window: after a silent link comes back, the source can send the whole
    // backlog of the watch at once instead of one window per round trip.
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 20);
    auto ch = grpc::CreateCustomChannel(grpc_target(endpoint()), creds_, args);
    kv_ = KV::NewStub(ch);
    watch_ = Watch::NewStub(ch);
    lease_ = Lease::NewStub(ch);
    auth_ = etcdserverpb::Auth::NewStub(ch);
    token_.clear();  // a new endpoint, a new token
  }
  std::string role_;
  Endpoints cfg_;
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  size_t current_ = 0;
  std::string token_;
  int refusals_ = 0;
  std::unique_ptr<KV::Stub> kv_;
  std::unique_ptr<Watch::Stub> watch_;
  std::unique_ptr<Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth_;
};

}  // namespace

struct Mirror::Impl {
  Impl(Mirror* m)
      : m(*m),
        c(m->config_),
        source("source", c.source),
        dest("destination", c.destination),
        map(c.prefix, c.dest_prefix, c.dest_prefix_set, c.no_dest_prefix) {}

  Mirror& m;
  const MirrorConfig& c;
  Side source;
  Side dest;
  KeyMap map;
  int64_t checkpoint = 0;  // last source revision fully on the destination
  int64_t once_target = 0;
  int64_t dest_revision = 0;  // destination revision after our last txn (compact_dest)
  // The checkpoint key's value at the destination as this mirror last read or wrote it; none:
  // absent. Every txn compares against it (apply).
  std::optional<std::string> dest_checkpoint;
  bool failed = false;  // a fatal refusal ended the run (exit 1)
  std::chrono::milliseconds backoff = kBackoffMin;

  // The watch stream the ticker may poke (progress request) or cancel (idle, stop).
  std::mutex stream_mu;
  grpc::ClientContext* stream_ctx = nullptr;
  grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>* stream =
      nullptr;
  std::atomic<int64_t> last_activity_ms{0};
  std::atomic<bool> idle_cancelled{false};

  // Leases (leases = "mirror"): source lease -> destination lease. Written by the loop thread
  // (dest_lease_for), kept alive and revoked by the lease thread (keep_leases).
  std::mutex leases_mu;
  std::unordered_map<int64_t, int64_t> leases;
  // Source leases found gone (loop thread only), and when: a backlog names a gone lease on many
  // keys, and one round trip to the source per key held a 30 s backlog up for seconds. Trusted for
  // kGoneLeaseMemory (a client may grant the same id again later).
  std::unordered_map<int64_t, Clock::time_point> gone_leases;
  std::thread lease_thread;

  std::thread ticker;
  std::atomic<bool> ticker_stop{false};

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  bool stopping() const { return m.stop_.load(); }

  void sleep_backoff() {
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until && !stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(kBackoffMax));
  }

  void reconnect(Side& side, const std::string& why) {
    m.metrics_.reconnects_total++;
    side.fail_over(why);
    sleep_backoff();
  }

  // --- destination writes

  // Applies one txn, retrying on the next destination endpoint until it lands. false: stopping
  // (the txn may or may not have landed; the checkpoint says which) or a fatal refusal (*fatal).
  //
  // Every txn is guarded by a compare on the checkpoint key (its value as this mirror last wrote
  // or read it; absent before the first), so a txn that landed but whose answer was lost (the
  // endpoint died) is not applied twice when it is sent again to the next endpoint: the compare
  // fails, and the checkpoint shows the txn is there. A checkpoint that moved otherwise means
  // another writer (a second mirror with the same name): fatal.
  bool apply(std::vector<Op> ops, bool* fatal) {
    etcdserverpb::TxnRequest req;
    build_txn(ops, &req);
    const bool writes_checkpoint = !ops.empty() && ops.back().key == c.checkpoint_key;
    for (;;) {
      grpc::ClientContext ctx;
      etcdserverpb::TxnResponse resp;
      grpc::Status s = dest.prepare(&ctx);
      if (s.ok()) s = dest.kv().Txn(&ctx, req, &resp);
      if (s.ok() && !resp.succeeded()) s = landed_before(writes_checkpoint ? &ops.back() : nullptr);
      if (s.ok()) {
        backoff = kBackoffMin;
        dest.call_succeeded();
        if (resp.header().revision() > 0) dest_revision = resp.header().revision();
        if (writes_checkpoint) dest_checkpoint = ops.back().value;
        return true;
      }
      if (dest.token_refused(s)) continue;
      if (!retryable(s) || s.error_message().rfind("etcdserver: too many operations", 0) == 0) {
        if (s.error_message().find("requested lease not found") != std::string::npos &&
            regrant_leases(&ops)) {
          // A mirrored lease expired at the destination (out of reach for longer than its TTL)
          // before these keys were written: written again with the new destination leases.
          build_txn(ops, &req);
          continue;
        }
        OUTPOST_LOG(kError, "destination refused a txn", log::kv("endpoint", dest.endpoint()),
                    log::kv("error", s.error_message()),
                    log::kv("ops", static_cast<int64_t>(ops.size())));
        *fatal = true;
        return false;
      }
      if (stopping()) return false;
      reconnect(dest, s.error_message());
    }
  }

  // A txn's checkpoint compare failed. OK when the destination's checkpoint is the one the txn
  // writes (it landed before; its answer was lost); FAILED_PRECONDITION (not retried) when the
  // checkpoint is anything else; a read error as it came.
  grpc::Status landed_before(const Op* checkpoint_put) {
    etcdserverpb::RangeRequest req;
    req.set_key(c.checkpoint_key);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = dest.prepare(&ctx);
    if (s.ok()) s = dest.kv().Range(&ctx, req, &resp);
    if (!s.ok()) return s;
    const std::string now = resp.kvs_size() > 0 ? resp.kvs(0).value() : "(none)";
    if (checkpoint_put && now == checkpoint_put->value) {
      OUTPOST_LOG(kInfo, "txn had landed before its answer was lost; not applied again",
                  log::kv("checkpoint", now));
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the checkpoint " + c.checkpoint_key.substr(1) + " changed under the " +
                            "mirror (now " + now + ", expected " +
                            dest_checkpoint.value_or("(none)") +
                            "): is another mirror with the same name writing to this destination?");
  }

  void build_txn(const std::vector<Op>& ops, etcdserverpb::TxnRequest* req) const {
    req->Clear();
    auto* cmp = req->add_compare();
    cmp->set_key(c.checkpoint_key);
    if (dest_checkpoint) {
      cmp->set_target(etcdserverpb::Compare::VALUE);
      cmp->set_result(etcdserverpb::Compare::EQUAL);
      cmp->set_value(*dest_checkpoint);
    } else {
      cmp->set_target(etcdserverpb::Compare::VERSION);
      cmp->set_result(etcdserverpb::Compare::EQUAL);
      cmp->set_version(0);
    }
    for (const auto& op : ops) {
      auto* r = req->add_success();
      if (op.kind == Op::kPut) {
        auto* p = r->mutable_request_put();
        p->set_key(op.key);
        p->set_value(op.value);
        p->set_lease(op.lease);
      } else {
        r->mutable_request_delete_range()->set_key(op.key);
      }
    }
  }

  // For every source lease in ops whose destination lease is gone at the destination: forgets
  // it, grants a new one and puts it in ops. false when no lease in ops was gone.
  bool regrant_leases(std::vector<Op>* ops) {
    std::unordered_map<int64_t, int64_t> fresh;  // gone destination lease -> new one
    for (const auto& op : *ops) {
      if (op.lease == 0 || fresh.count(op.lease)) continue;
      etcdserverpb::LeaseTimeToLiveRequest q;
      q.set_id(op.lease);
      etcdserverpb::LeaseTimeToLiveResponse r;
      grpc::ClientContext ctx;
      grpc::Status s = dest.prepare(&ctx);
      if (s.ok()) s = dest.lease().LeaseTimeToLive(&ctx, q, &r);
      if (s.ok() && r.ttl() > 0) continue;
      if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) continue;
      {
        std::lock_guard<std::mutex> lock(leases_mu);
        auto it = leases.find(op.source_lease);
        if (it != leases.end() && it->second == op.lease) leases.erase(it);
      }
      fresh[op.lease] = op.source_lease != 0 ? dest_lease_for(op.source_lease) : 0;
      OUTPOST_LOG(kWarn, "destination lease gone; granted a new one",
                  log::kv_hex("source_lease", static_cast<uint64_t>(op.source_lease)),
                  log::kv_hex("old", static_cast<uint64_t>(op.lease)),
                  log::kv_hex("new", static_cast<uint64_t>(fresh[op.lease])));
    }
    if (fresh.empty()) return false;
    for (auto& op : *ops) {
      if (auto it = fresh.find(op.lease); it != fresh.end()) op.lease = it->second;
    }
    return true;
  }

  // Applies a list of txns; the checkpoint (if any) is in the last one.
  bool apply_all(const std::vector<std::vector<Op>>& txns, bool* fatal) {
    for (const auto& t : txns) {
      if (!apply(t, fatal)) return false;
    }
    return true;
  }

  void set_checkpoint(int64_t rev) {
    checkpoint = rev;
    m.metrics_.mirrored_revision = rev;
    if (rev > m.metrics_.source_revision) m.metrics_.source_revision = rev;
    m.metrics_.update_lag();
  }

  // --- reads

  // Range with failover. false: stopping, or compacted (*was_compacted).
  bool range(Side& side, const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp,
             bool* was_compacted) {
    for (;;) {
      grpc::ClientContext ctx;
      grpc::Status s = side.prepare(&ctx);
      if (s.ok()) s = side.kv().Range(&ctx, req, resp);
      if (s.ok()) {
        backoff = kBackoffMin;
        side.call_succeeded();
        return true;
      }
      if (side.token_refused(s)) continue;
      if (compacted(s)) {
        *was_compacted = true;
        return false;
      }
      if (refused(s)) {
        OUTPOST_LOG(kError, "refused by the cluster; stopping", log::kv("side", side.role()),
                    log::kv("endpoint", side.endpoint()), log::kv("error", s.error_message()));
        failed = true;
        m.stop_ = true;
        return false;
      }
      if (stopping()) return false;
      reconnect(side, s.error_message());
    }
  }

  // -1: none; -2: stopping.
  int64_t read_checkpoint() {
    etcdserverpb::RangeRequest req;
    req.set_key(c.checkpoint_key);
    etcdserverpb::RangeResponse resp;
    bool comp = false;
    if (!range(dest, req, &resp, &comp)) return -2;
    if (resp.kvs_size() == 0) return -1;
    dest_checkpoint = resp.kvs(0).value();
    try {
      return std::stoll(resp.kvs(0).value());
    } catch (...) {
      OUTPOST_LOG(kWarn, "checkpoint value is not a revision; starting over",
                  log::kv("value", resp.kvs(0).value()));
      return -1;
    }
  }

  int64_t source_revision_now() {
    etcdserverpb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_limit(1);
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    bool comp = false;
    if (!range(source, req, &resp, &comp)) return -1;
    return resp.header().revision();
  }

  int64_t dest_lease_for(int64_t source_lease);

  // The source's current revision as one of its members answers it; 0 when it cannot be asked.
  static int64_t source_revision_of(Side& side) {
    etcdserverpb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_limit(1);
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = side.prepare(&ctx);
    if (s.ok()) s = side.kv().Range(&ctx, req, &resp);
    return s.ok() ? resp.header().revision() : 0;
  }

  // Pages through [key, end) on `side`, keys only, calling fn for each kv. false: stopping.
  template <typename Fn>
  bool scan(Side& side, std::string key, const std::string& end, Fn fn) {
    for (;;) {
      etcdserverpb::RangeRequest req;
      req.set_key(key);
      req.set_range_end(end);
      req.set_limit(kPageSize);
      req.set_keys_only(true);
      etcdserverpb::RangeResponse resp;
      bool comp = false;
      if (!range(side, req, &resp, &comp)) return false;
      for (const auto& kv : resp.kvs()) fn(kv);
      if (!resp.more() || resp.kvs_size() == 0) return true;
      key = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
  }

  // After a restart with leases = "mirror": rebuilds source lease -> destination lease from the
  // keys both sides hold (a mirrored key carries the source lease at the source and the
  // destination lease at the destination), so the destination leases granted before the restart
  // are kept alive (or revoked) again. false: stopping.
  bool recover_leases() {
    std::unordered_map<std::string, int64_t> by_dest_key;
    const std::string first = c.prefix.empty() ? std::string(1, '\0') : c.prefix;
    if (!scan(source, first, prefix_range_end(c.prefix), [&](const mvccpb::KeyValue& kv) {
          if (kv.lease() != 0) by_dest_key[map.to_dest(kv.key())] = kv.lease();
        })) {
      return false;
    }
    const std::string& dp = map.dest_prefix();
    const std::string dfirst = dp.empty() ? std::string(1, '\0') : dp;
    size_t found = 0;
    if (!scan(dest, dfirst, prefix_range_end(dp), [&](const mvccpb::KeyValue& kv) {
          auto it = by_dest_key.find(kv.key());
          if (kv.lease() == 0 || it == by_dest_key.end()) return;
          std::lock_guard<std::mutex> lock(leases_mu);
          if (leases.emplace(it->second, kv.lease()).second) ++found;
        })) {
      return false;
    }
    OUTPOST_LOG(kInfo, "recovered mirrored leases from the keys on both sides",
                log::kv("leases", static_cast<uint64_t>(found)));
    return true;
  }

  // Copies the prefix at one revision. delete_vanished: also deletes destination keys under the
  // mapped prefix that the source does not have (re-sync). 0 on success; 1 fatal; 2 stopping.
  int copy(bool delete_vanished) {
    for (;;) {
      const int r = copy_once(delete_vanished);
      if (r != 3) return r;
      OUTPOST_LOG(kWarn, "source compacted during the copy; copying again");
    }
  }

  static void progress_bar(const std::string& what, int64_t copied, int64_t total) {
    constexpr int kWidth = 40;
    const double done = total > 0 ? std::min(1.0, double(copied) / double(total)) : 1.0;
    const int filled = int(done * kWidth);
    std::fprintf(stderr, "\r%s: [%s%s] %lld/%lld keys (%3.0f%%)", what.c_str(),
                 std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(kWidth - filled), ' ').c_str(), static_cast<long long>(copied),
                 static_cast<long long>(total), done * 100);
    std::fflush(stderr);
  }

  // 3: the copy's revision was compacted meanwhile.
  int copy_once(bool delete_vanished) {
    const std::string what = delete_vanished ? "re-sync" : "initial sync";
    OUTPOST_LOG(kInfo, (what + ": copying the source").c_str(), log::kv("prefix", c.prefix),
                log::kv("source", source.endpoint()));
    const std::string end = prefix_range_end(c.prefix);
    std::string key = c.prefix.empty() ? std::string(1, '\0') : c.prefix;
    int64_t rev = 0;
    int64_t copied = 0, total = 0;
    // A progress bar for a person watching: only when stderr is a terminal.
    const bool bar = ::isatty(STDERR_FILENO) == 1;
    std::set<std::string> seen;
    std::vector<Op> pending;
    bool fatal = false;
    auto flush_full = [&]() {
      while (static_cast<int64_t>(pending.size()) >= c.max_txn_ops) {
        std::vector<Op> part(pending.begin(), pending.begin() + c.max_txn_ops);
        pending.erase(pending.begin(), pending.begin() + c.max_txn_ops);
        if (!apply(part, &fatal)) return false;
      }
      return true;
    };
    for (;;) {
      etcdserverpb::RangeRequest req;
      req.set_key(key);
      req.set_range_end(end);
      req.set_limit(kPageSize);
      req.set_revision(rev);
      etcdserverpb::RangeResponse resp;
      bool comp = false;
      if (!range(source, req, &resp, &comp)) return comp ? 3 : 2;
      if (rev == 0) rev = resp.header().revision();
      m.metrics_.source_revision =
          std::max<int64_t>(m.metrics_.source_revision, resp.header().revision());
      for (const auto& kv : resp.kvs()) {
        Op op{Op::kPut, map.to_dest(kv.key()), kv.value(), 0};
        if (c.leases == LeaseMode::kMirror && kv.lease() != 0) {
          op.lease = dest_lease_for(kv.lease());
          op.source_lease = kv.lease();
        }
        if (delete_vanished) seen.insert(op.key);
        pending.push_back(std::move(op));
      }
      copied += resp.kvs_size();
      if (total == 0) total = resp.count();  // the first page counts the whole range
      if (bar) progress_bar(what, copied, total);
      if (!flush_full()) return fatal ? 1 : 2;
      if (!resp.more() || resp.kvs_size() == 0) break;
      key = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
    if (bar) std::fputc('\n', stderr);
    int64_t deleted = 0;
    if (delete_vanished) {
      const std::string& dp = map.dest_prefix();
      const std::string dend = prefix_range_end(dp);
      std::string dkey = dp.empty() ? std::string(1, '\0') : dp;
      for (;;) {
        etcdserverpb::RangeRequest req;
        req.set_key(dkey);
        req.set_range_end(dend);
        req.set_limit(kPageSize);
        req.set_keys_only(true);
        etcdserverpb::RangeResponse resp;
        bool comp = false;
        if (!range(dest, req, &resp, &comp)) return 2;
        for (const auto& kv : resp.kvs()) {
          if (seen.count(kv.key()) || kv.key() == c.checkpoint_key ||
              kv.key().rfind(kCheckpointFamily, 0) == 0) {
            continue;
          }
          pending.push_back(Op{Op::kDelete, kv.key(), "", 0});
          ++deleted;
        }
        if (!resp.more() || resp.kvs_size() == 0) break;
        dkey = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
      }
    }
    if (!apply_all(split_with_checkpoint(std::move(pending), c.checkpoint_key, rev, c.max_txn_ops),
                   &fatal)) {
      return fatal ? 1 : 2;
    }
    set_checkpoint(rev);
    OUTPOST_LOG(kInfo, (what + ": done").c_str(), log::kv("revision", rev), log::kv("keys", copied),
                log::kv("deleted", deleted));
    return 0;
  }

  // --- the watch

  enum class WatchEnd { kStopped, kCompacted, kBroken, kFatal, kCaughtUp };

  // Reads the watch stream on a thread of its own into an inbox, so that while one destination
  // txn is on its way the responses behind it pile up, and the next round applies all of them
  // together (plan_revisions packs them): a backlog drains at the destination's txn rate times
  // the revisions per txn, not one revision per round trip.
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<etcdserverpb::WatchResponse> q;
    bool done = false;     // the stream ended
    bool abandon = false;  // the loop stopped reading: drop what comes
  };
  static constexpr size_t kInboxMax = 4096;  // responses; the reader waits beyond (flow control)

  WatchEnd watch_once() {
    grpc::ClientContext ctx;
    if (const grpc::Status ps = source.prepare(&ctx, false); !ps.ok()) {
      if (!retryable(ps) && !source.token_refused(ps)) return WatchEnd::kFatal;
      reconnect(source, ps.error_message());
      return WatchEnd::kBroken;
    }
    auto s = source.watch().Watch(&ctx);
    {
      std::lock_guard<std::mutex> lock(stream_mu);
      stream_ctx = &ctx;
      stream = s.get();
    }
    last_activity_ms = now_ms();
    idle_cancelled = false;
    etcdserverpb::WatchRequest create;
    auto* cr = create.mutable_create_request();
    cr->set_key(c.prefix.empty() ? std::string(1, '\0') : c.prefix);
    cr->set_range_end(prefix_range_end(c.prefix));
    cr->set_start_revision(checkpoint + 1);
    cr->set_progress_notify(true);
    OUTPOST_LOG(kInfo, "watching the source", log::kv("endpoint", source.endpoint()),
                log::kv("from_revision", checkpoint + 1));
    WatchEnd end = WatchEnd::kBroken;
    int64_t pending_rev = 0;  // the last progress revision not trusted yet
    Clock::time_point pending_at;
    bool ok;
    {
      std::lock_guard<std::mutex> lock(stream_mu);
      ok = s->Write(create);
    }
    Inbox inbox;
    std::thread reader([&] {
      etcdserverpb::WatchResponse r;
      while (ok && s->Read(&r)) {
        last_activity_ms = now_ms();
        std::unique_lock<std::mutex> l(inbox.mu);
        inbox.cv.wait(l, [&] { return inbox.q.size() < kInboxMax || inbox.abandon; });
        if (inbox.abandon) continue;
        inbox.q.push_back(std::move(r));
        inbox.cv.notify_all();
      }
      std::lock_guard<std::mutex> l(inbox.mu);
      inbox.done = true;
      inbox.cv.notify_all();
    });
    bool fatal = false;
    std::vector<Event> events;  // event responses taken together, in order
    // Applies the events gathered so far. false: the loop must end (end is set).
    auto flush_events = [&]() -> bool {
      if (events.empty()) return true;
      const auto batches = group_by_revision(events);
      if (batches.front().revision <= checkpoint) {
        // A progress notification ran ahead of the events after all: apply them anyway
        // (the checkpoint follows the data back down, so a restart cannot skip them).
        OUTPOST_LOG(kWarn, "events at or below the checkpoint; applying them",
                    log::kv("revision", batches.front().revision),
                    log::kv("checkpoint", checkpoint));
      }
      auto txns = c.leases == LeaseMode::kMirror
                      ? plan_revisions(
                            batches, map, c.checkpoint_key, c.max_txn_ops, c.coalesce,
                            [](void* self, int64_t l) {
                              return static_cast<Impl*>(self)->dest_lease_for(l);
                            },
                            this)
                      : plan_revisions(batches, map, c.checkpoint_key, c.max_txn_ops, c.coalesce);
      for (auto& t : txns) {
        if (!apply(std::move(t.ops), &fatal)) {
          end = fatal ? WatchEnd::kFatal : WatchEnd::kStopped;
          return false;
        }
        if (t.checkpoint != 0) set_checkpoint(t.checkpoint);
      }
      m.metrics_.events_total += static_cast<int64_t>(events.size());
      events.clear();
      return true;
    };
    // Handles one response that is not events. false: the loop must end (end is set).
    auto on_other = [&](const etcdserverpb::WatchResponse& resp) -> bool {
      if (resp.canceled()) {
        if (resp.compact_revision() > 0) {
          OUTPOST_LOG(kWarn, "the source compacted past the checkpoint; re-syncing",
                      log::kv("checkpoint", checkpoint),
                      log::kv("compact_revision", resp.compact_revision()));
          end = WatchEnd::kCompacted;
        } else {
          OUTPOST_LOG(kWarn, "watch cancelled by the source",
                      log::kv("reason", resp.cancel_reason()));
        }
        return false;
      }
      if (resp.created()) {
        backoff = kBackoffMin;
        request_progress();
        return true;
      }
      // A progress notification. etcd 3.4.23 (and Outpost, which follows it) answers a
      // progress request with the current revision even while the watcher is still catching
      // up, so events at or below that revision may still be on their way. A progress
      // revision is trusted only once a later notification arrived at least
      // kProgressTrustDelay after it; by then the catch-up (every 100 ms in etcd) is done.
      const int64_t hdr = resp.header().revision();
      const auto now = Clock::now();
      int64_t trusted = 0;
      if (pending_rev > 0 && now - pending_at >= kProgressTrustDelay) trusted = pending_rev;
      if (pending_rev == 0 || now - pending_at >= kProgressTrustDelay) {
        pending_rev = hdr;
        pending_at = now;
      }
      if (trusted > checkpoint) {
        if (!apply_all(split_with_checkpoint({}, c.checkpoint_key, trusted, c.max_txn_ops),
                       &fatal)) {
          end = fatal ? WatchEnd::kFatal : WatchEnd::kStopped;
          return false;
        }
        set_checkpoint(trusted);
      }
      return true;
    };
    bool go = true;
    while (go) {
      std::deque<etcdserverpb::WatchResponse> taken;
      {
        std::unique_lock<std::mutex> l(inbox.mu);
        inbox.cv.wait(l, [&] { return !inbox.q.empty() || inbox.done; });
        if (inbox.q.empty()) break;  // the stream ended
        taken.swap(inbox.q);
        inbox.cv.notify_all();
      }
      for (const auto& resp : taken) {
        const int64_t hdr = resp.header().revision();
        if (hdr > m.metrics_.source_revision) m.metrics_.source_revision = hdr;
        if (resp.events_size() > 0 && !resp.canceled()) {
          for (const auto& e : resp.events()) {
            Event ev;
            ev.kind = e.type() == mvccpb::Event::DELETE ? Op::kDelete : Op::kPut;
            ev.key = e.kv().key();
            ev.value = e.kv().value();
            ev.mod_revision = e.kv().mod_revision();
            ev.lease = e.kv().lease();
            events.push_back(std::move(ev));
          }
          continue;
        }
        if (!flush_events() || !on_other(resp)) {
          go = false;
          break;
        }
      }
      if (go && !flush_events()) go = false;
      if (go && c.once && checkpoint >= once_target) {
        end = WatchEnd::kCaughtUp;
        go = false;
      }
      if (go && stopping()) {
        end = WatchEnd::kStopped;
        go = false;
      }
    }
    {
      std::lock_guard<std::mutex> lock(stream_mu);
      stream_ctx = nullptr;
      stream = nullptr;
    }
    ctx.TryCancel();
    {
      std::lock_guard<std::mutex> l(inbox.mu);
      inbox.abandon = true;
      inbox.cv.notify_all();
    }
    reader.join();
    const grpc::Status st = s->Finish();
    if (stopping() && end == WatchEnd::kBroken) end = WatchEnd::kStopped;
    if (end == WatchEnd::kBroken) {
      const std::string why = idle_cancelled ? "watch idle for watch_idle_s; restarting it"
                                             : "watch stream ended: " + st.error_message();
      m.metrics_.reconnects_total++;
      OUTPOST_LOG(kWarn, "watch broken; reconnecting", log::kv("error", why));
      if (idle_cancelled) {
        source.renew();
      } else if (st.error_code() != grpc::StatusCode::OK) {
        source.fail_over(why);
      }
      sleep_backoff();
    }
    return end;
  }

  // Called with or without the stream; writes only while the stream is live.
  void request_progress() {
    std::lock_guard<std::mutex> lock(stream_mu);
    if (!stream) return;
    etcdserverpb::WatchRequest req;
    req.mutable_progress_request();
    stream->Write(req);
  }

  // --- the ticker thread

  void tick_loop() {
    auto next_progress = Clock::now() + kProgressEvery;
    auto next_log = Clock::now() + std::chrono::seconds(c.log_interval_s);
    auto next_compact = Clock::now() + std::chrono::seconds(c.compact_dest_interval_s);
    int64_t compact_to = 0;
    while (!ticker_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = Clock::now();
      if (stopping()) {
        std::lock_guard<std::mutex> lock(stream_mu);
        if (stream_ctx) stream_ctx->TryCancel();
      }
      if (now >= next_progress) {
        next_progress = now + kProgressEvery;
        request_progress();
      }
      {
        std::lock_guard<std::mutex> lock(stream_mu);
        if (stream_ctx && now_ms() - last_activity_ms > c.watch_idle_s * 1000) {
          OUTPOST_LOG(kWarn, "watch saw neither events nor progress; restarting it",
                      log::kv("watch_idle_s", c.watch_idle_s));
          idle_cancelled = true;
          last_activity_ms = now_ms();
          stream_ctx->TryCancel();
        }
      }
      if (now >= next_log) {
        next_log = now + std::chrono::seconds(c.log_interval_s);
        m.metrics_.update_lag();
        OUTPOST_LOG(kInfo, "mirror status",
                    log::kv("source_revision", m.metrics_.source_revision.load()),
                    log::kv("mirrored_revision", m.metrics_.mirrored_revision.load()),
                    log::kv("lag_revisions", m.metrics_.lag_revisions()),
                    log::kv("lag_seconds", m.metrics_.lag_seconds()),
                    log::kv("events_total", m.metrics_.events_total.load()),
                    log::kv("reconnects_total", m.metrics_.reconnects_total.load()));
      }
      if (c.compact_dest && now >= next_compact) {
        next_compact = now + std::chrono::seconds(c.compact_dest_interval_s);
        compact_dest(compact_to);
        compact_to = dest_revision;
      }
    }
  }

  // Compacts the destination at `rev` (a destination revision our txns reached a minute ago).
  void compact_dest(int64_t rev) {
    if (rev <= 0) return;
    Side d("destination", c.destination);
    for (size_t tries = 0; tries < d.endpoint_count(); ++tries) {
      grpc::ClientContext ctx;
      etcdserverpb::CompactionRequest req;
      req.set_revision(rev);
      etcdserverpb::CompactionResponse resp;
      grpc::Status s = d.prepare(&ctx);
      if (s.ok()) s = d.kv().Compact(&ctx, req, &resp);
      if (s.ok() || compacted(s)) {
        OUTPOST_LOG(kInfo, "compacted the destination", log::kv("revision", rev));
        return;
      }
      if (tries + 1 < d.endpoint_count()) d.fail_over(s.error_message());
    }
  }

  int run() {
    ticker = std::thread([this] { tick_loop(); });
    if (c.leases == LeaseMode::kMirror) lease_thread = std::thread([this] { keep_leases(); });
    int code = loop();
    ticker_stop = true;
    ticker.join();
    if (lease_thread.joinable()) lease_thread.join();
    if (failed) code = 1;
    return code;
  }

  // Every second: for each mirrored lease, ask the source whether it still lives and keep the
  // destination lease alive. A source lease that is gone (expired or revoked) is revoked at the
  // destination only once the mirror has applied the source up to a revision at which it was
  // already gone: by then the deletes its end caused at the source are at the destination, in
  // source order, so the revoke deletes nothing a reader would see early; until then it is kept
  // alive like the others. While the source cannot be asked (a cut link), the destination
  // leases are kept alive all the same, for the same reason. Its own connections, so a slow
  // lease RPC never holds up the data path.
  void keep_leases() {
    Side src("source", c.source);
    Side dst("destination", c.destination);
    std::unordered_map<int64_t, int64_t> gone_at;  // source lease -> a revision it was gone at
    while (!ticker_stop) {
      for (int i = 0; i < 10 && !ticker_stop; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::vector<std::pair<int64_t, int64_t>> snapshot;
      {
        std::lock_guard<std::mutex> lock(leases_mu);
        snapshot.assign(leases.begin(), leases.end());
      }
      bool source_down = false;
      for (const auto& [src_lease, dst_lease] : snapshot) {
        if (ticker_stop) break;
        if (!source_down && !gone_at.count(src_lease)) {
          etcdserverpb::LeaseTimeToLiveRequest tq;
          tq.set_id(src_lease);
          etcdserverpb::LeaseTimeToLiveResponse tr;
          grpc::ClientContext tctx;
          grpc::Status ts = src.prepare(&tctx);
          // Short: while this waits on a cut link, no destination lease is kept alive.
          tctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          if (ts.ok()) ts = src.lease().LeaseTimeToLive(&tctx, tq, &tr);
          if (ts.ok() && tr.ttl() < 0) {
            // -1: the source does not know it any more. Its revoke, which deleted its keys, is
            // at or below this answer's revision. (0: expired, revoke not applied yet: wait.)
            gone_at[src_lease] = tr.header().revision();
          } else if (ts.error_code() == grpc::StatusCode::NOT_FOUND) {
            const int64_t rev = source_revision_of(src);
            if (rev > 0) gone_at[src_lease] = rev;
          } else if (!ts.ok() && !src.token_refused(ts)) {
            source_down = true;  // keep every destination lease alive this round
            src.fail_over(ts.error_message());
          }
        }
        if (auto g = gone_at.find(src_lease);
            g != gone_at.end() && m.metrics_.mirrored_revision >= g->second) {
          etcdserverpb::LeaseRevokeRequest rq;
          rq.set_id(dst_lease);
          etcdserverpb::LeaseRevokeResponse rr;
          grpc::ClientContext rctx;
          grpc::Status ds = dst.prepare(&rctx);
          if (ds.ok()) ds = dst.lease().LeaseRevoke(&rctx, rq, &rr);
          if (ds.ok() || ds.error_code() == grpc::StatusCode::NOT_FOUND) {
            OUTPOST_LOG(kInfo, "source lease gone; revoked its destination lease",
                        log::kv_hex("source_lease", static_cast<uint64_t>(src_lease)),
                        log::kv_hex("destination_lease", static_cast<uint64_t>(dst_lease)),
                        log::kv("gone_at_revision", g->second));
            gone_at.erase(g);
            std::lock_guard<std::mutex> lock(leases_mu);
            leases.erase(src_lease);
          } else if (!dst.token_refused(ds)) {
            dst.fail_over(ds.error_message());
            break;
          }
          continue;
        }
        grpc::ClientContext kctx;
        grpc::Status ds = dst.prepare(&kctx);
        bool ok = false;
        etcdserverpb::LeaseKeepAliveResponse kr;
        if (ds.ok()) {
          auto stream = dst.lease().LeaseKeepAlive(&kctx);
          etcdserverpb::LeaseKeepAliveRequest kq;
          kq.set_id(dst_lease);
          ok = stream->Write(kq) && stream->Read(&kr);
          stream->WritesDone();
          ds = stream->Finish();
        }
        if (ok && kr.ttl() <= 0) {
          // The destination lease expired (the destination was out of reach longer than its
          // TTL): forget it; the next write of one of its keys grants a new one (regrant_leases).
          OUTPOST_LOG(kWarn, "destination lease expired while the source lease lives",
                      log::kv_hex("source_lease", static_cast<uint64_t>(src_lease)),
                      log::kv_hex("destination_lease", static_cast<uint64_t>(dst_lease)));
          gone_at.erase(src_lease);
          std::lock_guard<std::mutex> lock(leases_mu);
          auto it = leases.find(src_lease);
          if (it != leases.end() && it->second == dst_lease) leases.erase(it);
          continue;
        }
        if (ok) {
          dst.call_succeeded();
          continue;
        }
        if (!dst.token_refused(ds)) {
          dst.fail_over(ds.error_message());
          break;
        }
      }
    }
  }

  int loop() {
    const int64_t cp = read_checkpoint();
    if (cp == -2) return 0;
    if (c.once) {
      once_target = source_revision_now();
      if (once_target < 0) return 0;
    }
    if (cp >= 0) {
      set_checkpoint(cp);
      if (c.leases == LeaseMode::kMirror && !recover_leases()) return 0;
      OUTPOST_LOG(kInfo, "resuming from the checkpoint", log::kv("checkpoint", cp),
                  log::kv("key", c.checkpoint_key));
    } else if (c.rev > 0) {
      set_checkpoint(c.rev - 1);
      OUTPOST_LOG(kInfo, "no checkpoint; starting at --rev without a copy", log::kv("rev", c.rev));
    } else {
      const int r = copy(false);
      if (r == 1) return 1;
      if (r == 2) return 0;
    }
    for (;;) {
      if (c.once && checkpoint >= once_target) {
        OUTPOST_LOG(kInfo, "caught up (once); exiting", log::kv("checkpoint", checkpoint));
        return 0;
      }
      if (stopping()) break;
      switch (watch_once()) {
        case WatchEnd::kStopped:
          OUTPOST_LOG(kInfo, "stopping", log::kv("checkpoint", checkpoint));
          return 0;
        case WatchEnd::kCaughtUp:
          OUTPOST_LOG(kInfo, "caught up (once); exiting", log::kv("checkpoint", checkpoint));
          return 0;
        case WatchEnd::kFatal: return 1;
        case WatchEnd::kCompacted: {
          const int r = copy(true);
          if (r == 1) return 1;
          if (r == 2) return 0;
          break;
        }
        case WatchEnd::kBroken: break;
      }
    }
    OUTPOST_LOG(kInfo, "stopping", log::kv("checkpoint", checkpoint));
    return 0;
  }
};

int64_t Mirror::Impl::dest_lease_for(int64_t source_lease) {
  {
    std::lock_guard<std::mutex> lock(leases_mu);
    auto it = leases.find(source_lease);
    if (it != leases.end()) return it->second;
  }
  if (auto g = gone_leases.find(source_lease); g != gone_leases.end()) {
    if (Clock::now() - g->second < kGoneLeaseMemory) return 0;
    gone_leases.erase(g);
  }
  // The source lease's remaining TTL, rounded down to whole seconds by the source: granted one
  // second longer, so the destination copy never expires before the source's.
  etcdserverpb::LeaseTimeToLiveRequest tq;
  tq.set_id(source_lease);
  etcdserverpb::LeaseTimeToLiveResponse tr;
  // Asked again every 2 s at most until answered, without the back-off of reconnect(): this
  // holds up the stream, and when a cut link comes back the answer should come at once, not
  // after a back-off grown during the cut. Another endpoint every third failure.
  for (int failures = 0;;) {
    grpc::ClientContext tctx;
    grpc::Status ts = source.prepare(&tctx);
    tctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    const auto asked = Clock::now();
    if (ts.ok()) ts = source.lease().LeaseTimeToLive(&tctx, tq, &tr);
    if (ts.ok()) break;
    // Gone at the source: the key is written without a lease; its delete follows in the stream.
    if (ts.error_code() == grpc::StatusCode::NOT_FOUND) {
      gone_leases[source_lease] = Clock::now();
      return 0;
    }
    if (stopping()) return 0;
    if (source.token_refused(ts)) continue;
    if (++failures % 3 == 0) {
      m.metrics_.reconnects_total++;
      source.fail_over(ts.error_message());
    }
    // A failure that came at once (connection refused) waits a little before the next try.
    if (Clock::now() - asked < std::chrono::milliseconds(200)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (tr.ttl() <= 0) {
    gone_leases[source_lease] = Clock::now();
    return 0;
  }
  etcdserverpb::LeaseGrantRequest gq;
  gq.set_ttl(tr.ttl() + 1);
  etcdserverpb::LeaseGrantResponse gr;
  grpc::ClientContext gctx;
  grpc::Status gs = dest.prepare(&gctx);
  if (gs.ok()) gs = dest.lease().LeaseGrant(&gctx, gq, &gr);
  if (!gs.ok() || gr.id() == 0) return 0;
  OUTPOST_LOG(kInfo, "mirrored a lease", log::kv_hex("source_lease", source_lease),
              log::kv_hex("destination_lease", gr.id()), log::kv("ttl", gq.ttl()));
  std::lock_guard<std::mutex> lock(leases_mu);
  leases[source_lease] = gr.id();
  return gr.id();
}

Mirror::Mirror(MirrorConfig config) : config_(std::move(config)) {}
Mirror::~Mirror() = default;

int Mirror::run() {
  impl_ = std::make_unique<Impl>(this);
  return impl_->run();
}

}  // namespace outpost::mirror
