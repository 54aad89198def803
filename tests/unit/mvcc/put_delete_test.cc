// Put (prev_kv, ignore_value, ignore_lease, leases) and DeleteRange (prev_kv, header revision)
// as etcd 3.4's applier runs them (etcdserver/apply.go Put, DeleteRange).

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost;
using namespace outpost::mvcc;
using namespace outpost::mvcc::testing;
using V = std::vector<std::string>;

namespace {
bool lease_42_exists(int64_t id) { return id == 42; }
}  // namespace

TEST_CASE("put reports the new revision in its header", "[put]") {
  Db db;
  pb::PutResponse resp;
  REQUIRE(db.put(put_req("a", "1"), &resp).is_ok());
  CHECK(resp.header().revision() == 2);
  CHECK_FALSE(resp.has_prev_kv());
}

TEST_CASE("put with prev_kv returns the key-value before the put", "[put]") {
  Db db;
  db.put("a", "old");
  auto req = put_req("a", "new");
  req.set_prev_kv(true);
  pb::PutResponse resp;
  REQUIRE(db.put(req, &resp).is_ok());
  REQUIRE(resp.has_prev_kv());
  CHECK(resp.prev_kv().key() == "a");
  CHECK(resp.prev_kv().value() == "old");
  CHECK(resp.prev_kv().mod_revision() == 2);
  CHECK(resp.prev_kv().version() == 1);
  CHECK(resp.header().revision() == 3);
  CHECK(db.get("a").value() == "new");
}

TEST_CASE("put with prev_kv on a missing key returns no prev_kv", "[put]") {
  Db db;
  auto req = put_req("a", "v");
  req.set_prev_kv(true);
  pb::PutResponse resp;
  REQUIRE(db.put(req, &resp).is_ok());
  CHECK_FALSE(resp.has_prev_kv());
  // A deleted key has no previous value either.
  db.del("a");
  resp.Clear();
  REQUIRE(db.put(req, &resp).is_ok());
  CHECK_FALSE(resp.has_prev_kv());
}

TEST_CASE("put with ignore_value keeps the current value and bumps the version", "[put]") {
  Db db;
  db.put("a", "keep-me");
  pb::PutRequest req;
  req.set_key("a");
  req.set_ignore_value(true);
  pb::PutResponse resp;
  REQUIRE(db.put(req, &resp).is_ok());
  CHECK(resp.header().revision() == 3);
  auto kv = db.get("a");
  CHECK(kv.value() == "keep-me");
  CHECK(kv.version() == 2);
  CHECK(kv.mod_revision() == 3);
}

TEST_CASE("put with ignore_value or ignore_lease on a missing key fails with kKeyNotFound",
          "[put]") {
  Db db;
  db.put("other", "x");
  for (bool ignore_value : {true, false}) {
    pb::PutRequest req;
    req.set_key("a");
    if (ignore_value)
      req.set_ignore_value(true);
    else
      req.set_ignore_lease(true);
    pb::PutResponse resp;
    Status s = db.put(req, &resp);
    CHECK(s.code() == ErrorCode::kKeyNotFound);
    CHECK(s.message() == "etcdserver: key not found");
    CHECK(db.store().current_revision() == 2);
    CHECK_FALSE(db.exists("a"));
  }
}

TEST_CASE("put with ignore_lease keeps the key's lease", "[put][lease]") {
  Db db;
  auto first = put_req("a", "v1");
  first.set_lease(42);
  pb::PutResponse resp;
  REQUIRE(db.put(first, &resp, lease_42_exists).is_ok());
  CHECK(db.get("a").lease() == 42);

  pb::PutRequest req = put_req("a", "v2");
  req.set_ignore_lease(true);
  resp.Clear();
  REQUIRE(db.put(req, &resp, lease_42_exists).is_ok());
  auto kv = db.get("a");
  CHECK(kv.value() == "v2");
  CHECK(kv.lease() == 42);

  // A plain put without a lease detaches it.
  db.put("a", "v3");
  CHECK(db.get("a").lease() == 0);
}

TEST_CASE("put naming a lease that does not exist fails with kLeaseNotFound", "[put][lease]") {
  Db db;
  auto req = put_req("a", "v");
  req.set_lease(7);
  pb::PutResponse resp;
  Status s = db.put(req, &resp);  // no lease exists yet
  CHECK(s.code() == ErrorCode::kLeaseNotFound);
  CHECK(s.message() == "etcdserver: requested lease not found");
  CHECK(db.store().current_revision() == 1);
  CHECK_FALSE(db.exists("a"));
}

