// KeyHistory / KeyIndex: generations, historical gets, since(), compaction and keep().
// Expected values are etcd 3.4's (mvcc/key_index_test.go, mvcc/index.go); the generation
// layout is observed through get(), since(), keep sets, empty() and live().

#include "core/mvcc/key_index.h"

#include <catch2/catch.hpp>
#include <set>
#include <vector>

using outpost::mvcc::KeyHistory;
using outpost::mvcc::KeyIndex;
using outpost::mvcc::Revision;

namespace {

// etcd's newTestKeyIndex:
//   {{2,0}[1], {4,0}[2], {6,0}(t)[3]}  {{8,0}[1], {10,0}[2], {12,0}(t)[3]}
//   {{14,0}[1], {14,1}[2], {16,0}(t)[3]}  {empty}
KeyHistory test_history() {
  KeyHistory h;
  h.put({2, 0});
  h.put({4, 0});
  REQUIRE(h.tombstone({6, 0}));
  h.put({8, 0});
  h.put({10, 0});
  REQUIRE(h.tombstone({12, 0}));
  h.put({14, 0});
  h.put({14, 1});
  REQUIRE(h.tombstone({16, 0}));
  return h;
}

using Revs = std::vector<Revision>;
using RevSet = std::set<Revision>;

std::string show(const Revs& revs) {
  std::string s = "[";
  for (const auto& r : revs) s += " " + std::to_string(r.main) + "." + std::to_string(r.sub);
  return s + " ]";
}

}  // namespace

TEST_CASE("a put on a new key starts generation 1 at version 1 with created = modified",
          "[key_index]") {
  KeyHistory h;
  h.put({5, 0});
  auto at = h.get(5);
  REQUIRE(at);
  CHECK(at->modified == Revision{5, 0});
  CHECK(at->created == Revision{5, 0});
  CHECK(at->version == 1);
  CHECK(h.modified() == Revision{5, 0});
  CHECK(h.live());
  CHECK_FALSE(h.empty());

  h.put({7, 0});
  at = h.get(7);
  REQUIRE(at);
  CHECK(at->modified == Revision{7, 0});
  CHECK(at->created == Revision{5, 0});
  CHECK(at->version == 2);
  CHECK(h.modified() == Revision{7, 0});
}

TEST_CASE("a key does not exist before its first revision", "[key_index]") {
  KeyHistory h;
  h.put({5, 0});
  CHECK_FALSE(h.get(4));
  CHECK_FALSE(h.get(0));
}

TEST_CASE("a tombstone ends the generation and a re-created key restarts at version 1",
          "[key_index]") {
  KeyHistory h;
  h.put({5, 0});
  REQUIRE(h.tombstone({7, 0}));
  CHECK_FALSE(h.live());
  CHECK_FALSE(h.empty());  // the closed generation is history until compacted
  CHECK(h.modified() == Revision{7, 0});
  CHECK_FALSE(h.get(7));
  CHECK_FALSE(h.get(100));
  REQUIRE(h.get(6));
  CHECK(h.get(6)->version == 1);

  h.put({8, 0});
  h.put({9, 0});
  auto at = h.get(9);
  REQUIRE(at);
  CHECK(at->created == Revision{8, 0});
  CHECK(at->version == 2);
  at = h.get(8);
  REQUIRE(at);
  CHECK(at->version == 1);
  CHECK(at->created == Revision{8, 0});

  REQUIRE(h.tombstone({15, 0}));
  CHECK(h.modified() == Revision{15, 0});
  // A second tombstone on a deleted key is refused (etcd: ErrRevisionNotFound).
  CHECK_FALSE(h.tombstone({16, 0}));
  CHECK(h.modified() == Revision{15, 0});
}

TEST_CASE("a tombstone on a key that was never put is refused", "[key_index]") {
  KeyHistory h;
  CHECK_FALSE(h.tombstone({3, 0}));
  CHECK(h.empty());
}

TEST_CASE("restore rebuilds one generation from a stored record", "[key_index]") {
  KeyHistory h;
  h.restore({5, 0}, {7, 0}, 2);
  CHECK(h.modified() == Revision{7, 0});
  auto at = h.get(7);
  REQUIRE(at);
  CHECK(at->modified == Revision{7, 0});
  CHECK(at->created == Revision{5, 0});
  CHECK(at->version == 2);
  // Older revisions are not known after a restore (they were compacted or never loaded).
  CHECK_FALSE(h.get(6));
  h.put({9, 0});
  REQUIRE(h.get(9));
  CHECK(h.get(9)->version == 3);
}

