// Unit tests of the small parts: storage, unstable log, quorum arithmetic, inflights.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

TEST_CASE("MemoryStorage: bounds, compaction and snapshots", "[raft][unit]") {
  MemoryStorage s;
  REQUIRE(s.append({entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)}) == Error::kOk);
  CHECK(s.first_index() == 1);
  CHECK(s.last_index() == 4);
  std::uint64_t t = 0;
  CHECK(s.term(3, &t) == Error::kOk);
  CHECK(t == 2);
  CHECK(s.term(5, &t) == Error::kUnavailable);
  std::vector<raftpb::Entry> out;
  CHECK(s.entries(2, 5, no_limit, &out) == Error::kOk);
  CHECK(out.size() == 3);
  CHECK(s.entries(2, 5, 1, &out) == Error::kOk);
  CHECK(out.size() == 1);  // at least one entry even over the limit
  CHECK(s.entries(1, 6, no_limit, &out) == Error::kUnavailable);
  REQUIRE(s.create_snapshot(2, nullptr, "d") == Error::kOk);
  REQUIRE(s.compact(2) == Error::kOk);
  CHECK(s.first_index() == 3);
  CHECK(s.entries(2, 4, no_limit, &out) == Error::kCompacted);
  CHECK(s.term(2, &t) == Error::kOk);
  CHECK(t == 1);
  CHECK(s.term(1, &t) == Error::kCompacted);
  CHECK(s.compact(2) == Error::kCompacted);
  // Overwriting a suffix.
  REQUIRE(s.append({entry(4, 3), entry(5, 3)}) == Error::kOk);
  CHECK(s.last_index() == 5);
  CHECK(s.term(4, &t) == Error::kOk);
  CHECK(t == 3);
  CHECK(s.append({entry(7, 3)}) == Error::kUnavailable);  // gap
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  CHECK(s.apply_snapshot(snap) == Error::kOk);
  CHECK(s.first_index() == 11);
  CHECK(s.last_index() == 10);
  snap.mutable_metadata()->set_index(9);
  CHECK(s.apply_snapshot(snap) == Error::kSnapOutOfDate);
}

TEST_CASE("Quorum: the committed index is the one a majority of voters acknowledged",
          "[raft][unit]") {
  std::map<std::uint64_t, std::uint64_t> match{{1, 5}, {2, 3}, {3, 9}, {4, 1}, {5, 7}};
  std::set<std::uint64_t> voters{1, 2, 3, 4, 5};
  auto acked = [&](std::uint64_t id) { return match[id]; };
  CHECK(majority_committed_index(voters, acked) == 5);
  std::set<std::uint64_t> three{1, 2, 4};
  CHECK(majority_committed_index(three, acked) == 3);
  std::map<std::uint64_t, bool> votes{{1, true}, {2, false}};
  CHECK(majority_vote_result({1, 2, 3}, votes) == VoteResult::kPending);
  votes[3] = true;
  CHECK(majority_vote_result({1, 2, 3}, votes) == VoteResult::kWon);
  votes[3] = false;
  CHECK(majority_vote_result({1, 2, 3}, votes) == VoteResult::kLost);
}

TEST_CASE("Inflights: a ring window freed in order", "[raft][unit]") {
  Inflights in(3);
  in.add(1);
  in.add(2);
  in.add(3);
  CHECK(in.full());
  in.free_le(2);
  CHECK(in.count() == 1);
  in.add(4);
  in.add(5);
  CHECK(in.full());
  in.free_first_one();
  CHECK(in.count() == 2);
  in.free_le(100);
  CHECK(in.count() == 0);
}

TEST_CASE("UnstableLog: persisted entries leave, newer appends replace a suffix", "[raft][unit]") {
  UnstableLog u;
  u.set_offset(5);
  u.truncate_and_append({entry(5, 1), entry(6, 1), entry(7, 1)});
  CHECK(*u.maybe_last_index() == 7);
  u.truncate_and_append({entry(6, 2)});
  CHECK(*u.maybe_last_index() == 6);
  CHECK(*u.maybe_term(6) == 2);
  u.stable_to(6, 1);  // stale: entry 6 was replaced by a newer term
  CHECK(u.entries().size() == 2);
  u.stable_to(6, 2);
  CHECK(u.entries().empty());
  CHECK(u.offset() == 7);
}

TEST_CASE("Progress: probe pauses after one append; replicate backs off to match+1",
          "[raft][unit]") {
  Progress p(5, 4, false);
  CHECK_FALSE(p.is_paused());
  p.probe_sent = true;
  CHECK(p.is_paused());
  CHECK(p.maybe_update(6));
  CHECK_FALSE(p.is_paused());
  p.become_replicate();
  CHECK(p.next == 7);
  p.optimistic_update(10);
  CHECK(p.maybe_decr_to(8, 7));  // next back to match + 1
  CHECK(p.next == 7);
  CHECK_FALSE(p.maybe_decr_to(5, 5));  // stale rejection below match
}
