// Restart recovery: close the Store and its Engine, open both again from the same directory,
// and everything a client can observe is the same (etcd 3.4's mvcc/kvstore.go restore).

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;
using V = std::vector<std::string>;

namespace {

// Everything observable of the store, as one string, for before/after comparisons.
std::string snapshot(Db& db) {
  std::string out = "rev=" + std::to_string(db.store().current_revision()) +
                    " compact=" + std::to_string(db.store().compact_revision()) +
                    " ci=" + std::to_string(db.store().consistent_index()) + "\n";
  const int64_t first = std::max<int64_t>(1, db.store().compact_revision());
  for (int64_t rev = first; rev <= db.store().current_revision(); ++rev) {
    auto r = db.range(kAllEnd, kAllEnd, rev);
    out += "@" + std::to_string(rev) + ":";
    for (const auto& kv : r.kvs()) {
      out += " " + kv.key() + "=" + kv.value() + "/c" + std::to_string(kv.create_revision()) +
             "/m" + std::to_string(kv.mod_revision()) + "/v" + std::to_string(kv.version()) + "/l" +
             std::to_string(kv.lease());
    }
    out += "\n";
  }
  return out;
}

void write_with_index(Db& db, uint64_t index, const std::function<void(WriteTxn&)>& fn) {
  WriteTxn w(db.store());
  w.set_consistent_index(index);
  fn(w);
  REQUIRE(w.end().is_ok());
}

}  // namespace

TEST_CASE("restart: revisions, versions and history are rebuilt from disk", "[restart]") {
  Db db;
  db.put("a", "1");  // 2
  db.put("b", "1");  // 3
  db.put("a", "2");  // 4
  {
    WriteTxn w(db.store());  // 5: several changes in one revision
    w.put("c", "1", 0);
    w.put("d", "1", 0);
    int64_t rev = 0;
    w.delete_range("b", "", &rev);
    REQUIRE(w.end().is_ok());
  }
  db.put("a", "3");  // 6
  const std::string before = snapshot(db);
  db.reopen();
  CHECK(snapshot(db) == before);
  CHECK(db.store().current_revision() == 6);
  CHECK(db.get("a").version() == 3);
  CHECK(db.put("a", "4") == 7);
  CHECK(db.get("a").version() == 4);
  CHECK(db.get("a").create_revision() == 2);
}

TEST_CASE("restart: a deleted key stays deleted and a re-created one keeps its new generation",
          "[restart]") {
  Db db;
  db.put("k", "1");     // 2
  db.put("k", "2");     // 3
  db.del("k");          // 4
  db.put("gone", "x");  // 5
  db.del("gone");       // 6
  db.put("k", "new");   // 7
  const std::string before = snapshot(db);
  db.reopen();
  CHECK(snapshot(db) == before);
  auto kv = db.get("k");
  CHECK(kv.version() == 1);
  CHECK(kv.create_revision() == 7);
  CHECK_FALSE(db.exists("gone"));
  CHECK_FALSE(db.exists("k", 4));
  CHECK(db.get("k", 3).version() == 2);

  // A deleted key re-created after the restart starts at version 1 again.
  db.put("gone", "back");  // 8
  CHECK(db.get("gone").version() == 1);
  CHECK(db.get("gone").create_revision() == 8);
  // Deleting the restored live key works (its generation is live after the restore).
  CHECK(db.del("k") == 1);
  CHECK_FALSE(db.exists("k"));
}

TEST_CASE("restart: the consistent index is the one of the last applied transaction", "[restart]") {
  Db db;
  write_with_index(db, 3, [](WriteTxn& w) { w.put("a", "1", 0); });
  write_with_index(db, 4, [](WriteTxn&) {});  // an entry that changed nothing
  db.reopen();
  CHECK(db.store().consistent_index() == 4);
  CHECK(db.store().current_revision() == 2);
}