TEST_CASE("get at every revision of etcd's test key after compact(4) (TestKeyIndexGet)",
          "[key_index]") {
  KeyHistory h = test_history();
  std::set<Revision> keep;
  h.compact(4, &keep);

  struct Want {
    int64_t rev;
    bool found;
    Revision mod, created;
    int64_t ver;
  };
  const Want table[] = {
      {17, false, {}, {}, 0},          {16, false, {}, {}, 0},
      {15, true, {14, 1}, {14, 0}, 2}, {14, true, {14, 1}, {14, 0}, 2},
      {13, false, {}, {}, 0},          {12, false, {}, {}, 0},
      {11, true, {10, 0}, {8, 0}, 2},  {10, true, {10, 0}, {8, 0}, 2},
      {9, true, {8, 0}, {8, 0}, 1},    {8, true, {8, 0}, {8, 0}, 1},
      {7, false, {}, {}, 0},           {6, false, {}, {}, 0},
      {5, true, {4, 0}, {2, 0}, 2},    {4, true, {4, 0}, {2, 0}, 2},
      {3, false, {}, {}, 0},           {2, false, {}, {}, 0},
      {1, false, {}, {}, 0},           {0, false, {}, {}, 0},
  };
  for (const auto& w : table) {
    INFO("get at " << w.rev);
    auto at = h.get(w.rev);
    REQUIRE(bool(at) == w.found);
    if (!at) continue;
    CHECK(at->modified == w.mod);
    CHECK(at->created == w.created);
    CHECK(at->version == w.ver);
  }
}

TEST_CASE("since returns each main revision once, with its last sub (TestKeyIndexSince)",
          "[key_index]") {
  KeyHistory h = test_history();
  std::set<Revision> keep;
  h.compact(4, &keep);

  const Revs all = {{4, 0}, {6, 0}, {8, 0}, {10, 0}, {12, 0}, {14, 1}, {16, 0}};
  auto from = [&](size_t i) { return Revs(all.begin() + long(i), all.end()); };
  const std::pair<int64_t, Revs> table[] = {
      {17, {}},      {16, from(6)}, {15, from(6)}, {14, from(5)}, {13, from(5)}, {12, from(4)},
      {11, from(4)}, {10, from(3)}, {9, from(3)},  {8, from(2)},  {7, from(2)},  {6, from(1)},
      {5, from(1)},  {4, all},      {3, all},      {2, all},      {1, all},      {0, all},
  };
  for (const auto& [rev, want] : table) {
    INFO("since " << rev);
    const Revs got = h.since(rev);
    CHECK(show(got) == show(want));
  }
}

namespace {

// etcd's TestKeyIndexCompactAndKeep table: compact revision, the revisions it keeps, and what
// since(0) shows of the remaining history (the flattened generations).
struct CompactCase {
  int64_t compact;
  RevSet keep;
  Revs remaining;
};

const Revs kFull = {{2, 0}, {4, 0}, {6, 0}, {8, 0}, {10, 0}, {12, 0}, {14, 1}, {16, 0}};
Revs tail(size_t i) { return Revs(kFull.begin() + long(i), kFull.end()); }

std::vector<CompactCase> compact_cases() {
  return {
      {1, {}, kFull},           {2, {{2, 0}}, kFull},
      {3, {{2, 0}}, kFull},     {4, {{4, 0}}, tail(1)},
      {5, {{4, 0}}, tail(1)},   {6, {}, tail(3)},
      {7, {}, tail(3)},         {8, {{8, 0}}, tail(3)},
      {9, {{8, 0}}, tail(3)},   {10, {{10, 0}}, tail(4)},
      {11, {{10, 0}}, tail(4)}, {12, {}, tail(6)},
      {13, {}, tail(6)},        {14, {{14, 1}}, tail(6)},
      {15, {{14, 1}}, tail(6)}, {16, {}, {}},
  };
}

void check_compact_step(KeyHistory& h, const CompactCase& c) {
  INFO("compact at " << c.compact);
  // keep() reports what compact() would keep and changes nothing.
  const Revs before = h.since(0);
  RevSet kept;
  h.keep(c.compact, &kept);
  CHECK(kept == c.keep);
  CHECK(show(h.since(0)) == show(before));

  RevSet compacted;
  h.compact(c.compact, &compacted);
  CHECK(compacted == c.keep);
  CHECK(show(h.since(0)) == show(c.remaining));
  CHECK(h.empty() == c.remaining.empty());
}

}  // namespace

TEST_CASE(
    "compaction keeps the latest revision <= the compact revision of a live generation "
    "and drops ended generations: continuous (TestKeyIndexCompactAndKeep)",
    "[key_index][compact]") {
  KeyHistory h = test_history();
  for (const auto& c : compact_cases()) check_compact_step(h, c);
}

