// Txn as etcd 3.4's applier runs it (etcdserver/apply.go Txn, applyCompare, compareKV,
// checkRequests, applyTxn): compares on every target with every result, missing keys, ranges of
// keys, both branches, nested txns, reads of the txn's own writes, response header revisions,
// checks made before anything changes, and read-only txns served from a ReadTxn.

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;
using V = std::vector<std::string>;
using C = pb::Compare;

namespace {

bool lease_42_exists(int64_t id) { return id == 42; }

// "k": value "m", create 2, mod 4, version 2, lease 42. Current revision 4.
void load_compare_key(Db& db) {
  auto p = put_req("k", "first");
  p.set_lease(42);
  pb::PutResponse resp;
  REQUIRE(db.put(p, &resp, lease_42_exists).is_ok());
  db.put("other", "x");
  p.set_value("m");
  resp.Clear();
  REQUIRE(db.put(p, &resp, lease_42_exists).is_ok());
  auto kv = db.get("k");
  REQUIRE(kv.create_revision() == 2);
  REQUIRE(kv.mod_revision() == 4);
  REQUIRE(kv.version() == 2);
  REQUIRE(kv.lease() == 42);
}

bool compare_holds(Db& db, const C& c) {
  pb::TxnRequest t;
  *t.add_compare() = c;
  pb::TxnResponse resp;
  Status s = db.txn(t, &resp);
  REQUIRE(s.is_ok());
  return resp.succeeded();
}

// Expected outcome of `actual <result> target` with actual compared to target as etcd does.
bool expect(C::CompareResult res, int order /* -1, 0, 1: actual vs target */) {
  switch (res) {
    case C::EQUAL: return order == 0;
    case C::NOT_EQUAL: return order != 0;
    case C::GREATER: return order > 0;
    case C::LESS: return order < 0;
    default: return true;
  }
}

const C::CompareResult kResults[] = {C::EQUAL, C::NOT_EQUAL, C::GREATER, C::LESS};

}  // namespace

TEST_CASE("compare: every integer target with every result", "[txn][compare]") {
  Db db;
  load_compare_key(db);
  const std::pair<C::CompareTarget, int64_t> actual[] = {
      {C::VERSION, 2}, {C::CREATE, 2}, {C::MOD, 4}, {C::LEASE, 42}};
  for (const auto& [target, value] : actual) {
    for (auto res : kResults) {
      for (int delta : {-1, 0, 1}) {
        INFO("target " << C::CompareTarget_Name(target) << " result " << C::CompareResult_Name(res)
                       << " against " << value + delta);
        // actual vs (actual + delta): order is -delta.
        CHECK(compare_holds(db, cmp_int("k", target, res, value + delta)) == expect(res, -delta));
      }
    }
  }
}

TEST_CASE("compare: VALUE with every result compares bytes", "[txn][compare]") {
  Db db;
  load_compare_key(db);
  const std::pair<std::string, int> targets[] = {
      {"a", 1}, {"m", 0}, {"z", -1}, {"m\x01", -1}, {"", 1}};
  for (const auto& [target, order] : targets) {
    for (auto res : kResults) {
      INFO("result " << C::CompareResult_Name(res) << " against '" << target << "'");
      CHECK(compare_holds(db, cmp_value("k", res, target)) == expect(res, order));
    }
  }
}

TEST_CASE("compare: a VALUE compare on a missing key always fails", "[txn][compare]") {
  Db db;
  db.put("present", "x");
  for (auto res : kResults) {
    INFO("result " << C::CompareResult_Name(res));
    CHECK_FALSE(compare_holds(db, cmp_value("missing", res, "")));
    CHECK_FALSE(compare_holds(db, cmp_value("missing", res, "x")));
  }
  // Same for a deleted key.
  db.del("present");
  CHECK_FALSE(compare_holds(db, cmp_value("present", C::NOT_EQUAL, "x")));
}

TEST_CASE("compare: integer targets on a missing key compare against zero", "[txn][compare]") {
  Db db;
  db.put("present", "x");
  for (auto target : {C::VERSION, C::CREATE, C::MOD, C::LEASE}) {
    INFO("target " << C::CompareTarget_Name(target));
    CHECK(compare_holds(db, cmp_int("missing", target, C::EQUAL, 0)));
    CHECK_FALSE(compare_holds(db, cmp_int("missing", target, C::NOT_EQUAL, 0)));
    CHECK(compare_holds(db, cmp_int("missing", target, C::LESS, 1)));
    CHECK_FALSE(compare_holds(db, cmp_int("missing", target, C::GREATER, 0)));
    CHECK(compare_holds(db, cmp_int("missing", target, C::GREATER, -1)));
  }
}

