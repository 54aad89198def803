// Rules etcd raft's raft_test.go checks that the paper, protocol and learner tests here do not
// already cover: single-node clusters, dueling candidates, votes from any state, campaigns of a
// leader, the follower's handling of heartbeats, stuck candidates under check-quorum, leader
// transfer corner cases, snapshots that are ignored, and the leader's per-follower progress.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

namespace {

raftpb::ConfChange conf_change(raftpb::ConfChangeType t, std::uint64_t id) {
  raftpb::ConfChange c;
  c.set_type(t);
  c.set_node_id(id);
  return c;
}

BareRaft leader_of_three() {
  BareRaft r = make_raft(1, {1, 2, 3});
  r->become_candidate();
  r->become_leader();
  take_msgs(*r.raft);
  return r;
}

}  // namespace

TEST_CASE("A single voter elects itself and commits its proposals alone", "[raft][etcd]") {
  Cluster c({1});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose("a") == Error::kOk);
  REQUIRE(c.node(1).propose("b") == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).log().committed() == 3);
  CHECK(c.state(1).applied.size() == 2);
}

TEST_CASE("A single voter with pre-vote goes straight through pre-candidacy to leader",
          "[raft][etcd]") {
  Cluster c({1}, {}, [](Config& cfg) { cfg.pre_vote = true; });
  REQUIRE(c.elect(1) == 1);
  CHECK(c.raft(1).term() == 1);
}

TEST_CASE("Dueling candidates: the one with the shorter log cannot win, whatever its term",
          "[raft][etcd]") {
  Cluster c({1, 2, 3});
  c.cut(1, 3);
  REQUIRE(c.elect(1) == 1);  // 2's vote suffices; 2 then stores 1's empty entry of term 1
  // 3 heard nothing: it campaigns for term 1 too, 2 already voted, 1 is out of reach.
  REQUIRE(c.node(3).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(3).state() == StateType::kCandidate);
  CHECK(c.raft(3).term() == 1);
  c.heal();
  // Again, for term 2: both refuse a log missing their entry of term 1. The candidate loses;
  // the leader, seeing the higher term, steps down.
  REQUIRE(c.node(3).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(3).state() == StateType::kFollower);
  CHECK(c.raft(3).term() == 2);
  CHECK(c.raft(1).state() == StateType::kFollower);
  CHECK(c.raft(1).term() == 2);
  // The next election is won by a member holding the entry, never by 3.
  c.tick_all(30);
  const std::uint64_t l = c.leader();
  REQUIRE(l != 0);
  CHECK(l != 3);
  CHECK(c.raft(l).term() >= 3);
  CHECK(c.raft(3).log().last_index() == c.raft(l).log().last_index());
}

TEST_CASE("A vote request of a higher term is granted from any state, which becomes follower",
          "[raft][etcd]") {
  for (int st = 0; st < 4; ++st) {
    for (raftpb::MessageType vt : {raftpb::MsgVote, raftpb::MsgPreVote}) {
      BareRaft r = make_raft(1, {1, 2, 3});
      if (st == 1) r->become_pre_candidate();
      if (st == 2) r->become_candidate();
      if (st == 3) {
        r->become_candidate();
        r->become_leader();
      }
      const std::uint64_t term = r->term();
      take_msgs(*r.raft);
      auto m = msg(vt, 2, 1, term + 1);
      m.set_index(42);
      m.set_log_term(term + 1);
      REQUIRE(r->step(m) == Error::kOk);
      auto out = take_msgs(*r.raft);
      REQUIRE(out.size() == 1);
      CHECK(out[0].type() == vote_resp_type(vt));
      CHECK_FALSE(out[0].reject());
      if (vt == raftpb::MsgVote) {
        // A real vote moves us to the new term as a follower that voted for the candidate.
        CHECK(r->state() == StateType::kFollower);
        CHECK(r->term() == term + 1);
        CHECK(r->vote() == 2);
      } else {
        // A pre-vote changes neither our term nor our vote.
        CHECK(r->term() == term);
        CHECK(r->vote() == (st >= 2 ? 1u : 0u));
      }
    }
  }
}

TEST_CASE("A leader that is asked to campaign stays leader of its term", "[raft][etcd]") {
  for (bool pre_vote : {false, true}) {
    Cluster c({1, 2, 3}, {}, [&](Config& cfg) { cfg.pre_vote = pre_vote; });
    REQUIRE(c.elect(1) == 1);
    REQUIRE(c.node(1).campaign() == Error::kOk);
    c.stabilize();
    CHECK(c.raft(1).state() == StateType::kLeader);
    CHECK(c.raft(1).term() == 1);
  }
}

