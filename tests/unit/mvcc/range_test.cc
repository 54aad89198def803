// Range as etcd 3.4 serves it (etcdserver/apply.go Range, mvcc/kvstore_txn.go rangeKeys):
// key / range_end conventions, limit + more + count, historic revisions, sort order x target,
// keys_only, count_only, min/max mod and create revision filters.

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;
using V = std::vector<std::string>;

namespace {

// Four keys whose orders differ for every sort target:
//   key      a  b  c  d
//   version  2  4  3  1     -> ascending: d a c b
//   create   4  2  5  3     -> ascending: b d a c
//   mod     10 11  8  3     -> ascending: d c a b
//   value    x  z  w  y     -> ascending: c a d b
// Current revision: 11.
void load_sort_data(Db& db) {
  REQUIRE(db.put("b", "b1") == 2);
  REQUIRE(db.put("d", "y") == 3);
  REQUIRE(db.put("a", "a1") == 4);
  REQUIRE(db.put("c", "c1") == 5);
  REQUIRE(db.put("c", "c2") == 6);
  REQUIRE(db.put("b", "b2") == 7);
  REQUIRE(db.put("c", "w") == 8);
  REQUIRE(db.put("b", "b3") == 9);
  REQUIRE(db.put("a", "x") == 10);
  REQUIRE(db.put("b", "z") == 11);
}

pb::RangeResponse sorted(Db& db, pb::RangeRequest::SortTarget target,
                         pb::RangeRequest::SortOrder order, int64_t limit = 0) {
  auto req = range_req("a", "e");
  req.set_sort_target(target);
  req.set_sort_order(order);
  req.set_limit(limit);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  return resp;
}

V reversed(V v) { return V(v.rbegin(), v.rend()); }

}  // namespace

TEST_CASE("range on a single key returns just that key", "[range]") {
  Db db;
  db.put("foo", "1");
  db.put("foo1", "2");
  auto r = db.range("foo");
  CHECK(keys_of(r) == V{"foo"});
  CHECK(r.count() == 1);
  CHECK_FALSE(r.more());
  CHECK(db.range("fo").kvs_size() == 0);
  CHECK(db.range("fo").count() == 0);
}

TEST_CASE(
    "range_end selects keys from key up to but excluding range_end, a prefix is end = key with "
    "last byte + 1",
    "[range]") {
  Db db;
  for (const char* k : {"fo", "foo", "foo/a", "foo/b", "fop", "fop/x", "zzz"}) db.put(k, k);
  CHECK(keys_of(db.range("foo", "fop")) == V{"foo", "foo/a", "foo/b"});  // prefix "foo"
  CHECK(keys_of(db.range("foo/", "foo0")) == V{"foo/a", "foo/b"});       // prefix "foo/"
  CHECK(keys_of(db.range("foo/a", "foo/b")) == V{"foo/a"});              // end excluded
  CHECK(db.range("fop", "foo").kvs_size() == 0);                         // end < key
}

TEST_CASE("range_end NUL reads every key >= key, key and end NUL read all keys", "[range]") {
  Db db;
  for (const char* k : {"a", "b", "c"}) db.put(k, k);
  db.put(std::string("\x01", 1), "low");
  CHECK(keys_of(db.range("b", kAllEnd)) == V{"b", "c"});
  auto all = db.range(kAllEnd, kAllEnd);
  CHECK(all.count() == 4);
  CHECK(keys_of(all) == V{std::string("\x01", 1), "a", "b", "c"});
}

TEST_CASE("range reports the current revision in its header", "[range]") {
  Db db;
  db.put("a", "1");
  db.put("b", "1");
  CHECK(db.range("a").header().revision() == 3);
  CHECK(db.range("missing").header().revision() == 3);
  CHECK(db.range("a", "", 2).header().revision() == 3);  // a historic read too
}

TEST_CASE("limit cuts the result, more says whether keys were left, count counts all", "[range]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  pb::RangeResponse resp;

  req.set_limit(2);
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"a", "b"});
  CHECK(resp.more());
  CHECK(resp.count() == 4);

  resp.Clear();
  req.set_limit(4);
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.kvs_size() == 4);
  CHECK_FALSE(resp.more());
  CHECK(resp.count() == 4);

  resp.Clear();
  req.set_limit(10);
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.kvs_size() == 4);
  CHECK_FALSE(resp.more());
}

