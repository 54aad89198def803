// Request validation (core/api/validate.h) against etcd 3.4's v3rpc/key.go: checkTxnRequest
// (op counts per level, the nested budget, empty keys, empty ops) and checkIntervals (no key
// written twice in one txn), with the cases of etcd's TestV3TxnDuplicateKeys and
// TestV3TxnTooManyOps (integration/v3_grpc_test.go).

#include "core/api/validate.h"

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc::testing;
using outpost::api::check_delete;
using outpost::api::check_put;
using outpost::api::check_range;
using outpost::api::check_txn;
using outpost::api::check_txn_keys;

namespace {

constexpr int64_t kMaxTxnOps = 128;

ErrorCode txn_code(const pb::TxnRequest& t) {
  Status s = check_txn(t, kMaxTxnOps);
  if (!s) return s.code();
  return check_txn_keys(t).code();
}

std::string nth_key(int i) { return "key-" + std::to_string(i); }

pb::TxnRequest then_only(std::vector<pb::RequestOp> ops) {
  pb::TxnRequest t;
  for (auto& op : ops) *t.add_success() = std::move(op);
  return t;
}

}  // namespace

TEST_CASE("too many ops: more than max_txn_ops compares, success, failure or nested txns",
          "[validate][ops]") {
  auto fill = [](int n, int what) {
    pb::TxnRequest t;
    for (int i = 0; i < n; ++i) {
      switch (what) {
        case 0:
          *t.add_compare() = cmp_int(nth_key(i), pb::Compare::CREATE, pb::Compare::GREATER, 0);
          break;
        case 1: *t.add_success() = op_put(nth_key(i), "bar"); break;
        case 2: *t.add_failure() = op_put(nth_key(i), "bar"); break;
        case 3: *t.add_success() = op_txn(then_only({op_put(nth_key(i), "bar")})); break;
      }
    }
    return t;
  };
  for (int what = 0; what < 4; ++what) {
    INFO("kind " << what);
    Status s = check_txn(fill(129, what), kMaxTxnOps);
    CHECK(s.code() == ErrorCode::kTooManyOps);
    CHECK(s.message() == "etcdserver: too many operations in txn request");
    if (what != 3) CHECK(check_txn(fill(128, what), kMaxTxnOps).is_ok());
  }
  // 128 nested txns of one op each: the top level is at the limit and leaves the nested
  // level a budget of 0, so etcd refuses it too; 64 of them leave 64.
  CHECK(check_txn(fill(128, 3), kMaxTxnOps).code() == ErrorCode::kTooManyOps);
  CHECK(check_txn(fill(64, 3), kMaxTxnOps).is_ok());
}

TEST_CASE("too many ops: the count is the largest of compares, success and failure, not the sum",
          "[validate][ops]") {
  pb::TxnRequest t;
  for (int i = 0; i < 100; ++i) {
    *t.add_compare() = cmp_int(nth_key(i), pb::Compare::VERSION, pb::Compare::EQUAL, 0);
    *t.add_success() = op_put(nth_key(i), "v");
    *t.add_failure() = op_put(nth_key(i), "v");
  }
  CHECK(check_txn(t, kMaxTxnOps).is_ok());
}

TEST_CASE("too many ops: a nested txn may use only what its parent level left", "[validate][ops]") {
  auto build = [](int outer, int inner) {
    pb::TxnRequest nested;
    for (int i = 0; i < inner; ++i) *nested.add_success() = op_put("n" + nth_key(i), "v");
    pb::TxnRequest t;
    for (int i = 0; i < outer - 1; ++i) *t.add_success() = op_put(nth_key(i), "v");
    *t.add_success() = op_txn(nested);
    return t;
  };
  // 64 ops at the top leave 128 - 64 = 64 for the nested level.
  CHECK(check_txn(build(64, 64), kMaxTxnOps).is_ok());
  CHECK(check_txn(build(64, 65), kMaxTxnOps).code() == ErrorCode::kTooManyOps);
  // 128 at the top leave nothing: even one nested op is too many.
  CHECK(check_txn(build(128, 1), kMaxTxnOps).code() == ErrorCode::kTooManyOps);
  CHECK(check_txn(build(128, 0), kMaxTxnOps).is_ok());
}