TEST_CASE("compare with a target union left unset compares against zero / empty",
          "[txn][compare]") {
  Db db;
  load_compare_key(db);
  C c;
  c.set_key("k");
  c.set_target(C::VERSION);
  c.set_result(C::GREATER);  // version 2 > 0
  CHECK(compare_holds(db, c));
  c.set_target(C::VALUE);  // "m" > ""
  CHECK(compare_holds(db, c));
  c.set_target(C::MOD);
  c.set_value("ignored");  // a value given for a MOD compare counts as 0
  CHECK(compare_holds(db, c));
}

TEST_CASE("compare with range_end must hold for every key in the range", "[txn][compare]") {
  Db db;
  db.put("r1", "a");  // version 1
  db.put("r2", "a");
  db.put("r2", "b");  // version 2
  db.put("s", "z");
  auto ranged = [](C c, const std::string& end) {
    c.set_range_end(end);
    return c;
  };
  CHECK(compare_holds(db, ranged(cmp_int("r1", C::VERSION, C::GREATER, 0), "r3")));
  CHECK_FALSE(compare_holds(db, ranged(cmp_int("r1", C::VERSION, C::EQUAL, 1), "r3")));
  CHECK(compare_holds(db, ranged(cmp_int("r1", C::VERSION, C::LESS, 3), "r3")));
  CHECK_FALSE(compare_holds(db, ranged(cmp_value("r1", C::EQUAL, "a"), "r3")));
  CHECK(compare_holds(db, ranged(cmp_value("r1", C::LESS, "c"), "r3")));
  // "\0" as range_end: every key >= key ("r1", "r2", "s").
  CHECK_FALSE(compare_holds(db, ranged(cmp_value("r1", C::LESS, "c"), kAllEnd)));
  CHECK(compare_holds(db, ranged(cmp_value("r1", C::LESS, "zz"), kAllEnd)));
  // An empty range behaves like a missing key.
  CHECK(compare_holds(db, ranged(cmp_int("x", C::CREATE, C::EQUAL, 0), "y")));
  CHECK_FALSE(compare_holds(db, ranged(cmp_value("x", C::NOT_EQUAL, "q"), "y")));
}

TEST_CASE("all compares must hold for the success branch", "[txn][compare]") {
  Db db;
  load_compare_key(db);
  pb::TxnRequest t;
  *t.add_compare() = cmp_value("k", C::EQUAL, "m");
  *t.add_compare() = cmp_int("k", C::VERSION, C::EQUAL, 2);
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK(resp.succeeded());
  *t.add_compare() = cmp_int("k", C::MOD, C::EQUAL, 3);
  resp.Clear();
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK_FALSE(resp.succeeded());
  // No compares at all: success.
  pb::TxnRequest empty;
  resp.Clear();
  REQUIRE(db.txn(empty, &resp).is_ok());
  CHECK(resp.succeeded());
  CHECK(resp.header().revision() == 4);
}

TEST_CASE("the success branch runs when compares hold, the failure branch otherwise", "[txn]") {
  Db db;
  db.put("k", "v");  // 2
  pb::TxnRequest t;
  *t.add_compare() = cmp_value("k", C::EQUAL, "v");
  *t.add_success() = op_put("then", "1");
  *t.add_success() = op_range("k");
  *t.add_failure() = op_put("else", "1");

  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK(resp.succeeded());
  REQUIRE(resp.responses_size() == 2);
  CHECK(resp.responses(0).has_response_put());
  CHECK(resp.responses(1).has_response_range());
  CHECK(resp.header().revision() == 3);
  CHECK(db.exists("then"));
  CHECK_FALSE(db.exists("else"));

  db.put("k", "changed");  // 4
  resp.Clear();
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK_FALSE(resp.succeeded());
  REQUIRE(resp.responses_size() == 1);
  CHECK(resp.responses(0).has_response_put());
  CHECK(resp.responses(0).response_put().header().revision() == 5);
  CHECK(db.exists("else"));
  CHECK(db.get("then").version() == 1);  // success branch did not run again
}

