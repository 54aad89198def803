// ReadIndex: safe (heartbeat-confirmed) and lease-based reads.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

TEST_CASE("ReadIndex: the leader returns its commit index after a quorum confirms its leadership",
          "[raft][readindex]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("w") == Error::kOk);
  c.stabilize();
  c.isolate(3);
  c.drop_type(raftpb::MsgHeartbeatResp);
  CHECK(c.node(1).read_index("a") == Error::kOk);
  c.stabilize();
  CHECK(c.state(1).reads.empty());  // no heartbeat answers yet: not confirmed
  c.heal();
  c.isolate(3);
  c.tick_all(1);  // the next heartbeat carries the pending context; 2 answers
  REQUIRE(c.state(1).reads.size() == 1);
  CHECK(c.state(1).reads[0].request_ctx == "a");
  CHECK(c.state(1).reads[0].index == 2);
}

TEST_CASE("ReadIndex: a stale leader cannot serve a read index", "[raft][readindex]") {
  Cluster c({1, 2, 3, 4, 5});
  REQUIRE(c.elect(1) == 1);
  // 1 and 2 are cut off; 3,4,5 elect a new leader and commit a write 1 never sees.
  for (std::uint64_t a : {1, 2}) {
    for (std::uint64_t b : {3, 4, 5}) c.cut(a, b);
  }
  REQUIRE(c.elect(3) == 3);
  CHECK(c.node(3).propose("newer") == Error::kOk);
  c.stabilize();
  const auto acknowledged = c.raft(3).log().committed();
  REQUIRE(c.raft(1).state() == StateType::kLeader);  // still believes it leads term 1
  CHECK(c.node(1).read_index("stale") == Error::kOk);
  c.stabilize();
  c.tick_all(1);
  // 1 only hears from 2: no majority of 5, so no read state, ever.
  CHECK(c.state(1).reads.empty());
  CHECK(c.node(3).read_index("fresh") == Error::kOk);
  c.stabilize();
  REQUIRE(c.state(3).reads.size() == 1);
  CHECK(c.state(3).reads[0].index >= acknowledged);
}

TEST_CASE("ReadIndex: a new leader answers only after it committed an entry of its term",
          "[raft][readindex]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  c.drop_type(raftpb::MsgAppResp);  // 2's empty entry of the new term cannot commit
  REQUIRE(c.elect(2) == 2);
  CHECK(c.node(2).read_index("early") == Error::kOk);
  c.stabilize();
  CHECK(c.state(2).reads.empty());
  c.heal();
  c.tick_all(2);
  REQUIRE(c.state(2).reads.size() == 1);
  CHECK(c.state(2).reads[0].index == c.raft(2).log().committed());
  CHECK(c.raft(2).log().term_or_zero(c.state(2).reads[0].index) == c.raft(2).term());
}

TEST_CASE("ReadIndex: a follower forwards the request and receives the leader's index",
          "[raft][readindex]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("w") == Error::kOk);
  c.stabilize();
  CHECK(c.node(3).read_index("f") == Error::kOk);
  c.stabilize();
  REQUIRE(c.state(3).reads.size() == 1);
  CHECK(c.state(3).reads[0].request_ctx == "f");
  CHECK(c.state(3).reads[0].index == 2);
}

TEST_CASE("ReadIndex: requests without a known leader are refused", "[raft][readindex]") {
  Cluster c({1, 2, 3});
  CHECK(c.node(2).read_index("x") == Error::kProposalDropped);
}

TEST_CASE("ReadIndex: several pending requests are confirmed in order by one quorum answer",
          "[raft][readindex]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.drop_type(raftpb::MsgHeartbeatResp);
  CHECK(c.node(1).read_index("r1") == Error::kOk);
  c.stabilize();
  CHECK(c.node(1).propose("w") == Error::kOk);
  c.stabilize();
  CHECK(c.node(1).read_index("r2") == Error::kOk);
  c.stabilize();
  c.heal();
  c.tick_all(1);
  REQUIRE(c.state(1).reads.size() == 2);
  CHECK(c.state(1).reads[0].request_ctx == "r1");
  CHECK(c.state(1).reads[1].request_ctx == "r2");
  CHECK(c.state(1).reads[0].index <= c.state(1).reads[1].index);
}

TEST_CASE("ReadIndex: lease-based reads answer at once and require check-quorum",
          "[raft][readindex]") {
  Config bad;
  bad.id = 1;
  MemoryStorage s;
  bad.storage = &s;
  bad.read_only_option = ReadOnlyOption::kLeaseBased;
  CHECK_FALSE(bad.validate().empty());
  Cluster c({1, 2, 3}, {}, [](Config& cfg) {
    cfg.check_quorum = true;
    cfg.read_only_option = ReadOnlyOption::kLeaseBased;
  });
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);
  c.isolate(3);
  CHECK(c.node(1).read_index("lease") == Error::kOk);
  c.stabilize();  // no heartbeat round needed
  REQUIRE(c.state(1).reads.size() == 1);
  CHECK(c.state(1).reads[0].index == c.raft(1).log().committed());
}