TEST_CASE("delete range reports the keys deleted and the new revision", "[delete]") {
  Db db;
  for (const char* k : {"a", "b", "c", "d"}) db.put(k, k);  // revs 2..5
  pb::DeleteRangeRequest req;
  req.set_key("b");
  req.set_range_end("d");
  pb::DeleteRangeResponse resp;
  REQUIRE(db.del(req, &resp).is_ok());
  CHECK(resp.deleted() == 2);
  CHECK(resp.header().revision() == 6);
  CHECK(resp.prev_kvs_size() == 0);
  CHECK(keys_of(db.range("a", kAllEnd)) == V{"a", "d"});
  CHECK(db.store().current_revision() == 6);
}

TEST_CASE("delete range with prev_kv returns the deleted key-values", "[delete]") {
  Db db;
  db.put("a", "1");
  db.put("b", "2");
  db.put("b", "3");
  pb::DeleteRangeRequest req;
  req.set_key("a");
  req.set_range_end("c");
  req.set_prev_kv(true);
  pb::DeleteRangeResponse resp;
  REQUIRE(db.del(req, &resp).is_ok());
  CHECK(resp.deleted() == 2);
  REQUIRE(resp.prev_kvs_size() == 2);
  CHECK(resp.prev_kvs(0).key() == "a");
  CHECK(resp.prev_kvs(0).value() == "1");
  CHECK(resp.prev_kvs(1).key() == "b");
  CHECK(resp.prev_kvs(1).value() == "3");
  CHECK(resp.prev_kvs(1).version() == 2);
}

TEST_CASE("a delete that removes nothing keeps the revision and reports the current one",
          "[delete]") {
  Db db;
  db.put("a", "1");
  db.put("b", "1");
  pb::DeleteRangeRequest req;
  req.set_key("zz");
  req.set_prev_kv(true);
  pb::DeleteRangeResponse resp;
  REQUIRE(db.del(req, &resp).is_ok());
  CHECK(resp.deleted() == 0);
  CHECK(resp.header().revision() == 3);
  CHECK(resp.prev_kvs_size() == 0);
  CHECK(db.store().current_revision() == 3);
  // Deleting an already deleted key changes nothing either.
  db.del("a");
  resp.Clear();
  req.set_key("a");
  REQUIRE(db.del(req, &resp).is_ok());
  CHECK(resp.deleted() == 0);
  CHECK(resp.header().revision() == 4);
}

TEST_CASE("delete with range_end NUL deletes every key >= key, key NUL deletes all", "[delete]") {
  Db db;
  for (const char* k : {"a", "b", "c"}) db.put(k, k);
  CHECK(db.del("b", kAllEnd) == 2);
  CHECK(keys_of(db.range(kAllEnd, kAllEnd)) == V{"a"});
  db.put("x", "x");
  CHECK(db.del(kAllEnd, kAllEnd) == 2);
  CHECK(db.range(kAllEnd, kAllEnd).count() == 0);
}

TEST_CASE("all keys deleted in one request share one revision", "[delete]") {
  Db db;
  for (const char* k : {"a", "b", "c"}) db.put(k, k);  // 2..4
  CHECK(db.del("a", "z") == 3);
  CHECK(db.store().current_revision() == 5);
  for (const char* k : {"a", "b", "c"}) CHECK(db.exists(k, 4));
}

namespace {
// Records what the store tells the lease layer.
struct RecordingHook : LeaseHook {
  std::vector<std::string> calls;
  void on_put(std::string_view key, int64_t lease) override {
    calls.push_back("put " + std::string(key) + " " + std::to_string(lease));
  }
  void on_delete(std::string_view key) override { calls.push_back("delete " + std::string(key)); }
};
}  // namespace

TEST_CASE("the lease hook follows every put (with its lease, 0 for none) and every deleted key",
          "[put][delete][lease]") {
  Db db;
  RecordingHook hook;
  db.store().set_lease_hook(&hook);
  auto leased = put_req("a", "1");
  leased.set_lease(42);
  pb::PutResponse resp;
  REQUIRE(db.put(leased, &resp, lease_42_exists).is_ok());
  pb::PutRequest keep = put_req("a", "2");
  keep.set_ignore_lease(true);
  REQUIRE(db.put(keep, &resp, lease_42_exists).is_ok());
  db.put("b", "1");
  db.put("a", "3");  // no lease: detached
  CHECK(db.del("a", "c") == 2);
  CHECK(db.del("missing") == 0);
  // A failed put tells the hook nothing.
  auto bad = put_req("c", "1");
  bad.set_lease(7);
  CHECK(db.put(bad, &resp).code() == ErrorCode::kLeaseNotFound);
  CHECK(hook.calls == V{"put a 42", "put a 42", "put b 0", "put a 0", "delete a", "delete b"});
  db.store().set_lease_hook(nullptr);
}
