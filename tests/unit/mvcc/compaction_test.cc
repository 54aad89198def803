// Compaction as etcd 3.4 does it (mvcc/kvstore.go updateCompactRev / compact,
// mvcc/kvstore_txn.go rangeKeys, etcdserver/apply.go Compaction): error codes, which reads
// still work, which records stay on disk.

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;
using V = std::vector<std::string>;

namespace {

// a: put 2, put 3, put 5          (live, versions 1..3)
// b: put 4, delete 6              (gone)
// c: put 7, delete 8, put 9       (re-created: version 1, created 9)
// Current revision 9.
void load_history(Db& db) {
  REQUIRE(db.put("a", "a1") == 2);
  REQUIRE(db.put("a", "a2") == 3);
  REQUIRE(db.put("b", "b1") == 4);
  REQUIRE(db.put("a", "a3") == 5);
  REQUIRE(db.del("b") == 1);  // 6
  REQUIRE(db.put("c", "c1") == 7);
  REQUIRE(db.del("c") == 1);  // 8
  REQUIRE(db.put("c", "c2") == 9);
}

bool on_disk(Db& db, Revision r, bool tombstone = false) {
  std::string v;
  return db.engine().get_kv(revision_key(r, tombstone), &v);
}

}  // namespace

TEST_CASE("compaction above the current revision fails with kFutureRev", "[compact]") {
  Db db;
  load_history(db);
  Status s = db.compact(10);
  CHECK(s.code() == ErrorCode::kFutureRev);
  CHECK(s.message() == "etcdserver: mvcc: required revision is a future revision");
  CHECK(db.store().compact_revision() == -1);
}

TEST_CASE("compaction at or below the compacted revision fails with kCompacted", "[compact]") {
  Db db;
  load_history(db);
  REQUIRE(db.compact(5).is_ok());
  CHECK(db.store().compact_revision() == 5);
  Status s = db.compact(5);
  CHECK(s.code() == ErrorCode::kCompacted);
  CHECK(s.message() == "etcdserver: mvcc: required revision has been compacted");
  CHECK(db.compact(4).code() == ErrorCode::kCompacted);
  CHECK(db.compact(-1).code() == ErrorCode::kCompacted);
  CHECK(db.store().compact_revision() == 5);
  CHECK(db.compact(9).is_ok());  // the current revision itself may be compacted
  CHECK(db.store().compact_revision() == 9);
}

TEST_CASE("compaction reports the current revision and does not change it", "[compact]") {
  Db db;
  load_history(db);
  pb::CompactionResponse resp;
  REQUIRE(db.compact(6, &resp).is_ok());
  CHECK(resp.header().revision() == 9);
  CHECK(db.store().current_revision() == 9);
  CHECK(db.put("d", "d") == 10);
}

TEST_CASE(
    "compaction at revision 0 of a never-compacted store succeeds, as in etcd 3.4 "
    "(compactMainRev starts at -1)",
    "[compact]") {
  Db db;
  db.put("a", "1");
  pb::CompactionResponse resp;
  Status s = db.compact(0, &resp);
  INFO(s.message());
  CHECK(s.is_ok());
  CHECK(resp.header().revision() == 2);
  CHECK(db.get("a").value() == "1");
  // A second compaction at 0 is then at the compacted revision.
  CHECK(db.compact(0).code() == ErrorCode::kCompacted);
}

