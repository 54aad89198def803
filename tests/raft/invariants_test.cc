// The invariant checker itself: it must catch what it claims to catch.
#include "invariants.h"

#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

TEST_CASE("Invariants: a healthy election and replication break nothing", "[raft][invariants]") {
  Cluster c({1, 2, 3});
  InvariantChecker check;
  REQUIRE(c.elect(1) == 1);
  for (auto id : {1, 2, 3}) CHECK(check.check(c.raft(id)).empty());
  REQUIRE(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  for (auto id : {1, 2, 3}) CHECK(check.check(c.raft(id)).empty());
}

TEST_CASE("Invariants: a term that goes back is reported", "[raft][invariants]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  InvariantChecker check;
  r->become_follower(5, 2);
  REQUIRE(check.check(*r.raft).empty());
  r->become_follower(4, 2);  // a test hook can do what the protocol never does
  CHECK(check.check(*r.raft).find("term decreased from 5 to 4") != std::string::npos);
}

TEST_CASE("Invariants: two leaders of one term are reported", "[raft][invariants]") {
  BareRaft a = make_raft(1, {1, 2, 3});
  BareRaft b = make_raft(2, {1, 2, 3});
  for (BareRaft* r : {&a, &b}) {
    (*r)->become_candidate();
    (*r)->become_leader();
  }
  InvariantChecker check;
  REQUIRE(check.check(*a.raft).empty());
  CHECK(check.check(*b.raft).find("both leader of term 1") != std::string::npos);
}

TEST_CASE("Invariants: a log whose terms decrease is reported", "[raft][invariants]") {
  auto storage = std::make_unique<MemoryStorage>(conf({1, 2, 3}));
  REQUIRE(storage->append({entry(1, 2), entry(2, 1)}) == Error::kOk);
  raftpb::HardState hs;
  hs.set_term(2);
  storage->set_hard_state(hs);
  Raft r(make_config(1, storage.get()));
  CHECK(r.check_invariants().find("log term decreases at index 2") != std::string::npos);
  CHECK(r.check_invariants(3).empty());  // the caller vouches for entries below 3
}