TEST_CASE("A heartbeat moves a follower's commit index forward, never back", "[raft][etcd]") {
  auto storage = std::make_unique<MemoryStorage>(conf({1, 2}));
  REQUIRE(storage->append({entry(1, 1), entry(2, 2), entry(3, 3)}) == Error::kOk);
  raftpb::HardState hs;
  hs.set_term(3);
  storage->set_hard_state(hs);
  Raft r(make_config(1, storage.get()));
  r.become_follower(3, 2);
  r.log().commit_to(2);
  auto hb = msg(raftpb::MsgHeartbeat, 2, 1, 3);
  hb.set_commit(3);
  REQUIRE(r.step(hb) == Error::kOk);
  CHECK(r.log().committed() == 3);
  hb.set_commit(1);
  REQUIRE(r.step(hb) == Error::kOk);
  CHECK(r.log().committed() == 3);
  auto out = take_msgs(r);
  REQUIRE(out.size() == 2);
  CHECK(out[0].type() == raftpb::MsgHeartbeatResp);
}

TEST_CASE("Check-quorum: a candidate stuck at a higher term is freed by the leader stepping down",
          "[raft][etcd]") {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.check_quorum = true; });
  REQUIRE(c.elect(1) == 1);
  c.isolate(1);
  // 2 hears from leader 1 and ignores it (lease); 3 stays candidate.
  REQUIRE(c.node(3).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(3).state() == StateType::kCandidate);
  CHECK(c.raft(3).term() == 2);
  CHECK(c.raft(1).state() == StateType::kLeader);
  c.heal();
  // 1's heartbeat reaches the candidate, whose answer carries term 2: the leader steps down.
  c.node(1).tick();
  c.stabilize();
  CHECK(c.raft(1).state() == StateType::kFollower);
  CHECK(c.raft(1).term() == 2);
  c.tick_all(30);
  REQUIRE(c.leader() != 0);
  CHECK(c.raft(c.leader()).term() >= 3);
}

TEST_CASE("Leader transfer: to itself, to a non-member or twice to one node changes nothing",
          "[raft][etcd]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).transfer_leader(1) == Error::kOk);
  CHECK(c.raft(1).lead_transferee() == no_node);
  REQUIRE(c.node(1).transfer_leader(4) == Error::kOk);
  CHECK(c.raft(1).lead_transferee() == no_node);
  c.isolate(3);
  REQUIRE(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  REQUIRE(c.node(1).transfer_leader(3) == Error::kOk);
  CHECK(c.raft(1).lead_transferee() == 3);
  const int elapsed = c.raft(1).election_elapsed();
  c.node(1).tick();
  REQUIRE(c.node(1).transfer_leader(3) == Error::kOk);  // the same request again: ignored,
  CHECK(c.raft(1).election_elapsed() == elapsed + 1);   // the transfer timer is not reset
  CHECK(c.raft(1).lead_transferee() == 3);
}

TEST_CASE("Leader transfer: abandoned after an election timeout if the transferee never catches up",
          "[raft][etcd]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  REQUIRE(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  REQUIRE(c.node(1).transfer_leader(3) == Error::kOk);
  CHECK(c.node(1).propose("refused") == Error::kProposalDropped);
  for (int i = 0; i < 10; ++i) c.node(1).tick();
  CHECK(c.raft(1).lead_transferee() == no_node);
  CHECK(c.raft(1).state() == StateType::kLeader);
  CHECK(c.node(1).propose("accepted again") == Error::kOk);
}

TEST_CASE("Leader transfer: a second request to another node replaces the first", "[raft][etcd]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  REQUIRE(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  REQUIRE(c.node(1).transfer_leader(3) == Error::kOk);
  REQUIRE(c.raft(1).lead_transferee() == 3);
  REQUIRE(c.node(1).transfer_leader(2) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(2).state() == StateType::kLeader);
  CHECK(c.raft(1).state() == StateType::kFollower);
}

TEST_CASE("Leader transfer: removing the transferee aborts the transfer", "[raft][etcd]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  REQUIRE(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  REQUIRE(c.node(1).transfer_leader(3) == Error::kOk);
  c.raft(1).apply_conf_change(conf_change(raftpb::ConfChangeRemoveNode, 3));
  CHECK(c.raft(1).lead_transferee() == no_node);
}

TEST_CASE("Leader transfer: leadership can be handed back to the previous leader", "[raft][etcd]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).transfer_leader(2) == Error::kOk);
  c.stabilize();
  REQUIRE(c.raft(2).state() == StateType::kLeader);
  REQUIRE(c.node(2).transfer_leader(1) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).state() == StateType::kLeader);
  CHECK(c.raft(1).term() == 3);
}

