#include "core/mvcc/kv_ops.h"

#include <algorithm>

namespace outpost::mvcc {
namespace pb = etcdserverpb;

namespace {

// Orders by one sort target; equal elements keep key order (stable sort), which is what etcd's
// sort gives on the small result sets clients compare.
template <class Less>
void sort_kvs(std::vector<mvccpb::KeyValue>& kvs, bool descend, Less less) {
  if (descend) {
    std::stable_sort(kvs.begin(), kvs.end(),
                     [&](const auto& a, const auto& b) { return less(b, a); });
  } else {
    std::stable_sort(kvs.begin(), kvs.end(), less);
  }
}

void prune(std::vector<mvccpb::KeyValue>& kvs,
           const std::function<bool(const mvccpb::KeyValue&)>& drop) {
  kvs.erase(std::remove_if(kvs.begin(), kvs.end(), drop), kvs.end());
}

int compare_i64(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool compare_kv(const pb::Compare& c, const mvccpb::KeyValue& kv) {
  int result = 0;
  switch (c.target()) {
    case pb::Compare::VALUE: {
      const std::string& want = c.target_union_case() == pb::Compare::kValue ? c.value() : "";
      result = kv.value().compare(want);
      result = result < 0 ? -1 : (result > 0 ? 1 : 0);
      break;
    }
    case pb::Compare::CREATE:
      result = compare_i64(
          kv.create_revision(),
          c.target_union_case() == pb::Compare::kCreateRevision ? c.create_revision() : 0);
      break;
    case pb::Compare::MOD:
      result =
          compare_i64(kv.mod_revision(),
                      c.target_union_case() == pb::Compare::kModRevision ? c.mod_revision() : 0);
      break;
    case pb::Compare::VERSION:
      result = compare_i64(kv.version(),
                           c.target_union_case() == pb::Compare::kVersion ? c.version() : 0);
      break;
    case pb::Compare::LEASE:
      result =
          compare_i64(kv.lease(), c.target_union_case() == pb::Compare::kLease ? c.lease() : 0);
      break;
    default: break;
  }
  switch (c.result()) {
    case pb::Compare::EQUAL: return result == 0;
    case pb::Compare::NOT_EQUAL: return result != 0;
    case pb::Compare::GREATER: return result > 0;
    case pb::Compare::LESS: return result < 0;
    default: return true;
  }
}

bool apply_compare(KvReader& r, const pb::Compare& c) {
  RangeResult rr;
  if (!r.range(c.key(), c.range_end(), {}, &rr)) return false;
  if (rr.kvs.empty()) {
    // A value cannot be compared on a missing key: such a compare always fails.
    if (c.target() == pb::Compare::VALUE) return false;
    return compare_kv(c, mvccpb::KeyValue{});
  }
  for (const auto& kv : rr.kvs)
    if (!compare_kv(c, kv)) return false;
  return true;
}

// The branch taken at every level of a (nested) txn, in pre-order: path[0] for req itself.
void compare_to_path(KvReader& r, const pb::TxnRequest& req, std::vector<bool>* path) {
  bool ok = true;
  for (const auto& c : req.compare()) {
    if (!apply_compare(r, c)) {
      ok = false;
      break;
    }
  }
  path->push_back(ok);
  for (const auto& op : ok ? req.success() : req.failure())
    if (op.has_request_txn()) compare_to_path(r, op.request_txn(), path);
}

// Checks, before anything changes, that the chosen ops can all be applied: puts name existing
// leases and, with ignore_value / ignore_lease, existing keys; ranges name valid revisions.
Status check_requests(KvReader& r, const pb::TxnRequest& req, const std::vector<bool>& path,
                      size_t* pos, bool writes, const LeaseLookup& leases) {
  const bool ok = path[(*pos)++];
  for (const auto& op : ok ? req.success() : req.failure()) {
    if (op.has_request_txn()) {
      Status s = check_requests(r, op.request_txn(), path, pos, writes, leases);
      if (!s) return s;
    } else if (op.has_request_put() && writes) {
      const auto& p = op.request_put();
      if (p.ignore_value() || p.ignore_lease()) {
        RangeResult rr;
        Status s = r.range(p.key(), "", {}, &rr);
        if (!s) return s;
        if (rr.kvs.empty()) return Status::of(ErrorCode::kKeyNotFound);
      }
      if (p.lease() != 0 && !leases(p.lease())) return Status::of(ErrorCode::kLeaseNotFound);
    } else if (op.has_request_range()) {
      const int64_t rev = op.request_range().revision();
      if (rev == 0) continue;
      if (rev > r.rev()) return Status::of(ErrorCode::kFutureRev);
      if (rev < r.first_rev()) return Status::of(ErrorCode::kCompacted);
    }
  }
  return Status::ok();
}

Status exec_txn(KvReader& r, WriteTxn* w, const pb::TxnRequest& req, const std::vector<bool>& path,
                size_t* pos, pb::TxnResponse* resp, const LeaseLookup& leases) {
  const bool ok = path[(*pos)++];
  resp->set_succeeded(ok);
  for (const auto& op : ok ? req.success() : req.failure()) {
    pb::ResponseOp* out = resp->add_responses();
    Status s;
    if (op.has_request_range()) {
      s = range(r, op.request_range(), out->mutable_response_range());
    } else if (op.has_request_put()) {
      s = put(*w, op.request_put(), out->mutable_response_put(), leases);
    } else if (op.has_request_delete_range()) {
      s = delete_range(*w, op.request_delete_range(), out->mutable_response_delete_range());
    } else if (op.has_request_txn()) {
      pb::TxnResponse* inner = out->mutable_response_txn();
      inner->mutable_header();
      s = exec_txn(r, w, op.request_txn(), path, pos, inner, leases);
    }
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

bool is_txn_read_only(const pb::TxnRequest& req) {
  for (const auto* ops : {&req.success(), &req.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put() || op.has_request_delete_range()) return false;
      if (op.has_request_txn() && !is_txn_read_only(op.request_txn())) return false;
    }
  }
  return true;
}

Status range(KvReader& r, const pb::RangeRequest& req, pb::RangeResponse* resp) {
  const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                        req.min_create_revision() != 0 || req.max_create_revision() != 0;
  int64_t limit = req.limit();
  if (req.sort_order() != pb::RangeRequest::NONE || filtered) limit = 0;  // sort, then cut
  if (limit > 0) ++limit;  // one more tells whether there is more

  RangeOptions opts;
  opts.limit = limit;
  opts.revision = req.revision();
  opts.count_only = req.count_only();
  RangeResult rr;
  Status s = r.range(req.key(), req.range_end(), opts, &rr);
  if (!s) return s;

  auto& kvs = rr.kvs;
  if (req.max_mod_revision() != 0)
    prune(kvs, [&](const auto& kv) { return kv.mod_revision() > req.max_mod_revision(); });
  if (req.min_mod_revision() != 0)
    prune(kvs, [&](const auto& kv) { return kv.mod_revision() < req.min_mod_revision(); });
  if (req.max_create_revision() != 0)
    prune(kvs, [&](const auto& kv) { return kv.create_revision() > req.max_create_revision(); });
  if (req.min_create_revision() != 0)
    prune(kvs, [&](const auto& kv) { return kv.create_revision() < req.min_create_revision(); });

  auto order = req.sort_order();
  // Results come key-ascending already; any other target sorts ascending unless told otherwise.
  if (req.sort_target() != pb::RangeRequest::KEY && order == pb::RangeRequest::NONE)
    order = pb::RangeRequest::ASCEND;
  if (order == pb::RangeRequest::ASCEND || order == pb::RangeRequest::DESCEND) {
    const bool desc = order == pb::RangeRequest::DESCEND;
    using KV = mvccpb::KeyValue;
    switch (req.sort_target()) {
      case pb::RangeRequest::KEY:
        sort_kvs(kvs, desc, [](const KV& a, const KV& b) { return a.key() < b.key(); });
        break;
      case pb::RangeRequest::VERSION:
        sort_kvs(kvs, desc, [](const KV& a, const KV& b) { return a.version() < b.version(); });
        break;
      case pb::RangeRequest::CREATE:
        sort_kvs(kvs, desc, [](const KV& a, const KV& b) {
          return a.create_revision() < b.create_revision();
        });
        break;
      case pb::RangeRequest::MOD:
        sort_kvs(kvs, desc,
                 [](const KV& a, const KV& b) { return a.mod_revision() < b.mod_revision(); });
        break;
      case pb::RangeRequest::VALUE:
        sort_kvs(kvs, desc, [](const KV& a, const KV& b) { return a.value() < b.value(); });
        break;
      default: break;
    }
  }
  if (req.limit() > 0 && int64_t(kvs.size()) > req.limit()) {
    kvs.resize(size_t(req.limit()));
    resp->set_more(true);
  }
  resp->mutable_header()->set_revision(rr.rev);
  resp->set_count(rr.count);
  auto* out = resp->mutable_kvs();
  out->Reserve(int(kvs.size()));
  for (auto& kv : kvs) {
    if (req.keys_only()) kv.clear_value();
    *out->Add() = std::move(kv);
  }
  return Status::ok();
}

Status put(WriteTxn& w, const pb::PutRequest& req, pb::PutResponse* resp,
           const LeaseLookup& leases) {
  resp->mutable_header();
  if (req.lease() != 0 && !leases(req.lease())) return Status::of(ErrorCode::kLeaseNotFound);
  std::string value = req.value();
  int64_t lease = req.lease();
  if (req.ignore_value() || req.ignore_lease() || req.prev_kv()) {
    RangeResult rr;
    Status s = w.range(req.key(), "", {}, &rr);
    if (!s) return s;
    if ((req.ignore_value() || req.ignore_lease()) && rr.kvs.empty())
      return Status::of(ErrorCode::kKeyNotFound);
    if (!rr.kvs.empty()) {
      if (req.ignore_value()) value = rr.kvs[0].value();
      if (req.ignore_lease()) lease = rr.kvs[0].lease();
      if (req.prev_kv()) *resp->mutable_prev_kv() = rr.kvs[0];
    }
  }
  resp->mutable_header()->set_revision(w.put(req.key(), value, lease));
  return Status::ok();
}

Status delete_range(WriteTxn& w, const pb::DeleteRangeRequest& req, pb::DeleteRangeResponse* resp) {
  resp->mutable_header();
  if (req.prev_kv()) {
    RangeResult rr;
    Status s = w.range(req.key(), req.range_end(), {}, &rr);
    if (!s) return s;
    for (auto& kv : rr.kvs) *resp->add_prev_kvs() = std::move(kv);
  }
  int64_t rev = 0;
  resp->set_deleted(w.delete_range(req.key(), req.range_end(), &rev));
  resp->mutable_header()->set_revision(rev);
  return Status::ok();
}

Status txn(KvReader& r, WriteTxn* w, const pb::TxnRequest& req, pb::TxnResponse* resp,
           const LeaseLookup& leases) {
  std::vector<bool> path;
  compare_to_path(r, req, &path);
  size_t pos = 0;
  Status s = check_requests(r, req, path, &pos, w != nullptr, leases);
  if (!s) return s;
  pos = 0;
  resp->mutable_header();
  s = exec_txn(r, w, req, path, &pos, resp, leases);
  if (!s) return s;
  resp->mutable_header()->set_revision(w ? w->rev() : r.rev());
  return Status::ok();
}

Status compaction(WriteTxn& w, const pb::CompactionRequest& req, pb::CompactionResponse* resp) {
  Status s = w.compact(req.revision());
  if (!s) return s;
  resp->mutable_header()->set_revision(w.rev());
  return Status::ok();
}

}  // namespace outpost::mvcc
