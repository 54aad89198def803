// storage::DurableLog: the Raft log survives a restart exactly as Raft last saw it.
#include "core/storage/raft_log.h"

#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"

using outpost::testing::TempDir;

using outpost::storage::DurableLog;
using outpost::storage::Engine;

namespace {

raftpb::Entry entry(uint64_t index, uint64_t term, std::string data) {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

raftpb::ConfState voters(std::initializer_list<uint64_t> ids) {
  raftpb::ConfState cs;
  for (auto id : ids) cs.add_voters(id);
  return cs;
}

std::vector<raftpb::Entry> all(DurableLog& l) {
  std::vector<raftpb::Entry> out;
  auto& s = l.storage();
  if (s.last_index() >= s.first_index())
    REQUIRE(s.entries(s.first_index(), s.last_index() + 1, outpost::raft::no_limit, &out) ==
            outpost::raft::Error::kOk);
  return out;
}

}  // namespace

TEST_CASE("a fresh log starts with the founding voters and survives a restart", "[raftlog]") {
  TempDir dir;
  {
    auto e = Engine::open(dir.path());
    REQUIRE(e);
    auto l = DurableLog::open(e.value().get(), voters({1, 2, 3}));
    REQUIRE(l);
    CHECK(l.value()->fresh());
    raftpb::HardState hs;
    raftpb::ConfState cs;
    REQUIRE(l.value()->storage().initial_state(&hs, &cs) == outpost::raft::Error::kOk);
    CHECK(cs.voters_size() == 3);
    raftpb::HardState h;
    h.set_term(2);
    h.set_vote(1);
    h.set_commit(3);
    REQUIRE(
        l.value()->save(h, {entry(1, 1, "a"), entry(2, 2, "b"), entry(3, 2, "c")}, std::nullopt));
  }
  auto e = Engine::open(dir.path());
  REQUIRE(e);
  auto l = DurableLog::open(e.value().get(), voters({9}));
  REQUIRE(l);
  CHECK_FALSE(l.value()->fresh());
  raftpb::HardState hs;
  raftpb::ConfState cs;
  REQUIRE(l.value()->storage().initial_state(&hs, &cs) == outpost::raft::Error::kOk);
  CHECK(hs.term() == 2);
  CHECK(hs.vote() == 1);
  CHECK(hs.commit() == 3);
  REQUIRE(cs.voters_size() == 3);  // the stored membership, not the one passed in
  auto ents = all(*l.value());
  REQUIRE(ents.size() == 3);
  CHECK(ents[2].data() == "c");
  CHECK(ents[2].term() == 2);
}

TEST_CASE("entries from a new leader replace the conflicting suffix on disk too", "[raftlog]") {
  TempDir dir;
  {
    auto e = Engine::open(dir.path());
    auto l = DurableLog::open(e.value().get(), voters({1}));
    REQUIRE(l.value()->save(
        std::nullopt, {entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c"), entry(4, 1, "d")},
        std::nullopt));
    REQUIRE(l.value()->save(std::nullopt, {entry(3, 2, "C")}, std::nullopt));
    CHECK(l.value()->storage().last_index() == 3);
  }
  auto e = Engine::open(dir.path());
  auto l = DurableLog::open(e.value().get(), voters({1}));
  auto ents = all(*l.value());
  REQUIRE(ents.size() == 3);
  CHECK(ents[2].data() == "C");
  CHECK(ents[2].term() == 2);
  CHECK(l.value()->storage().last_index() == 3);  // entry 4 (old term) is gone for good
}

TEST_CASE("compaction keeps a snapshot point and the retained tail across a restart", "[raftlog]") {
  TempDir dir;
  {
    auto e = Engine::open(dir.path());
    auto l = DurableLog::open(e.value().get(), voters({1}));
    std::vector<raftpb::Entry> ents;
    for (uint64_t i = 1; i <= 10; ++i) ents.push_back(entry(i, 1, std::to_string(i)));
    REQUIRE(l.value()->save(std::nullopt, ents, std::nullopt));
    REQUIRE(l.value()->compact(8, voters({1, 2}), /*retain=*/2));
    CHECK(l.value()->storage().first_index() == 7);
  }
  auto e = Engine::open(dir.path());
  auto l = DurableLog::open(e.value().get(), voters({1}));
  auto& s = l.value()->storage();
  CHECK(s.first_index() == 9);  // entries up to the snapshot point are covered by it
  CHECK(s.last_index() == 10);
  uint64_t t = 0;
  CHECK(s.term(8, &t) == outpost::raft::Error::kOk);
  CHECK(t == 1);
  raftpb::Snapshot snap;
  REQUIRE(s.snapshot(&snap) == outpost::raft::Error::kOk);
  CHECK(snap.metadata().index() == 8);
  CHECK(snap.metadata().conf_state().voters_size() == 2);
}

TEST_CASE("an installed snapshot replaces the whole log", "[raftlog]") {
  TempDir dir;
  {
    auto e = Engine::open(dir.path());
    auto l = DurableLog::open(e.value().get(), voters({1}));
    REQUIRE(l.value()->save(std::nullopt, {entry(1, 1, "a"), entry(2, 1, "b")}, std::nullopt));
    raftpb::Snapshot snap;
    snap.mutable_metadata()->set_index(50);
    snap.mutable_metadata()->set_term(4);
    *snap.mutable_metadata()->mutable_conf_state() = voters({1, 2, 3});
    REQUIRE(l.value()->save(std::nullopt, {}, snap));
    REQUIRE(l.value()->save(std::nullopt, {entry(51, 4, "x")}, std::nullopt));
  }
  auto e = Engine::open(dir.path());
  auto l = DurableLog::open(e.value().get(), voters({1}));
  auto& s = l.value()->storage();
  CHECK(s.first_index() == 51);
  CHECK(s.last_index() == 51);
  auto ents = all(*l.value());
  REQUIRE(ents.size() == 1);
  CHECK(ents[0].data() == "x");
}
