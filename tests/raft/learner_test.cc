// Learners: they receive the log and snapshots, never vote, never campaign, never count.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

namespace {
auto cq_pv = [](Config& c) {
  c.check_quorum = true;
  c.pre_vote = true;
};
raftpb::ConfChange cc(raftpb::ConfChangeType t, std::uint64_t id) {
  raftpb::ConfChange c;
  c.set_type(t);
  c.set_node_id(id);
  return c;
}
}  // namespace

TEST_CASE("Learner: a learner never campaigns, however long it hears nothing", "[raft][learner]") {
  BareRaft r = make_raft(3, {1, 2}, 10, 1, {3});
  CHECK(r->is_learner());
  for (int i = 0; i < 1000; ++i) r->tick();
  CHECK(r->state() == StateType::kFollower);
  CHECK(r->term() == 0);
  CHECK(take_msgs(*r.raft).empty());
  CHECK(r->step(msg(raftpb::MsgTimeoutNow, 1, 3, 1)) == Error::kOk);  // not even when told to
  CHECK(r->state() == StateType::kFollower);
  CHECK(take_msgs(*r.raft).empty());
}

TEST_CASE("Learner: candidates send vote requests to voters only", "[raft][learner]") {
  BareRaft r = make_raft(1, {1, 2}, 10, 1, {3});
  CHECK(r->step(msg(raftpb::MsgHup, 1, 1)) == Error::kOk);
  auto out = take_msgs(*r.raft);
  REQUIRE(out.size() == 1);
  CHECK(out[0].to() == 2);
  CHECK(out[0].type() == raftpb::MsgVote);
}

TEST_CASE("Learner: a learner's vote is never counted toward an election", "[raft][learner]") {
  BareRaft r = make_raft(1, {1, 2, 3}, 10, 1, {4, 5});
  CHECK(r->step(msg(raftpb::MsgHup, 1, 1)) == Error::kOk);
  CHECK(r->step(msg(raftpb::MsgVoteResp, 4, 1, 1)) == Error::kOk);  // granted, but 4 is a learner
  CHECK(r->step(msg(raftpb::MsgVoteResp, 5, 1, 1)) == Error::kOk);
  CHECK(r->state() == StateType::kCandidate);
  CHECK(r->step(msg(raftpb::MsgVoteResp, 2, 1, 1)) == Error::kOk);
  CHECK(r->state() == StateType::kLeader);
}

TEST_CASE("Learner: a learner's acknowledgement never commits an entry", "[raft][learner]") {
  Cluster c({1, 2}, {3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);
  CHECK(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).tracker().get(3)->match == c.raft(1).log().last_index());  // learner has it
  CHECK(c.raft(1).log().committed() < c.raft(1).log().last_index());         // not committed
  c.heal();
  c.tick_all(1);
  CHECK(c.raft(1).log().committed() == c.raft(1).log().last_index());
  REQUIRE(c.state(3).applied.size() == 1);  // and the learner applies it
  CHECK(c.state(3).applied[0].data() == "x");
}

TEST_CASE("Learner: a learner does not keep a leader alive under check-quorum", "[raft][learner]") {
  Cluster c({1, 2}, {3}, cq_pv);
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);  // only the learner still talks to the leader
  c.tick_all(25);
  CHECK(c.raft(1).state() == StateType::kFollower);
}

TEST_CASE("Learner: a learner's heartbeat answer does not confirm a read index",
          "[raft][learner]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);
  c.isolate(3);
  CHECK(c.node(1).read_index("ctx") == Error::kOk);
  c.stabilize();
  c.tick_all(3);
  CHECK(c.state(1).reads.empty());
}

