#include "core/api/validate.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace outpost::api {
namespace pb = etcdserverpb;

namespace {

// Half-open key interval [begin, end); end == "" means unbounded, a single key k is [k, k+"\0").
struct Interval {
  std::string begin, end;
  bool contains(const std::string& k) const { return k >= begin && (end.empty() || k < end); }
};

Interval delete_interval(const pb::DeleteRangeRequest& d) {
  if (d.range_end().empty()) return {d.key(), d.key() + std::string(1, '\0')};
  // Taken literally, as etcd 3.4 does: a from-key delete (range_end "\0") is the interval
  // [key, "\0"), which holds no key, so it never conflicts with a put in the same txn.
  return {d.key(), d.range_end()};
}

bool hits(const std::vector<Interval>& dels, const std::string& k) {
  for (const auto& iv : dels)
    if (iv.contains(k)) return true;
  return false;
}

// Puts and deletes of one list of ops (and everything nested under it), checked as etcd does.
Status collect(const google::protobuf::RepeatedPtrField<pb::RequestOp>& ops,
               std::set<std::string>* puts, std::vector<Interval>* dels) {
  for (const auto& op : ops)
    if (op.has_request_delete_range()) dels->push_back(delete_interval(op.request_delete_range()));

  for (const auto& op : ops) {
    if (!op.has_request_txn()) continue;
    std::set<std::string> puts_then, puts_else;
    std::vector<Interval> dels_then, dels_else;
    Status s = collect(op.request_txn().success(), &puts_then, &dels_then);
    if (!s) return s;
    s = collect(op.request_txn().failure(), &puts_else, &dels_else);
    if (!s) return s;
    for (const auto& k : puts_then) {
      if (puts->count(k) || hits(*dels, k)) return Status::of(ErrorCode::kDuplicateKey);
      puts->insert(k);
    }
    for (const auto& k : puts_else) {
      // The same key in both branches is fine: only one of them runs.
      if (puts->count(k) && !puts_then.count(k)) return Status::of(ErrorCode::kDuplicateKey);
      if (hits(*dels, k)) return Status::of(ErrorCode::kDuplicateKey);
      puts->insert(k);
    }
    dels->insert(dels->end(), dels_then.begin(), dels_then.end());
    dels->insert(dels->end(), dels_else.begin(), dels_else.end());
  }

  for (const auto& op : ops) {
    if (!op.has_request_put()) continue;
    const std::string& k = op.request_put().key();
    if (puts->count(k) || hits(*dels, k)) return Status::of(ErrorCode::kDuplicateKey);
    puts->insert(k);
  }
  return Status::ok();
}

Status check_op(const pb::RequestOp& op, int64_t max_txn_ops) {
  switch (op.request_case()) {
    case pb::RequestOp::kRequestRange: return check_range(op.request_range());
    case pb::RequestOp::kRequestPut: return check_put(op.request_put());
    case pb::RequestOp::kRequestDeleteRange: return check_delete(op.request_delete_range());
    case pb::RequestOp::kRequestTxn: return check_txn(op.request_txn(), max_txn_ops);
    default: return Status::of(ErrorCode::kKeyNotFound);  // an empty op, as etcd answers
  }
}

}  // namespace

Status check_range(const pb::RangeRequest& r) {
  if (r.key().empty()) return Status::of(ErrorCode::kEmptyKey);
  return Status::ok();
}

Status check_put(const pb::PutRequest& r) {
  if (r.key().empty()) return Status::of(ErrorCode::kEmptyKey);
  if (r.ignore_value() && !r.value().empty()) return Status::of(ErrorCode::kValueProvided);
  if (r.ignore_lease() && r.lease() != 0) return Status::of(ErrorCode::kLeaseProvided);
  return Status::ok();
}

Status check_delete(const pb::DeleteRangeRequest& r) {
  if (r.key().empty()) return Status::of(ErrorCode::kEmptyKey);
  return Status::ok();
}

Status check_txn(const pb::TxnRequest& r, int64_t max_txn_ops) {
  const int64_t ops =
      std::max({int64_t(r.compare_size()), int64_t(r.success_size()), int64_t(r.failure_size())});
  if (ops > max_txn_ops) return Status::of(ErrorCode::kTooManyOps);
  for (const auto& c : r.compare())
    if (c.key().empty()) return Status::of(ErrorCode::kEmptyKey);
  for (const auto* list : {&r.success(), &r.failure()}) {
    for (const auto& op : *list) {
      Status s = check_op(op, max_txn_ops - ops);
      if (!s) return s;
    }
  }
  return Status::ok();
}

Status check_txn_keys(const pb::TxnRequest& r) {
  for (const auto* list : {&r.success(), &r.failure()}) {
    std::set<std::string> puts;
    std::vector<Interval> dels;
    Status s = collect(*list, &puts, &dels);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace outpost::api