TEST_CASE("reads below the compacted revision fail, at it and after they succeed", "[compact]") {
  Db db;
  load_history(db);
  REQUIRE(db.compact(5).is_ok());
  pb::RangeResponse resp;
  for (int64_t rev : {1, 2, 3, 4}) {
    INFO("read at " << rev);
    auto req = range_req("a", "z");
    req.set_revision(rev);
    Status s = db.range(req, &resp);
    CHECK(s.code() == ErrorCode::kCompacted);
  }
  // At the compacted revision: the newest record <= 5 of every key live then.
  auto r = db.range("a", "z", 5);
  CHECK(keys_of(r) == V{"a", "b"});
  CHECK(r.kvs(0).value() == "a3");
  CHECK(r.kvs(0).version() == 3);
  CHECK(r.kvs(0).create_revision() == 2);
  CHECK(r.kvs(1).value() == "b1");
  // After it every revision is intact.
  CHECK(keys_of(db.range("a", "z", 6)) == V{"a"});
  CHECK(keys_of(db.range("a", "z", 7)) == V{"a", "c"});
  CHECK(keys_of(db.range("a", "z", 8)) == V{"a"});
  r = db.range("a", "z");
  CHECK(keys_of(r) == V{"a", "c"});
  CHECK(r.kvs(1).version() == 1);
  CHECK(r.kvs(1).create_revision() == 9);
  // Revision 0 still means "current".
  CHECK(db.range("a").kvs(0).value() == "a3");
}

TEST_CASE("compaction removes superseded records and keeps the latest of each live key",
          "[compact]") {
  Db db;
  load_history(db);
  REQUIRE(db.compact(5).is_ok());
  CHECK_FALSE(on_disk(db, {2, 0}));  // a1, superseded by a3 at 5
  CHECK_FALSE(on_disk(db, {3, 0}));  // a2
  CHECK(on_disk(db, {5, 0}));        // a3: latest of a at 5
  CHECK(on_disk(db, {4, 0}));        // b1: latest of b at 5 (deleted only at 6)
  CHECK(on_disk(db, {6, 0}, true));  // b's tombstone: after the compaction
  CHECK(on_disk(db, {7, 0}));
  CHECK(on_disk(db, {8, 0}, true));
  CHECK(on_disk(db, {9, 0}));
}

TEST_CASE("compaction drops tombstoned generations at or below the compacted revision",
          "[compact]") {
  Db db;
  load_history(db);
  REQUIRE(db.compact(8).is_ok());
  CHECK(on_disk(db, {5, 0}));        // a3 stays
  CHECK_FALSE(on_disk(db, {4, 0}));  // b's whole life ended at 6
  CHECK_FALSE(on_disk(db, {6, 0}, true));
  CHECK_FALSE(on_disk(db, {7, 0}));  // c's first generation ended at 8
  CHECK_FALSE(on_disk(db, {8, 0}, true));
  CHECK(on_disk(db, {9, 0}));
  CHECK(db.store().key_count() == 2);  // b is gone from the index, a and c remain

  auto r = db.range("a", "z", 8);
  CHECK(keys_of(r) == V{"a"});
  r = db.range("a", "z");
  CHECK(keys_of(r) == V{"a", "c"});
  CHECK(r.count() == 2);
}

TEST_CASE("compaction at the current revision keeps every live key readable", "[compact]") {
  Db db;
  load_history(db);
  REQUIRE(db.compact(9).is_ok());
  auto r = db.range(kAllEnd, kAllEnd);
  CHECK(keys_of(r) == V{"a", "c"});
  CHECK(r.kvs(0).version() == 3);
  CHECK(r.kvs(0).mod_revision() == 5);
  CHECK(r.kvs(1).create_revision() == 9);
  // Writes after the compaction continue the versions.
  db.put("a", "a4");  // 10
  CHECK(db.get("a").version() == 4);
  CHECK(db.get("a").create_revision() == 2);
  CHECK(db.get("a", 9).value() == "a3");
}

TEST_CASE("compaction is a write: deleting a key whose only record was kept still works",
          "[compact]") {
  Db db;
  db.put("k", "v");  // 2
  db.put("x", "x");  // 3
  REQUIRE(db.compact(3).is_ok());
  CHECK(db.del("k") == 1);  // 4
  CHECK_FALSE(db.exists("k"));
  CHECK(db.get("k", 3).value() == "v");
  REQUIRE(db.compact(4).is_ok());
  CHECK_FALSE(on_disk(db, {2, 0}));
  CHECK_FALSE(on_disk(db, {4, 0}, true));
  CHECK(db.store().key_count() == 1);
}
