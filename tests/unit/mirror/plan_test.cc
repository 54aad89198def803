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