TEST_CASE("empty keys and empty ops are refused, at any nesting level", "[validate]") {
  pb::TxnRequest t;
  *t.add_compare() = cmp_value("", pb::Compare::EQUAL, "x");
  CHECK(check_txn(t, kMaxTxnOps).code() == ErrorCode::kEmptyKey);

  CHECK(check_txn(then_only({op_range("")}), kMaxTxnOps).code() == ErrorCode::kEmptyKey);
  CHECK(check_txn(then_only({op_put("", "v")}), kMaxTxnOps).code() == ErrorCode::kEmptyKey);
  CHECK(check_txn(then_only({op_del("")}), kMaxTxnOps).code() == ErrorCode::kEmptyKey);
  CHECK(check_txn(then_only({op_txn(then_only({op_put("", "v")}))}), kMaxTxnOps).code() ==
        ErrorCode::kEmptyKey);

  pb::TxnRequest empty_op;
  empty_op.add_failure();  // a RequestOp with nothing set
  Status s = check_txn(empty_op, kMaxTxnOps);
  CHECK(s.code() == ErrorCode::kKeyNotFound);
  CHECK(s.message() == "etcdserver: key not found");
}

TEST_CASE("put validation: ignore_value with a value, ignore_lease with a lease", "[validate]") {
  auto p = put_req("k", "v");
  CHECK(check_put(p).is_ok());
  p.set_ignore_value(true);
  Status s = check_put(p);
  CHECK(s.code() == ErrorCode::kValueProvided);
  CHECK(s.message() == "etcdserver: value is provided");
  p.clear_value();
  CHECK(check_put(p).is_ok());
  p.set_ignore_lease(true);
  p.set_lease(5);
  s = check_put(p);
  CHECK(s.code() == ErrorCode::kLeaseProvided);
  CHECK(s.message() == "etcdserver: lease is provided");
  CHECK(check_range(range_req("")).code() == ErrorCode::kEmptyKey);
  CHECK(check_range(range_req("k")).is_ok());
  pb::DeleteRangeRequest d;
  CHECK(check_delete(d).code() == ErrorCode::kEmptyKey);
  d.set_key("k");
  CHECK(check_delete(d).is_ok());
}

// etcd's TestV3TxnDuplicateKeys, case by case.
TEST_CASE("duplicate keys: etcd's TestV3TxnDuplicateKeys table", "[validate][dup]") {
  const auto put = op_put("abc", "def");
  const auto del_key = op_del("abc");
  const auto del_in_range = op_del("a", "b");
  const auto del_out_of_range = op_del("abb", "abc");
  const auto txn_del = op_txn(then_only({del_in_range}));
  pb::TxnRequest two_side_del;
  *two_side_del.add_success() = del_in_range;
  *two_side_del.add_failure() = del_in_range;
  const auto txn_del_two_side = op_txn(two_side_del);
  const auto txn_put = op_txn(then_only({put}));
  pb::TxnRequest two_side_put;
  *two_side_put.add_success() = put;
  *two_side_put.add_failure() = put;
  const auto txn_put_two_side = op_txn(two_side_put);

  struct Case {
    const char* what;
    std::vector<pb::RequestOp> ops;
    ErrorCode want;
  };
  const Case cases[] = {
      {"two puts of one key", {put, put}, ErrorCode::kDuplicateKey},
      {"put and delete of the key", {put, del_key}, ErrorCode::kDuplicateKey},
      {"put inside a deleted range", {put, del_in_range}, ErrorCode::kDuplicateKey},
      {"Then(Put(a), Then(Del(a)))", {put, txn_del}, ErrorCode::kDuplicateKey},
      {"Then(Del(a), Then(Put(a)))", {del_in_range, txn_put}, ErrorCode::kDuplicateKey},
      {"two nested txns putting a on both sides",
       {txn_put_two_side, txn_put_two_side},
       ErrorCode::kDuplicateKey},
      {"Then(Del(x), (Then(Put(a)), Else(Put(a))))",
       {del_out_of_range, txn_put_two_side},
       ErrorCode::kOk},
      {"Then(Then(Del(a)), (Then(Del(a)), Else(Del(a))))",
       {txn_del, txn_del_two_side},
       ErrorCode::kOk},
      {"deletes may overlap each other",
       {del_key, del_in_range, del_key, del_in_range},
       ErrorCode::kOk},
      {"put next to a delete range ending at the key", {put, del_out_of_range}, ErrorCode::kOk},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(txn_code(then_only(c.ops)) == c.want);
  }
}

