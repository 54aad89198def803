#include "mirror/plan.h"

#include <catch2/catch.hpp>

using namespace outpost::mirror;

namespace {

Event put(std::string k, int64_t rev) { return Event{Op::kPut, std::move(k), "v", rev, 0}; }
Event del(std::string k, int64_t rev) { return Event{Op::kDelete, std::move(k), "", rev, 0}; }

}  // namespace

TEST_CASE("prefix range end is etcd's") {
  CHECK(prefix_range_end("/a/") == "/a0");
  CHECK(prefix_range_end("") == std::string(1, '\0'));
  CHECK(prefix_range_end(std::string("a\xff", 2)) == "b");
}

TEST_CASE("keys map to the destination prefix") {
  CHECK(KeyMap("/a/", "", false, false).to_dest("/a/x") == "/a/x");
  CHECK(KeyMap("/a/", "/b/", true, false).to_dest("/a/x") == "/b/x");
  CHECK(KeyMap("/a/", "", false, true).to_dest("/a/x") == "x");
  // make-mirror 3.6 lost the prefix with --rev (#22421); the map does not depend on rev.
  CHECK(KeyMap("/a/", "/b/", true, false).dest_prefix() == "/b/");
}

TEST_CASE("events are grouped by source revision, in order") {
  auto g = group_by_revision({put("a", 5), put("b", 5), del("c", 6), put("d", 8), put("e", 8)});
  REQUIRE(g.size() == 3);
  CHECK(g[0].revision == 5);
  CHECK(g[0].events.size() == 2);
  CHECK(g[1].revision == 6);
  CHECK(g[2].events.size() == 2);
}

TEST_CASE("a revision that fits is one txn ending with the checkpoint") {
  RevisionBatch b{9, {put("/a/1", 9), del("/a/2", 9)}};
  auto t = plan_revision(b, KeyMap("/a/", "/b/", true, false), "ck", 128);
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() == 3);
  CHECK(t[0][0].key == "/b/1");
  CHECK(t[0][1].kind == Op::kDelete);
  CHECK(t[0][2].key == "ck");
  CHECK(t[0][2].value == "9");
}

TEST_CASE("a revision larger than max_txn_ops is split, the checkpoint only in the last part") {
  RevisionBatch b{3, {}};
  for (int i = 0; i < 10; ++i) b.events.push_back(put("k" + std::to_string(i), 3));
  auto t = plan_revision(b, KeyMap("", "", false, false), "ck", 4);
  REQUIRE(t.size() == 3);  // 10 ops + checkpoint = 11 -> 4, 4, 3
  CHECK(t[0].size() == 4);
  CHECK(t[1].size() == 4);
  CHECK(t[2].size() == 3);
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    for (const auto& op : t[i]) CHECK(op.key != "ck");
  }
  CHECK(t[2].back().key == "ck");
  CHECK(t[2].back().value == "3");
  // Exactly max_txn_ops - 1 events still fit with the checkpoint.
  RevisionBatch c{4, {put("a", 4), put("b", 4), put("c", 4)}};
  CHECK(plan_revision(c, KeyMap("", "", false, false), "ck", 4).size() == 1);
}

TEST_CASE("an empty revision (a progress notification) is only the checkpoint") {
  auto t = split_with_checkpoint({}, "ck", 42, 128);
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() == 1);
  CHECK(t[0][0].value == "42");
}

TEST_CASE("leases are mapped through the callback, or dropped") {
  RevisionBatch b{2, {Event{Op::kPut, "k", "v", 2, 77}}};
  auto dropped = plan_revision(b, KeyMap("", "", false, false), "ck", 128);
  CHECK(dropped[0][0].lease == 0);
  auto mapped = plan_revision(
      b, KeyMap("", "", false, false), "ck", 128, [](void*, int64_t l) { return l + 1; }, nullptr);
  CHECK(mapped[0][0].lease == 78);
}

TEST_CASE("consecutive revisions are packed into one txn, one op per key, the last") {
  KeyMap m("", "", false, false);
  std::vector<RevisionBatch> b = {
      {4, {put("a", 4), put("b", 4)}}, {5, {del("a", 5)}}, {6, {put("c", 6)}}, {7, {put("a", 7)}}};
  b[3].events[0].value = "new";
  auto t = plan_revisions(b, m, "ck", 128, true);
  REQUIRE(t.size() == 1);
  CHECK(t[0].checkpoint == 7);
  REQUIRE(t[0].ops.size() == 4);  // b (4), c (6), a (the put of 7), checkpoint: source order
  CHECK(t[0].ops[0].key == "b");
  CHECK(t[0].ops[1].key == "c");
  CHECK(t[0].ops[2].key == "a");
  CHECK(t[0].ops[2].kind == Op::kPut);
  CHECK(t[0].ops[2].value == "new");
  CHECK(t[0].ops[3].key == "ck");
  CHECK(t[0].ops[3].value == "7");

  SECTION("a delete after a put of the same key wins") {
    auto d = plan_revisions({{4, {put("a", 4)}}, {5, {del("a", 5)}}}, m, "ck", 128, true);
    REQUIRE(d.size() == 1);
    REQUIRE(d[0].ops.size() == 2);
    CHECK(d[0].ops[0].kind == Op::kDelete);
  }
  SECTION("coalesce = false: one txn per revision") {
    auto one = plan_revisions(b, m, "ck", 128, false);
    REQUIRE(one.size() == 4);
    for (size_t i = 0; i < one.size(); ++i) {
      CHECK(one[i].checkpoint == b[i].revision);
      CHECK(one[i].ops.back().value == std::to_string(b[i].revision));
    }
  }
}

TEST_CASE("packing never cuts a revision that fits, and cuts one that does not as before") {
  KeyMap m("", "", false, false);
  // max 4 ops: revision 1 (2 keys) + revision 2 (2 keys) would need 5 with the checkpoint.
  std::vector<RevisionBatch> b = {
      {1, {put("a", 1), put("b", 1)}}, {2, {put("c", 2), put("d", 2)}}, {3, {}}, {9, {}}};
  for (int i = 0; i < 6; ++i) b[3].events.push_back(put("big" + std::to_string(i), 9));
  b.erase(b.begin() + 2);
  auto t = plan_revisions(b, m, "ck", 4, true);
  // [a b ck=1] [c d ck=2] [big0..3] [big4 big5 ck=9]
  REQUIRE(t.size() == 4);
  CHECK(t[0].checkpoint == 1);
  CHECK(t[0].ops.size() == 3);
  CHECK(t[1].checkpoint == 2);
  CHECK(t[2].checkpoint == 0);
  CHECK(t[2].ops.size() == 4);
  CHECK(t[3].checkpoint == 9);
  CHECK(t[3].ops.back().value == "9");
  for (const auto& x : t) CHECK(x.ops.size() <= 4);
}
