// Store: revisions, sub revisions, create/mod revision and version, tombstones, write
// transactions seeing their own writes. etcd 3.4 facts: mvcc/kvstore_txn.go, mvcc/kv_test.go.

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;

TEST_CASE("a new store is at revision 1 with compact revision -1 (etcd's 'none')", "[store]") {
  Db db;
  CHECK(db.store().current_revision() == 1);
  CHECK(db.store().compact_revision() == -1);
  CHECK(db.store().consistent_index() == 0);
  auto r = db.range("a", kAllEnd);
  CHECK(r.header().revision() == 1);
  CHECK(r.kvs_size() == 0);
  CHECK(r.count() == 0);
}

TEST_CASE("each write transaction that changes something adds one main revision", "[store]") {
  Db db;
  CHECK(db.put("a", "1") == 2);
  CHECK(db.put("b", "1") == 3);
  CHECK(db.put("a", "2") == 4);
  CHECK(db.store().current_revision() == 4);
  CHECK(db.del("b") == 1);
  CHECK(db.store().current_revision() == 5);
}

TEST_CASE("a write transaction without changes leaves the revision alone", "[store]") {
  Db db;
  db.put("a", "1");
  {
    WriteTxn w(db.store());
    CHECK(w.rev() == 2);
    REQUIRE(w.end().is_ok());
  }
  CHECK(db.store().current_revision() == 2);
  CHECK(db.del("missing") == 0);
  CHECK(db.store().current_revision() == 2);
}

TEST_CASE("changes inside one write transaction share the main revision with growing subs",
          "[store]") {
  Db db;
  {
    WriteTxn w(db.store());
    CHECK(w.rev() == 1);
    CHECK(w.put("a", "1", 0) == 2);
    CHECK(w.rev() == 2);  // reads in the txn now see revision 2
    CHECK(w.put("b", "1", 0) == 2);
    CHECK(w.put("c", "1", 0) == 2);
    int64_t rev = 0;
    CHECK(w.delete_range("b", "", &rev) == 1);
    CHECK(rev == 2);
    REQUIRE(w.changes().size() == 4);
    CHECK(w.changes()[0].mod_revision() == 2);
    CHECK(w.changes()[3].key() == "b");
    REQUIRE(w.end().is_ok());
  }
  CHECK(db.store().current_revision() == 2);
  // The kv column holds one record per change, keyed {2, 0}, {2, 1}, {2, 2} and {2, 3}+'t'.
  std::string v;
  CHECK(db.engine().get_kv(revision_key({2, 0}), &v));
  CHECK(db.engine().get_kv(revision_key({2, 1}), &v));
  CHECK(db.engine().get_kv(revision_key({2, 2}), &v));
  CHECK(db.engine().get_kv(revision_key({2, 3}, true), &v));
  CHECK_FALSE(db.engine().get_kv(revision_key({2, 3}), &v));
  CHECK(db.exists("a"));
  CHECK_FALSE(db.exists("b"));
  CHECK(db.exists("c"));
}

TEST_CASE("create_revision, mod_revision and version follow every put", "[store]") {
  Db db;
  db.put("k", "v1");  // rev 2
  db.put("x", "x");   // rev 3
  db.put("k", "v2");  // rev 4
  db.put("k", "v3");  // rev 5
  auto kv = db.get("k");
  CHECK(kv.value() == "v3");
  CHECK(kv.create_revision() == 2);
  CHECK(kv.mod_revision() == 5);
  CHECK(kv.version() == 3);
  CHECK(kv.lease() == 0);

  // The same key read at past revisions shows its state then.
  auto old = db.get("k", 4);
  CHECK(old.value() == "v2");
  CHECK(old.create_revision() == 2);
  CHECK(old.mod_revision() == 4);
  CHECK(old.version() == 2);
  old = db.get("k", 3);
  CHECK(old.value() == "v1");
  CHECK(old.version() == 1);
  CHECK_FALSE(db.exists("k", 1));
}

TEST_CASE("a delete writes a tombstone and a re-created key starts again at version 1", "[store]") {
  Db db;
  db.put("k", "v1");        // 2
  db.put("k", "v2");        // 3
  CHECK(db.del("k") == 1);  // 4
  CHECK_FALSE(db.exists("k"));
  std::string v;
  CHECK(db.engine().get_kv(revision_key({4, 0}, true), &v));
  mvccpb::KeyValue tomb;
  REQUIRE(tomb.ParseFromString(v));
  CHECK(tomb.key() == "k");  // a tombstone record holds just the key
  CHECK(tomb.value().empty());
  CHECK(tomb.mod_revision() == 0);

  db.put("k", "again");  // 5
  auto kv = db.get("k");
  CHECK(kv.version() == 1);
  CHECK(kv.create_revision() == 5);
  CHECK(kv.mod_revision() == 5);
  // History stays readable across the generations.
  CHECK(db.get("k", 3).value() == "v2");
  CHECK(db.get("k", 3).version() == 2);
  CHECK_FALSE(db.exists("k", 4));
}