TEST_CASE("a range at a past revision sees the keys and values of that revision", "[range]") {
  Db db;
  load_sort_data(db);
  auto r = db.range("a", "e", 5);
  CHECK(keys_of(r) == V{"a", "b", "c", "d"});
  CHECK(r.count() == 4);
  CHECK(r.header().revision() == 11);
  CHECK(r.kvs(0).value() == "a1");
  CHECK(r.kvs(1).value() == "b1");
  CHECK(r.kvs(1).version() == 1);
  CHECK(r.kvs(1).mod_revision() == 2);
  r = db.range("a", "e", 3);
  CHECK(keys_of(r) == V{"b", "d"});
  r = db.range("a", "e", 1);
  CHECK(r.kvs_size() == 0);
  CHECK(r.count() == 0);
}

TEST_CASE("a range above the current revision fails with kFutureRev", "[range]") {
  Db db;
  db.put("a", "1");
  pb::RangeResponse resp;
  auto req = range_req("a");
  req.set_revision(3);
  Status s = db.range(req, &resp);
  CHECK(s.code() == ErrorCode::kFutureRev);
  CHECK(s.message() == "etcdserver: mvcc: required revision is a future revision");
  req.set_revision(2);
  CHECK(db.range(req, &resp).is_ok());
}

TEST_CASE("sort: every target in every order", "[range][sort]") {
  Db db;
  load_sort_data(db);
  using R = pb::RangeRequest;
  const std::pair<R::SortTarget, V> ascending[] = {
      {R::KEY, {"a", "b", "c", "d"}},    {R::VERSION, {"d", "a", "c", "b"}},
      {R::CREATE, {"b", "d", "a", "c"}}, {R::MOD, {"d", "c", "a", "b"}},
      {R::VALUE, {"c", "a", "d", "b"}},
  };
  for (const auto& [target, want] : ascending) {
    INFO("target " << R::SortTarget_Name(target));
    CHECK(keys_of(sorted(db, target, R::ASCEND)) == want);
    CHECK(keys_of(sorted(db, target, R::DESCEND)) == reversed(want));
  }
}

TEST_CASE("sort order NONE keeps key order for KEY and sorts ascending for any other target",
          "[range][sort]") {
  Db db;
  load_sort_data(db);
  using R = pb::RangeRequest;
  CHECK(keys_of(sorted(db, R::KEY, R::NONE)) == V{"a", "b", "c", "d"});
  CHECK(keys_of(sorted(db, R::VERSION, R::NONE)) == V{"d", "a", "c", "b"});
  CHECK(keys_of(sorted(db, R::CREATE, R::NONE)) == V{"b", "d", "a", "c"});
  CHECK(keys_of(sorted(db, R::MOD, R::NONE)) == V{"d", "c", "a", "b"});
  CHECK(keys_of(sorted(db, R::VALUE, R::NONE)) == V{"c", "a", "d", "b"});
}

TEST_CASE("with a sort order the whole range is sorted before the limit applies", "[range][sort]") {
  Db db;
  load_sort_data(db);
  using R = pb::RangeRequest;
  auto r = sorted(db, R::MOD, R::DESCEND, 2);
  CHECK(keys_of(r) == V{"b", "a"});
  CHECK(r.more());
  CHECK(r.count() == 4);
  r = sorted(db, R::KEY, R::DESCEND, 1);
  CHECK(keys_of(r) == V{"d"});
  CHECK(r.more());
}

TEST_CASE(
    "a non-KEY target with order NONE sorts only the limit+1 keys fetched in key order "
    "(etcd 3.4 passes the limit down when the order is NONE)",
    "[range][sort]") {
  Db db;
  load_sort_data(db);
  using R = pb::RangeRequest;
  // etcd fetches a, b, c (limit + 1), sorts them by mod (c 8, a 10, b 11), then cuts to 2.
  auto r = sorted(db, R::MOD, R::NONE, 2);
  CHECK(keys_of(r) == V{"c", "a"});
  CHECK(r.more());
  CHECK(r.count() == 4);
}

TEST_CASE("keys with equal sort values keep key order (Go's sort on small sets)", "[range][sort]") {
  Db db;
  db.put("a", "same");
  db.put("b", "same");
  db.put("c", "first");
  using R = pb::RangeRequest;
  auto req = range_req("a", "d");
  req.set_sort_target(R::VALUE);
  req.set_sort_order(R::ASCEND);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"c", "a", "b"});
  // VERSION: all equal (1) -> key order, in both directions.
  req.set_sort_target(R::VERSION);
  req.set_sort_order(R::DESCEND);
  resp.Clear();
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"a", "b", "c"});
}

