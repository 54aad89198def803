// Store::hash_kv: etcd 3.4's HashKV (mvcc/kvstore.go hashByRev): CRC-32C (Castagnoli) over the
// bucket name "key" and every (revision key, encoded KeyValue) record up to the revision,
// skipping records at or below the compaction that compact(rev) would drop.

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;

namespace {

Store::Hash hash_at(Db& db, int64_t rev) {
  Store::Hash h;
  Status s = db.store().hash_kv(rev, &h);
  INFO(s.message());
  REQUIRE(s.is_ok());
  return h;
}

void load(Db& db) {
  db.put("a", "1");  // 2
  db.put("b", "1");  // 3
  db.put("a", "2");  // 4
  db.del("b");       // 5
  db.put("c", "1");  // 6
}

}  // namespace

TEST_CASE("hash_kv of an empty store is CRC-32C of the bucket name 'key'", "[hash]") {
  Db db;
  auto h = hash_at(db, 0);
  CHECK(h.hash == 0x40a4756dU);
  CHECK(h.current_rev == 1);
  CHECK(h.compact_rev == -1);
}

TEST_CASE("hash_kv covers the revision key and the encoded KeyValue byte for byte", "[hash]") {
  Db db;
  db.put("foo", "bar");  // record {2,0} -> {key foo, create 2, mod 2, version 1, value bar}
  CHECK(hash_at(db, 2).hash == 0xc5023252U);
}

TEST_CASE("hash_kv at revision 0 is the hash at the current revision", "[hash]") {
  Db db;
  load(db);
  REQUIRE(db.compact(3).is_ok());
  CHECK(hash_at(db, 0).hash == hash_at(db, 6).hash);
}

TEST_CASE("later writes do not change the hash at an earlier revision", "[hash]") {
  Db db;
  load(db);
  const uint32_t at4 = hash_at(db, 4).hash;
  const uint32_t at6 = hash_at(db, 6).hash;
  CHECK(at4 != at6);
  db.put("d", "1");
  CHECK(hash_at(db, 4).hash == at4);
  CHECK(hash_at(db, 6).hash == at6);
  CHECK(hash_at(db, 7).current_rev == 7);
}

TEST_CASE("two stores with the same history have the same hashes, also after a restart", "[hash]") {
  Db one, two;
  load(one);
  load(two);
  for (int64_t rev = 1; rev <= 6; ++rev) CHECK(hash_at(one, rev).hash == hash_at(two, rev).hash);
  REQUIRE(one.compact(4).is_ok());
  REQUIRE(two.compact(4).is_ok());
  const uint32_t h = hash_at(one, 6).hash;
  CHECK(hash_at(two, 6).hash == h);
  two.reopen();
  CHECK(hash_at(two, 6).hash == h);
  CHECK(hash_at(two, 6).compact_rev == 4);
}

TEST_CASE(
    "hash_kv at or below the compacted revision fails with kCompacted, above the current "
    "with kFutureRev",
    "[hash]") {
  Db db;
  load(db);
  REQUIRE(db.compact(4).is_ok());
  Store::Hash h;
  CHECK(db.store().hash_kv(4, &h).code() == ErrorCode::kCompacted);
  CHECK(db.store().hash_kv(3, &h).code() == ErrorCode::kCompacted);
  CHECK(db.store().hash_kv(7, &h).code() == ErrorCode::kFutureRev);
  CHECK(db.store().hash_kv(5, &h).is_ok());
}