TEST_CASE("restart after compaction: compact revision, kept data and failing old reads",
          "[restart][compact]") {
  Db db;
  db.put("a", "1");  // 2
  db.put("a", "2");  // 3
  db.put("b", "1");  // 4
  db.del("b");       // 5
  db.put("c", "1");  // 6
  db.put("a", "3");  // 7
  REQUIRE(db.compact(5).is_ok());
  const std::string before = snapshot(db);
  db.reopen();
  CHECK(db.store().compact_revision() == 5);
  CHECK(snapshot(db) == before);
  pb::RangeResponse resp;
  auto req = range_req("a");
  req.set_revision(4);
  CHECK(db.range(req, &resp).code() == ErrorCode::kCompacted);
  CHECK(db.get("a", 5).value() == "2");
  CHECK(db.get("a", 5).version() == 2);
  CHECK(db.get("a").version() == 3);
  CHECK(db.compact(5).code() == ErrorCode::kCompacted);
  CHECK(db.compact(7).is_ok());
}

TEST_CASE("restart after compacting away every record keeps the revision (not back to 1)",
          "[restart][compact]") {
  Db db;
  db.put("a", "1");  // 2
  db.del("a");       // 3
  REQUIRE(db.compact(3).is_ok());
  db.reopen();
  CHECK(db.store().current_revision() == 3);
  CHECK(db.store().compact_revision() == 3);
  CHECK(db.store().key_count() == 0);
  CHECK(db.put("a", "again") == 4);
  CHECK(db.get("a").version() == 1);
}

TEST_CASE("restart with a key whose older generation was partly compacted", "[restart][compact]") {
  Db db;
  db.put("k", "1");  // 2
  db.put("k", "2");  // 3
  db.del("k");       // 4  (tombstone above the compaction)
  db.put("k", "3");  // 5
  REQUIRE(db.compact(3).is_ok());
  const std::string before = snapshot(db);
  db.reopen();
  CHECK(snapshot(db) == before);
  CHECK(db.get("k", 3).value() == "2");
  CHECK(db.get("k", 3).version() == 2);
  CHECK_FALSE(db.exists("k", 4));
  CHECK(db.get("k").version() == 1);
  // A later compaction drops the ended generation cleanly.
  REQUIRE(db.compact(5).is_ok());
  db.reopen();
  CHECK(db.get("k").value() == "3");
  CHECK(db.store().key_count() == 1);
}

TEST_CASE("restart finishes a compaction that was scheduled but not finished",
          "[restart][compact]") {
  Db db;
  db.put("a", "1");  // 2
  db.put("a", "2");  // 3
  db.put("a", "3");  // 4
  {
    // What a crash between "scheduled" and "finished" leaves behind.
    auto b = db.engine().new_batch();
    b.put_meta(kMetaScheduledCompact, storage::encode_u64(3));
    REQUIRE(db.engine().write(b, true).is_ok());
  }
  db.reopen();
  CHECK(db.store().compact_revision() == 3);
  std::string v;
  CHECK_FALSE(db.engine().get_kv(revision_key({2, 0}), &v));
  CHECK(db.engine().get_kv(revision_key({3, 0}), &v));
  CHECK(db.get("a", 3).value() == "2");
  CHECK(db.store().current_revision() == 4);
  db.reopen();
  CHECK(db.store().compact_revision() == 3);
}

TEST_CASE("restart resumes a scheduled compaction beyond a finished one", "[restart][compact]") {
  Db db;
  for (int i = 0; i < 5; ++i) db.put("a", std::to_string(i));  // 2..6
  REQUIRE(db.compact(3).is_ok());
  {
    auto b = db.engine().new_batch();
    b.put_meta(kMetaScheduledCompact, storage::encode_u64(5));
    REQUIRE(db.engine().write(b, true).is_ok());
  }
  db.reopen();
  CHECK(db.store().compact_revision() == 5);
  pb::RangeResponse resp;
  auto req = range_req("a");
  req.set_revision(4);
  CHECK(db.range(req, &resp).code() == ErrorCode::kCompacted);
  CHECK(db.get("a", 5).value() == "3");
  std::string v;
  CHECK_FALSE(db.engine().get_kv(revision_key({4, 0}), &v));
}

TEST_CASE("restart of a store that was never compacted keeps compact revision -1", "[restart]") {
  Db db;
  db.put("a", "1");
  db.reopen();
  CHECK(db.store().compact_revision() == -1);
  CHECK(db.compact(0).is_ok());
}