TEST_CASE("keys_only drops values and keeps everything else", "[range]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_keys_only(true);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  REQUIRE(resp.kvs_size() == 4);
  for (const auto& kv : resp.kvs()) {
    CHECK(kv.value().empty());
    CHECK(kv.mod_revision() > 0);
    CHECK(kv.create_revision() > 0);
    CHECK(kv.version() > 0);
  }
  CHECK(resp.kvs(1).key() == "b");
  CHECK(resp.kvs(1).version() == 4);
  CHECK(resp.count() == 4);
}

TEST_CASE("count_only returns the count and no key-values", "[range]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_count_only(true);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.kvs_size() == 0);
  CHECK(resp.count() == 4);
  CHECK_FALSE(resp.more());
  CHECK(resp.header().revision() == 11);

  req.set_limit(1);
  resp.Clear();
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.count() == 4);
  CHECK(resp.kvs_size() == 0);

  req.set_limit(0);
  req.set_revision(3);
  resp.Clear();
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.count() == 2);
}

TEST_CASE("min/max mod and create revision filters prune the result", "[range][filter]") {
  Db db;
  load_sort_data(db);
  auto run = [&](auto set) {
    auto req = range_req("a", "e");
    set(req);
    pb::RangeResponse resp;
    REQUIRE(db.range(req, &resp).is_ok());
    return resp;
  };
  using R = pb::RangeRequest;
  CHECK(keys_of(run([](R& r) { r.set_min_mod_revision(9); })) == V{"a", "b"});
  CHECK(keys_of(run([](R& r) { r.set_max_mod_revision(8); })) == V{"c", "d"});
  CHECK(keys_of(run([](R& r) { r.set_min_create_revision(4); })) == V{"a", "c"});
  CHECK(keys_of(run([](R& r) { r.set_max_create_revision(3); })) == V{"b", "d"});
  CHECK(keys_of(run([](R& r) {
          r.set_min_mod_revision(8);
          r.set_max_mod_revision(10);
        })) == V{"a", "c"});
  CHECK(keys_of(run([](R& r) {
          r.set_min_create_revision(3);
          r.set_max_create_revision(4);
        })) == V{"a", "d"});
  // The bounds are inclusive.
  CHECK(keys_of(run([](R& r) {
          r.set_min_mod_revision(11);
          r.set_max_mod_revision(11);
        })) == V{"b"});
}

TEST_CASE("count ignores the min/max filters, as etcd's does", "[range][filter]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_min_mod_revision(11);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.kvs_size() == 1);
  CHECK(resp.count() == 4);
}

TEST_CASE("with a filter the limit applies to the filtered result", "[range][filter]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_min_mod_revision(9);  // a, b
  req.set_limit(1);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"a"});
  CHECK(resp.more());
  CHECK(resp.count() == 4);

  // A limit reached only by keys the filter drops: etcd fetches everything first.
  req.set_min_mod_revision(11);  // b only; a comes first in key order
  resp.Clear();
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"b"});
  CHECK_FALSE(resp.more());
}

TEST_CASE("filters and sort combine: filter, then sort, then limit", "[range][filter][sort]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_max_mod_revision(10);  // a(10) c(8) d(3)
  req.set_sort_target(pb::RangeRequest::VALUE);
  req.set_sort_order(pb::RangeRequest::DESCEND);  // d(y) a(x) c(w)
  req.set_limit(2);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"d", "a"});
  CHECK(resp.more());
}

TEST_CASE("deleted keys are not returned or counted", "[range]") {
  Db db;
  load_sort_data(db);
  db.del("b");
  auto r = db.range("a", "e");
  CHECK(keys_of(r) == V{"a", "c", "d"});
  CHECK(r.count() == 3);
  CHECK(db.range("a", "e", 11).count() == 4);  // still there before the delete
}

TEST_CASE("sort by VALUE orders bytes unsigned", "[range][sort]") {
  Db db;
  db.put("a", std::string("\xff", 1));
  db.put("b", "z");
  db.put("c", std::string("\x80", 1));
  auto req = range_req("a", "d");
  req.set_sort_target(pb::RangeRequest::VALUE);
  req.set_sort_order(pb::RangeRequest::ASCEND);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(keys_of(resp) == V{"b", "c", "a"});
}

TEST_CASE("a negative limit means no limit", "[range]") {
  Db db;
  load_sort_data(db);
  auto req = range_req("a", "e");
  req.set_limit(-1);
  pb::RangeResponse resp;
  REQUIRE(db.range(req, &resp).is_ok());
  CHECK(resp.kvs_size() == 4);
  CHECK_FALSE(resp.more());
}