TEST_CASE("all writes of a txn share one revision with growing sub revisions", "[txn]") {
  Db db;
  db.put("x", "x");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_put("a", "1");
  *t.add_success() = op_put("b", "1");
  *t.add_success() = op_del("x");
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK(resp.header().revision() == 3);
  CHECK(db.store().current_revision() == 3);
  CHECK(db.get("a").mod_revision() == 3);
  CHECK(db.get("b").mod_revision() == 3);
  std::string v;
  CHECK(db.engine().get_kv(revision_key({3, 0}), &v));
  CHECK(db.engine().get_kv(revision_key({3, 1}), &v));
  CHECK(db.engine().get_kv(revision_key({3, 2}, true), &v));
}

TEST_CASE("reads inside a write txn see the txn's earlier writes", "[txn]") {
  Db db;
  db.put("a", "old");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_range("a");  // before the put: old, header 2
  *t.add_success() = op_put("a", "new");
  *t.add_success() = op_range("a");  // after: new, header 3
  *t.add_success() = op_del("a", "", /*prev_kv=*/true);
  *t.add_success() = op_range("a");  // deleted
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  REQUIRE(resp.responses_size() == 5);
  const auto& before = resp.responses(0).response_range();
  REQUIRE(before.kvs_size() == 1);
  CHECK(before.kvs(0).value() == "old");
  CHECK(before.header().revision() == 2);

  CHECK(resp.responses(1).response_put().header().revision() == 3);

  const auto& after = resp.responses(2).response_range();
  REQUIRE(after.kvs_size() == 1);
  CHECK(after.kvs(0).value() == "new");
  CHECK(after.kvs(0).mod_revision() == 3);
  CHECK(after.kvs(0).version() == 2);
  CHECK(after.header().revision() == 3);

  const auto& del = resp.responses(3).response_delete_range();
  CHECK(del.deleted() == 1);
  REQUIRE(del.prev_kvs_size() == 1);
  CHECK(del.prev_kvs(0).value() == "new");
  CHECK(del.header().revision() == 3);

  CHECK(resp.responses(4).response_range().kvs_size() == 0);
  CHECK(resp.header().revision() == 3);
  CHECK_FALSE(db.exists("a"));
  CHECK(db.get("a", 2).value() == "old");
}

TEST_CASE("header revisions of a txn that changes nothing stay at the current revision", "[txn]") {
  Db db;
  db.put("abc", "def");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_range("abc");
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK(resp.header().revision() == 2);

  pb::TxnRequest d;
  *d.add_success() = op_del("def");  // missing key
  resp.Clear();
  REQUIRE(db.txn(d, &resp).is_ok());
  CHECK(resp.header().revision() == 2);
  CHECK(resp.responses(0).response_delete_range().header().revision() == 2);
  CHECK(resp.responses(0).response_delete_range().deleted() == 0);
  CHECK(db.store().current_revision() == 2);
}

TEST_CASE("a delete of a missing key after a write in the same txn reports the txn's revision",
          "[txn]") {
  Db db;
  db.put("x", "1");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_put("a", "1");
  *t.add_success() = op_del("missing");
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  CHECK(resp.responses(1).response_delete_range().deleted() == 0);
  CHECK(resp.responses(1).response_delete_range().header().revision() == 3);
}

TEST_CASE("nested txns: branches chosen per level, inner headers left at revision 0",
          "[txn][nested]") {
  Db db;
  db.put("flag", "on");  // 2

  pb::TxnRequest inner_true;
  *inner_true.add_compare() = cmp_value("flag", C::EQUAL, "on");
  *inner_true.add_success() = op_put("inner-then", "1");
  *inner_true.add_failure() = op_put("inner-else", "1");

  pb::TxnRequest inner_false;
  *inner_false.add_compare() = cmp_value("flag", C::EQUAL, "off");
  *inner_false.add_success() = op_put("inner2-then", "1");
  *inner_false.add_failure() = op_put("inner2-else", "1");
  *inner_false.add_failure() = op_range("flag");

  pb::TxnRequest outer;
  *outer.add_compare() = cmp_int("flag", C::VERSION, C::EQUAL, 1);
  *outer.add_success() = op_txn(inner_true);
  *outer.add_success() = op_txn(inner_false);
  *outer.add_success() = op_put("outer", "1");
  *outer.add_failure() = op_put("outer-else", "1");

  pb::TxnResponse resp;
  REQUIRE(db.txn(outer, &resp).is_ok());
  CHECK(resp.succeeded());
  CHECK(resp.header().revision() == 3);
  REQUIRE(resp.responses_size() == 3);

  const auto& r0 = resp.responses(0).response_txn();
  CHECK(r0.succeeded());
  REQUIRE(r0.responses_size() == 1);
  CHECK(r0.responses(0).response_put().header().revision() == 3);
  CHECK(r0.header().revision() == 0);  // etcd fills only the top-level header

  const auto& r1 = resp.responses(1).response_txn();
  CHECK_FALSE(r1.succeeded());
  REQUIRE(r1.responses_size() == 2);
  CHECK(r1.responses(1).response_range().kvs(0).value() == "on");
  CHECK(r1.responses(1).response_range().header().revision() == 3);
  CHECK(r1.header().revision() == 0);

  CHECK(db.exists("inner-then"));
  CHECK_FALSE(db.exists("inner-else"));
  CHECK_FALSE(db.exists("inner2-then"));
  CHECK(db.exists("inner2-else"));
  CHECK(db.exists("outer"));
  CHECK_FALSE(db.exists("outer-else"));
  for (const char* k : {"inner-then", "inner2-else", "outer"}) CHECK(db.get(k).mod_revision() == 3);
}