TEST_CASE("compaction, jumping over revisions (TestKeyIndexCompactAndKeep)",
          "[key_index][compact]") {
  KeyHistory h = test_history();
  const auto cases = compact_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    if ((i % 2 == 0 && i < 6) || (i % 2 == 1 && i > 6)) check_compact_step(h, cases[i]);
  }
}

TEST_CASE("compaction, once from the full history (TestKeyIndexCompactAndKeep)",
          "[key_index][compact]") {
  for (const auto& c : compact_cases()) {
    KeyHistory h = test_history();
    check_compact_step(h, c);
  }
}

TEST_CASE("versions and create revisions survive compaction", "[key_index][compact]") {
  KeyHistory h = test_history();
  RevSet keep;
  h.compact(10, &keep);
  auto at = h.get(11);
  REQUIRE(at);
  CHECK(at->modified == Revision{10, 0});
  CHECK(at->created == Revision{8, 0});
  CHECK(at->version == 2);
  CHECK_FALSE(h.get(9));  // revision 8 was compacted away
  at = h.get(15);
  REQUIRE(at);
  CHECK(at->version == 2);
}

TEST_CASE("compaction above the last modification keeps it (TestKeyIndexCompactOnFurtherRev)",
          "[key_index][compact]") {
  KeyHistory h;
  h.put({1, 0});
  h.put({2, 0});
  RevSet keep;
  h.compact(3, &keep);
  CHECK(keep == RevSet{{2, 0}});
  CHECK(show(h.since(0)) == show(Revs{{2, 0}}));
  auto at = h.get(3);
  REQUIRE(at);
  CHECK(at->modified == Revision{2, 0});
  CHECK(at->created == Revision{1, 0});
  CHECK(at->version == 2);
}

TEST_CASE("KeyIndex range follows etcd's end conventions", "[key_index]") {
  KeyIndex idx;
  idx.put("a", {2, 0});
  idx.put("b", {3, 0});
  idx.put("c", {4, 0});
  idx.put("d", {5, 0});
  const std::string all(1, '\0');

  auto keys = [](const std::vector<std::pair<std::string, Revision>>& v) {
    std::vector<std::string> out;
    for (const auto& [k, _] : v) out.push_back(k);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(keys(idx.range("b", "", 10)) == V{"b"});             // empty end: just the key
  CHECK(keys(idx.range("bb", "", 10)).empty());              // ... and no prefix match
  CHECK(keys(idx.range("b", "d", 10)) == V{"b", "c"});       // [key, end)
  CHECK(keys(idx.range("b", all, 10)) == V{"b", "c", "d"});  // "\0": every key >= key
  CHECK(keys(idx.range(all, all, 10)) == V{"a", "b", "c", "d"});
  CHECK(keys(idx.range("c", "b", 10)).empty());  // end before key: nothing

  // At a past revision only keys live then are returned, with their revision then.
  auto at3 = idx.range(all, all, 3);
  REQUIRE(at3.size() == 2);
  CHECK(at3[1].first == "b");
  CHECK(at3[1].second == Revision{3, 0});
}

TEST_CASE("KeyIndex range with a limit still counts every live key", "[key_index]") {
  KeyIndex idx;
  for (int i = 0; i < 5; ++i) idx.put(std::string(1, char('a' + i)), {2 + i, 0});
  REQUIRE(idx.tombstone("c", {10, 0}));
  size_t total = 0;
  auto got = idx.range("a", std::string(1, '\0'), 10, 2, &total);
  CHECK(got.size() == 2);
  CHECK(total == 4);  // a, b, d, e: the deleted key is not counted
}

TEST_CASE("KeyIndex drops a key whose history is empty after compaction", "[key_index][compact]") {
  KeyIndex idx;
  idx.put("gone", {2, 0});
  REQUIRE(idx.tombstone("gone", {3, 0}));
  idx.put("live", {4, 0});
  idx.put("live", {5, 0});
  CHECK(idx.size() == 2);
  CHECK_FALSE(idx.tombstone("missing", {6, 0}));

  auto keep = idx.compact(2);
  CHECK(idx.size() == 2);  // the tombstone at 3 is above the compaction
  CHECK(keep == RevSet{{2, 0}});

  keep = idx.compact(5);
  CHECK(idx.size() == 1);
  CHECK(keep == RevSet{{5, 0}});
  CHECK_FALSE(idx.get("gone", 5));
  REQUIRE(idx.get("live", 5));
  CHECK(idx.get("live", 5)->version == 2);
}