TEST_CASE("A snapshot at or below the commit index is ignored; a matching one only commits",
          "[raft][etcd]") {
  auto storage = std::make_unique<MemoryStorage>(conf({1, 2}));
  REQUIRE(storage->append({entry(1, 1), entry(2, 1), entry(3, 1)}) == Error::kOk);
  raftpb::HardState hs;
  hs.set_term(1);
  storage->set_hard_state(hs);
  Raft r(make_config(1, storage.get()));
  r.log().commit_to(1);
  auto snap_msg = [](std::uint64_t index, std::uint64_t term) {
    auto m = msg(raftpb::MsgSnap, 2, 1, 1);
    m.mutable_snapshot()->mutable_metadata()->set_index(index);
    m.mutable_snapshot()->mutable_metadata()->set_term(term);
    *m.mutable_snapshot()->mutable_metadata()->mutable_conf_state() = conf({1, 2});
    return m;
  };
  REQUIRE(r.step(snap_msg(1, 1)) == Error::kOk);  // not newer than committed
  CHECK_FALSE(r.log().has_pending_snapshot());
  CHECK(r.log().committed() == 1);
  REQUIRE(r.step(snap_msg(3, 1)) == Error::kOk);  // we hold entry 3/1: just commit it
  CHECK_FALSE(r.log().has_pending_snapshot());
  CHECK(r.log().committed() == 3);
  CHECK(r.log().last_index() == 3);
}

TEST_CASE("Progress: next advances optimistically in replicate state, stays put when probing",
          "[raft][etcd]") {
  BareRaft r = leader_of_three();
  Progress* pr = r->tracker().get(2);
  pr->become_replicate();
  pr->match = 1;
  pr->next = 2;
  REQUIRE(r->step(prop(1, "x")) == Error::kOk);
  CHECK(pr->next == r->log().last_index() + 1);
  Progress* probe = r->tracker().get(3);
  REQUIRE(probe->state == ProgressState::kProbe);
  const std::uint64_t before = probe->next;
  REQUIRE(r->step(prop(1, "y")) == Error::kOk);
  CHECK(probe->next == before);
}

TEST_CASE("Progress: an unreachable follower in replicate state falls back to probing",
          "[raft][etcd]") {
  BareRaft r = leader_of_three();
  Progress* pr = r->tracker().get(2);
  pr->become_replicate();
  REQUIRE(r->step(msg(raftpb::MsgUnreachable, 2, 1)) == Error::kOk);
  CHECK(pr->state == ProgressState::kProbe);
  CHECK(pr->next == pr->match + 1);
}

TEST_CASE("Progress: nothing is appended to a follower waiting for its snapshot", "[raft][etcd]") {
  BareRaft r = leader_of_three();
  Progress* pr = r->tracker().get(2);
  pr->become_snapshot(10);
  REQUIRE(r->step(prop(1, "x")) == Error::kOk);
  for (const auto& m : take_msgs(*r.raft)) CHECK(m.to() != 2);
}

TEST_CASE("Pre-vote: after a split vote the cluster still elects a leader", "[raft][etcd]") {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.pre_vote = true; });
  REQUIRE(c.elect(1) == 1);
  c.isolate(1);  // the leader goes away; 2 and 3 time out together
  REQUIRE(c.node(2).campaign() == Error::kOk);
  REQUIRE(c.node(3).campaign() == Error::kOk);
  c.stabilize();
  c.tick_all(40);
  // (1, cut off without check-quorum, still believes it leads term 1.)
  const std::uint64_t l = c.raft(2).state() == StateType::kLeader   ? 2
                          : c.raft(3).state() == StateType::kLeader ? 3
                                                                    : 0;
  REQUIRE(l != 0);
  CHECK(c.raft(l).term() >= 2);
}

TEST_CASE("Removing a voter lets entries commit with the smaller quorum", "[raft][etcd]") {
  BareRaft r = make_raft(1, {1, 2});
  r->become_candidate();
  r->become_leader();
  take_msgs(*r.raft);
  REQUIRE(r->step(prop(1, "x")) == Error::kOk);
  const std::uint64_t last = r->log().last_index();
  CHECK(r->log().committed() < last);  // 2 never answered
  r->apply_conf_change(conf_change(raftpb::ConfChangeRemoveNode, 2));
  CHECK(r->log().committed() == last);
}