TEST_CASE("nested compares are all evaluated before any op of the txn runs", "[txn][nested]") {
  Db db;
  db.put("a", "old");  // 2
  pb::TxnRequest inner;
  *inner.add_compare() = cmp_value("a", C::EQUAL, "old");
  *inner.add_success() = op_put("saw", "old");
  *inner.add_failure() = op_put("saw", "new");
  pb::TxnRequest outer;
  *outer.add_success() = op_put("a", "new");
  *outer.add_success() = op_txn(inner);
  pb::TxnResponse resp;
  REQUIRE(db.txn(outer, &resp).is_ok());
  CHECK(resp.responses(1).response_txn().succeeded());
  CHECK(db.get("saw").value() == "old");
  CHECK(db.get("a").value() == "new");
}

TEST_CASE("a nested txn in the branch not taken is neither checked nor run", "[txn][nested]") {
  Db db;
  db.put("k", "v");  // 2
  pb::TxnRequest inner;
  *inner.add_success() = op_put("bad-lease", "1", /*lease=*/99);
  pb::TxnRequest outer;
  *outer.add_compare() = cmp_value("k", C::EQUAL, "v");
  *outer.add_success() = op_put("ok", "1");
  *outer.add_failure() = op_txn(inner);
  pb::TxnResponse resp;
  REQUIRE(db.txn(outer, &resp).is_ok());
  CHECK(resp.succeeded());
  CHECK(db.exists("ok"));
}

TEST_CASE("a put naming a missing lease fails the whole txn before anything changes",
          "[txn][check]") {
  Db db;
  db.put("k", "v");  // 2
  pb::TxnRequest inner;
  *inner.add_success() = op_put("leased", "1", /*lease=*/99);
  pb::TxnRequest t;
  *t.add_success() = op_put("first", "1");
  *t.add_success() = op_txn(inner);
  pb::TxnResponse resp;
  Status s = db.txn(t, &resp);
  CHECK(s.code() == ErrorCode::kLeaseNotFound);
  CHECK(db.store().current_revision() == 2);
  CHECK_FALSE(db.exists("first"));
  CHECK_FALSE(db.exists("leased"));
}

TEST_CASE("a put with ignore_value on a missing key fails the txn with kKeyNotFound",
          "[txn][check]") {
  Db db;
  db.put("k", "v");
  pb::TxnRequest t;
  *t.add_success() = op_put("first", "1");
  pb::RequestOp op;
  op.mutable_request_put()->set_key("missing");
  op.mutable_request_put()->set_ignore_value(true);
  *t.add_success() = op;
  pb::TxnResponse resp;
  CHECK(db.txn(t, &resp).code() == ErrorCode::kKeyNotFound);
  CHECK(db.store().current_revision() == 2);
  CHECK_FALSE(db.exists("first"));
}

TEST_CASE("a range at a future revision in a txn fails with kFutureRev before anything changes",
          "[txn][check]") {
  Db db;
  db.put("k", "v");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_put("first", "1");
  *t.add_success() = op_range("k", "", 3);  // 3 would be this txn's own revision: still future
  pb::TxnResponse resp;
  CHECK(db.txn(t, &resp).code() == ErrorCode::kFutureRev);
  CHECK(db.store().current_revision() == 2);
  CHECK_FALSE(db.exists("first"));
}