TEST_CASE("Learner: a learner receives a snapshot when it is behind the first retained index",
          "[raft][learner]") {
  Cluster c({1, 2}, {3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  for (int i = 0; i < 10; ++i) CHECK(c.node(1).propose("e") == Error::kOk);
  c.stabilize();
  auto& st = c.state(1);
  const auto applied = c.raft(1).log().applied();
  REQUIRE(st.storage->create_snapshot(applied, &st.conf_state, "img") == Error::kOk);
  REQUIRE(st.storage->compact(applied) == Error::kOk);
  c.heal();
  c.tick_all(2);
  raftpb::Snapshot s;
  CHECK(c.state(3).storage->snapshot(&s) == Error::kOk);
  CHECK(s.metadata().index() == applied);
  CHECK(c.raft(3).is_learner());
  CHECK(c.raft(3).log().committed() == c.raft(1).log().committed());
}

TEST_CASE("Learner: a learner can be added, catches up, and is promoted to a voter",
          "[raft][learner]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  for (int i = 0; i < 5; ++i) CHECK(c.node(1).propose("p") == Error::kOk);
  c.stabilize();
  c.add_node(4, conf({1, 2, 3}));
  REQUIRE(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddLearnerNode, 4)) == Error::kOk);
  c.stabilize();
  c.tick_all(3);
  CHECK(c.raft(1).tracker().is_learner(4));
  CHECK(c.raft(4).is_learner());
  // status() exposes what the server checks before promoting: the learner's match index.
  Status st = c.node(1).status();
  REQUIRE(st.progress.count(4) == 1);
  CHECK(st.progress[4].is_learner);
  CHECK(st.progress[4].match == c.raft(1).log().last_index());
  REQUIRE(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddNode, 4)) == Error::kOk);
  c.stabilize();
  c.tick_all(2);
  CHECK(c.raft(1).tracker().is_voter(4));
  CHECK(c.raft(4).tracker().is_voter(4));
  CHECK_FALSE(c.raft(4).is_learner());
  // The promoted node now counts: with 1 and 2 gone it forms a majority with 3 and can lead.
  c.isolate(1);
  c.isolate(2);
  CHECK(c.node(4).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(4).state() == StateType::kCandidate);  // 4 voters: needs 3 votes
  c.heal();
  c.isolate(1);
  CHECK(c.node(4).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(4).state() == StateType::kLeader);
}

TEST_CASE("Learner: a conf change cannot demote a voter to a learner in one step",
          "[raft][learner]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddLearnerNode, 3)) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).tracker().is_voter(3));
}

TEST_CASE("Learner: a partitioned learner disrupts nothing when it returns", "[raft][learner]") {
  for (bool pv : {false, true}) {
    Cluster c({1, 2, 3}, {4}, [pv](Config& cfg) {
      cfg.pre_vote = pv;
      cfg.check_quorum = pv;
    });
    REQUIRE(c.elect(1) == 1);
    c.isolate(4);
    c.tick_all(200);
    CHECK(c.raft(4).term() == 1);
    CHECK(c.raft(4).state() == StateType::kFollower);
    c.heal();
    CHECK(c.node(1).propose("after") == Error::kOk);
    c.stabilize();
    c.tick_all(2);
    CHECK(c.raft(1).state() == StateType::kLeader);
    CHECK(c.raft(1).term() == 1);
    REQUIRE_FALSE(c.state(4).applied.empty());
    CHECK(c.state(4).applied.back().data() == "after");
  }
}

TEST_CASE("Learner: leadership cannot be transferred to a learner", "[raft][learner]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).transfer_leader(4) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).lead_transferee() == 0);
  c.tick_all(20);
  CHECK(c.raft(1).state() == StateType::kLeader);
  CHECK(c.raft(4).state() == StateType::kFollower);
}

TEST_CASE("Learner: proposals and read requests on a learner are forwarded to the leader",
          "[raft][learner]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(4).propose("from-learner") == Error::kOk);
  c.stabilize();
  c.tick_all(1);
  REQUIRE(c.state(4).applied.size() == 1);
  CHECK(c.state(4).applied[0].data() == "from-learner");
  REQUIRE(c.node(4).read_index("r1") == Error::kOk);
  c.stabilize();
  REQUIRE(c.state(4).reads.size() == 1);
  CHECK(c.state(4).reads[0].request_ctx == "r1");
  CHECK(c.state(4).reads[0].index == c.raft(1).log().committed());
}