TEST_CASE("duplicate keys: the same key in then and else of one nested txn is allowed",
          "[validate][dup]") {
  pb::TxnRequest nested;
  *nested.add_success() = op_put("k", "1");
  *nested.add_failure() = op_put("k", "2");
  CHECK(txn_code(then_only({op_txn(nested)})) == ErrorCode::kOk);
  // ... but not together with a put of the key at the parent level.
  CHECK(txn_code(then_only({op_txn(nested), op_put("k", "3")})) == ErrorCode::kDuplicateKey);
  // ... nor when the else side repeats a key another nested txn already put.
  pb::TxnRequest only_else;
  *only_else.add_failure() = op_put("k", "4");
  CHECK(txn_code(then_only({op_txn(then_only({op_put("k", "5")})), op_txn(only_else)})) ==
        ErrorCode::kDuplicateKey);
}

TEST_CASE("duplicate keys: the top-level success and failure lists are checked apart",
          "[validate][dup]") {
  pb::TxnRequest t;
  *t.add_success() = op_put("k", "1");
  *t.add_failure() = op_put("k", "2");
  *t.add_failure() = op_del("k");
  CHECK(check_txn_keys(t).code() == ErrorCode::kDuplicateKey);  // the failure list clashes
  t.mutable_failure()->RemoveLast();
  CHECK(check_txn_keys(t).is_ok());
}

TEST_CASE("duplicate keys: ranges never clash with writes", "[validate][dup]") {
  CHECK(txn_code(then_only({op_put("k", "1"), op_range("k"), op_range("a", "z")})) ==
        ErrorCode::kOk);
  Status s = check_txn_keys(then_only({op_put("k", "1"), op_put("k", "2")}));
  CHECK(s.message() == "etcdserver: duplicate key given in txn request");
}

TEST_CASE("duplicate keys: a put right at a delete range's end does not clash, one inside does",
          "[validate][dup]") {
  CHECK(txn_code(then_only({op_del("a", "c"), op_put("c", "1")})) == ErrorCode::kOk);
  CHECK(txn_code(then_only({op_del("a", "c"), op_put("b\xff", "1")})) == ErrorCode::kDuplicateKey);
  CHECK(txn_code(then_only({op_del("b", "c"), op_put("a", "1")})) == ErrorCode::kOk);
}

TEST_CASE(
    "duplicate keys: etcd 3.4 does not see a from-key delete (range_end NUL) as "
    "overlapping any put",
    "[validate][dup][etcd-divergence]") {
  // etcd's checkIntervals builds the interval [key, "\x00") for range_end "\0"; that interval is
  // empty under adt's string order, so Intersects never matches it and etcd accepts the txn.
  CHECK(txn_code(then_only({op_del("a", kAllEnd), op_put("b", "1")})) == ErrorCode::kOk);
  CHECK(txn_code(then_only({op_del(kAllEnd, kAllEnd), op_put("b", "1")})) == ErrorCode::kOk);
  CHECK(txn_code(then_only({op_put("a", "1"), op_del("a", kAllEnd)})) == ErrorCode::kOk);
  // A nested from-key delete is no clash either.
  CHECK(txn_code(then_only({op_txn(then_only({op_del("a", kAllEnd)})), op_put("b", "1")})) ==
        ErrorCode::kOk);
}