TEST_CASE("a range at a compacted revision in a txn fails with kCompacted", "[txn][check]") {
  Db db;
  db.put("k", "1");  // 2
  db.put("k", "2");  // 3
  db.put("k", "3");  // 4
  REQUIRE(db.compact(3).is_ok());
  pb::TxnRequest t;
  *t.add_success() = op_put("first", "1");
  *t.add_success() = op_range("k", "", 2);
  pb::TxnResponse resp;
  CHECK(db.txn(t, &resp).code() == ErrorCode::kCompacted);
  CHECK_FALSE(db.exists("first"));

  pb::TxnRequest ok;
  *ok.add_success() = op_range("k", "", 3);  // at the compacted revision: allowed
  resp.Clear();
  REQUIRE(db.txn(ok, &resp).is_ok());
  CHECK(resp.responses(0).response_range().kvs(0).value() == "2");
}

TEST_CASE("is_txn_read_only looks through nested txns and both branches", "[txn][readonly]") {
  pb::TxnRequest ro;
  *ro.add_success() = op_range("a");
  *ro.add_failure() = op_range("b");
  CHECK(is_txn_read_only(ro));
  pb::TxnRequest nested_ro;
  *nested_ro.add_success() = op_txn(ro);
  CHECK(is_txn_read_only(nested_ro));
  CHECK(is_txn_read_only(pb::TxnRequest{}));

  pb::TxnRequest w;
  *w.add_failure() = op_put("a", "1");
  CHECK_FALSE(is_txn_read_only(w));
  pb::TxnRequest d;
  *d.add_success() = op_del("a");
  CHECK_FALSE(is_txn_read_only(d));
  pb::TxnRequest nested_w;
  *nested_w.add_success() = op_range("a");
  *nested_w.add_failure() = op_txn(w);
  CHECK_FALSE(is_txn_read_only(nested_w));
}

TEST_CASE("a read-only txn runs in a ReadTxn and reports the current revision", "[txn][readonly]") {
  Db db;
  db.put("a", "1");  // 2
  db.put("b", "2");  // 3
  pb::TxnRequest inner;
  *inner.add_success() = op_range("b");
  pb::TxnRequest t;
  *t.add_compare() = cmp_value("a", C::EQUAL, "1");
  *t.add_success() = op_range("a", kAllEnd);
  *t.add_success() = op_range("a", "", 2);
  *t.add_success() = op_txn(inner);
  pb::TxnResponse resp;
  REQUIRE(db.read_txn(t, &resp).is_ok());
  CHECK(resp.succeeded());
  CHECK(resp.header().revision() == 3);
  REQUIRE(resp.responses_size() == 3);
  CHECK(keys_of(resp.responses(0).response_range()) == V{"a", "b"});
  CHECK(resp.responses(0).response_range().header().revision() == 3);
  CHECK(resp.responses(1).response_range().kvs_size() == 1);
  CHECK(resp.responses(2).response_txn().responses(0).response_range().kvs(0).value() == "2");
  CHECK(db.store().current_revision() == 3);

  pb::TxnRequest future;
  *future.add_success() = op_range("a", "", 4);
  resp.Clear();
  CHECK(db.read_txn(future, &resp).code() == ErrorCode::kFutureRev);
}

TEST_CASE("txn range ops honour limit, sort and count like a plain range", "[txn]") {
  Db db;
  for (const char* k : {"a", "b", "c"}) db.put(k, k);
  pb::RequestOp op = op_range("a", "z");
  op.mutable_request_range()->set_limit(1);
  op.mutable_request_range()->set_sort_order(pb::RangeRequest::DESCEND);
  pb::TxnRequest t;
  *t.add_success() = op;
  pb::TxnResponse resp;
  REQUIRE(db.read_txn(t, &resp).is_ok());
  const auto& r = resp.responses(0).response_range();
  CHECK(keys_of(r) == V{"c"});
  CHECK(r.more());
  CHECK(r.count() == 3);
}

TEST_CASE("a range at the pre-txn revision inside a write txn reads the state before the txn",
          "[txn]") {
  Db db;
  db.put("a", "old");  // 2
  pb::TxnRequest t;
  *t.add_success() = op_put("a", "new");
  *t.add_success() = op_range("a", "", 2);
  pb::TxnResponse resp;
  REQUIRE(db.txn(t, &resp).is_ok());
  const auto& r = resp.responses(1).response_range();
  REQUIRE(r.kvs_size() == 1);
  CHECK(r.kvs(0).value() == "old");
  CHECK(r.header().revision() == 3);
}

TEST_CASE("a VALUE compare orders bytes unsigned", "[txn][compare]") {
  Db db;
  db.put("k", std::string("\xff", 1));
  CHECK(compare_holds(db, cmp_value("k", C::GREATER, "z")));
  CHECK(compare_holds(db, cmp_value("k", C::LESS, std::string("\xff\x00", 2))));
}