TEST_CASE("a write transaction reads its own earlier writes", "[store]") {
  Db db;
  db.put("a", "old");
  WriteTxn w(db.store());
  w.put("a", "new", 0);
  w.put("b", "fresh", 0);
  RangeResult rr;
  REQUIRE(w.range("a", "c", {}, &rr).is_ok());
  REQUIRE(rr.kvs.size() == 2);
  CHECK(rr.kvs[0].value() == "new");
  CHECK(rr.kvs[0].version() == 2);
  CHECK(rr.kvs[1].value() == "fresh");
  CHECK(rr.rev == 3);
  REQUIRE(w.end().is_ok());
}

TEST_CASE("the commit hook sees each write transaction's changes and revision", "[store]") {
  Db db;
  int64_t seen_rev = 0;
  size_t seen_changes = 0;
  db.store().set_on_commit([&](int64_t rev, const std::vector<mvccpb::KeyValue>& changes) {
    seen_rev = rev;
    seen_changes = changes.size();
  });
  {
    WriteTxn w(db.store());
    w.put("a", "1", 0);
    w.put("b", "1", 0);
    REQUIRE(w.end().is_ok());
  }
  CHECK(seen_rev == 2);
  CHECK(seen_changes == 2);
  seen_rev = 0;
  CHECK(db.del("missing") == 0);
  CHECK(seen_rev == 0);  // nothing changed: no event
  db.store().set_on_commit(nullptr);
}

TEST_CASE("a ReadTxn reads at the revision current when it began", "[store]") {
  Db db;
  db.put("a", "1");
  ReadTxn r(db.store());
  CHECK(r.rev() == 2);
  CHECK(r.first_rev() == -1);
  RangeResult rr;
  REQUIRE(r.range("a", "", {}, &rr).is_ok());
  CHECK(rr.rev == 2);
  REQUIRE(rr.kvs.size() == 1);
}

TEST_CASE("the consistent index is stored with the transaction that applies it", "[store]") {
  Db db;
  {
    WriteTxn w(db.store());
    w.set_consistent_index(7);
    w.put("a", "1", 0);
    REQUIRE(w.end().is_ok());
  }
  CHECK(db.store().consistent_index() == 7);
  {
    WriteTxn w(db.store());  // no change, but the index still moves (an applied no-op entry)
    w.set_consistent_index(8);
    REQUIRE(w.end().is_ok());
  }
  CHECK(db.store().consistent_index() == 8);
  CHECK(db.store().current_revision() == 2);
}

TEST_CASE("a write transaction that is not ended explicitly commits when destroyed", "[store]") {
  Db db;
  {
    WriteTxn w(db.store());
    w.put("a", "1", 0);
  }
  CHECK(db.store().current_revision() == 2);
  CHECK(db.get("a").value() == "1");
}

TEST_CASE("keys and values compare as unsigned bytes", "[store]") {
  Db db;
  db.put(std::string("\x80", 1), "high");
  db.put("a", "low");
  db.put(std::string("\xff\x01", 2), "higher");
  auto r = db.range(kAllEnd, kAllEnd);
  REQUIRE(r.kvs_size() == 3);
  CHECK(r.kvs(0).key() == "a");
  CHECK(r.kvs(1).key() == std::string("\x80", 1));
  CHECK(r.kvs(2).key() == std::string("\xff\x01", 2));
  CHECK(db.range("a", std::string("\x90", 1)).kvs_size() == 2);
}

TEST_CASE("opening a store over a corrupt kv record fails with kCorrupt", "[store]") {
  Db db;
  db.put("a", "1");
  {
    auto b = db.engine().new_batch();
    b.put_kv(revision_key({3, 0}), std::string("\xff\xff\xff", 3));  // not a KeyValue
    REQUIRE(db.engine().write(b).is_ok());
  }
  auto reopened = Store::open(&db.engine());
  REQUIRE_FALSE(reopened.is_ok());
  CHECK(reopened.status().code() == ErrorCode::kCorrupt);
}
