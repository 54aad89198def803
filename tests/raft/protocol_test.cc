// Protocol details beyond §5: pre-vote, check-quorum, flow control, snapshots, membership
// changes, leader transfer, restarts.
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

TEST_CASE("Check-quorum: a leader that loses contact with a quorum steps down",
          "[raft][protocol]") {
  Cluster c({1, 2, 3}, {}, cq_pv);
  REQUIRE(c.elect(1) == 1);
  c.isolate(1);
  c.tick_all(10);  // one election timeout: the first check sees everyone active from before
  c.tick_all(11);
  CHECK(c.raft(1).state() == StateType::kFollower);
}

TEST_CASE("Check-quorum: a leader that hears from a quorum keeps leading", "[raft][protocol]") {
  Cluster c({1, 2, 3}, {}, cq_pv);
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  c.tick_all(50);
  CHECK(c.raft(1).state() == StateType::kLeader);
  CHECK(c.raft(1).term() == 1);
}

TEST_CASE("Pre-vote: a partitioned node does not bump its term and cannot disrupt on return",
          "[raft][protocol]") {
  Cluster c({1, 2, 3}, {}, cq_pv);
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  c.tick_all(100);  // node 3 keeps trying pre-votes and never wins them
  CHECK(c.raft(3).term() == 1);
  CHECK(c.raft(3).state() == StateType::kPreCandidate);
  c.heal();
  c.tick_all(5);
  CHECK(c.raft(1).state() == StateType::kLeader);
  CHECK(c.raft(1).term() == 1);
  CHECK(c.raft(3).lead() == 1);
}

TEST_CASE(
    "Leader lease: with check-quorum a follower ignores a vote request while it hears from "
    "its leader",
    "[raft][protocol]") {
  BareRaft r = make_raft(1, {1, 2, 3}, 10, 1, {}, cq_pv);
  r->become_follower(2, 2);
  auto v = msg(raftpb::MsgVote, 3, 1, 3);
  v.set_index(10);
  v.set_log_term(2);
  CHECK(r->step(v) == Error::kOk);
  CHECK(r->term() == 2);
  CHECK(take_msgs(*r.raft).empty());
}

TEST_CASE(
    "Without pre-vote a returning partitioned node forces a new term (the problem pre-vote "
    "solves)",
    "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  c.tick_all(100);
  CHECK(c.raft(3).term() > 1);
}

TEST_CASE("Fast back-off: a follower with a long conflicting tail is repaired in few round trips",
          "[raft][protocol]") {
  BareRaft r = make_raft(1, {1, 2});
  std::vector<raftpb::Entry> ents;
  ents.push_back(entry(1, 1));
  for (std::uint64_t i = 2; i <= 100; ++i) ents.push_back(entry(i, 2));
  CHECK(r.storage->append(ents) == Error::kOk);
  raftpb::HardState hs;
  hs.set_term(2);
  r.storage->set_hard_state(hs);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  // Follower 2's log: entry 1 of term 1 and then 100 entries of term 1 from an older leader.
  BareRaft f = make_raft(2, {1, 2});
  std::vector<raftpb::Entry> fe;
  for (std::uint64_t i = 1; i <= 101; ++i) fe.push_back(entry(i, 1));
  CHECK(f.storage->append(fe) == Error::kOk);
  f.storage->set_hard_state(hs);
  f.raft = std::make_unique<Raft>(make_config(2, f.storage.get()));
  r->become_candidate();
  r->become_leader();
  int rejections = 0;
  for (int round = 0; round < 10; ++round) {
    r->tick();  // heartbeat: its answer makes the leader probe the follower
    for (auto& m : take_msgs(*r.raft)) CHECK(f->step(m) == Error::kOk);
    for (auto& m : take_msgs(*f.raft)) {
      if (m.type() == raftpb::MsgAppResp && m.reject()) ++rejections;
      CHECK(r->step(m) == Error::kOk);
    }
  }
  CHECK(rejections <= 2);
  CHECK(r->tracker().get(2)->match == r->log().last_index());
}

TEST_CASE(
    "Flow control: a replicating follower gets at most max_inflight_msgs unacknowledged "
    "appends",
    "[raft][protocol]") {
  BareRaft r = make_raft(1, {1, 2}, 10, 1, {}, [](Config& c) { c.max_inflight_msgs = 3; });
  r->become_candidate();
  r->become_leader();
  take_msgs(*r.raft);
  r->tracker().get(2)->become_replicate();
  for (int i = 0; i < 10; ++i) CHECK(r->step(prop(1, "x")) == Error::kOk);
  auto apps = take_msgs(*r.raft);
  CHECK(apps.size() == 3);
  CHECK(r->tracker().get(2)->is_paused());
  auto ack = msg(raftpb::MsgAppResp, 2, 1, r->term());
  ack.set_index(apps[0].entries(apps[0].entries_size() - 1).index());
  CHECK(r->step(ack) == Error::kOk);
  CHECK_FALSE(take_msgs(*r.raft).empty());  // the window reopened
}

TEST_CASE("Flow control: a probing follower gets one append per heartbeat round",
          "[raft][protocol]") {
  BareRaft r = make_raft(1, {1, 2});
  r->become_candidate();
  r->become_leader();
  take_msgs(*r.raft);
  REQUIRE(r->tracker().get(2)->state == ProgressState::kProbe);
  CHECK(r->step(prop(1, "a")) == Error::kOk);  // fills the probe
  CHECK(r->step(prop(1, "b")) == Error::kOk);
  CHECK(r->step(prop(1, "c")) == Error::kOk);
  auto out = take_msgs(*r.raft);
  int apps = 0;
  for (auto& m : out) apps += m.type() == raftpb::MsgApp;
  CHECK(apps == 1);
}

TEST_CASE("Snapshots: a follower behind the first retained index gets a snapshot and catches up",
          "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  for (int i = 0; i < 20; ++i) CHECK(c.node(1).propose("e" + std::to_string(i)) == Error::kOk);
  c.stabilize();
  auto& st = c.state(1);
  const std::uint64_t applied = c.raft(1).log().applied();
  REQUIRE(applied >= 20);
  REQUIRE(st.storage->create_snapshot(applied, &st.conf_state, "snap") == Error::kOk);
  REQUIRE(st.storage->compact(applied) == Error::kOk);
  c.heal();
  c.tick_all(3);
  CHECK(c.raft(3).log().committed() == c.raft(1).log().committed());
  raftpb::Snapshot s;
  CHECK(c.state(3).storage->snapshot(&s) == Error::kOk);
  CHECK(s.metadata().index() == applied);
  CHECK(s.data() == "snap");
  CHECK(c.node(1).propose("after") == Error::kOk);
  c.stabilize();
  CHECK(c.raft(3).log().last_index() == c.raft(1).log().last_index());
  CHECK(c.state(3).applied.back().data() == "after");
}

TEST_CASE("Snapshots: a restarted node recovers term, vote, log and membership from storage",
          "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  const auto term = c.raft(2).term();
  const auto last = c.raft(2).log().last_index();
  c.restart(2);
  c.stabilize();
  CHECK(c.raft(2).term() == term);
  CHECK(c.raft(2).vote() == 1);
  CHECK(c.raft(2).log().last_index() == last);
  CHECK(c.raft(2).tracker().voters().size() == 3);
  c.tick_all(2);
  REQUIRE(c.state(2).applied.size() == 1);  // re-applied after restart (applied was 0)
  CHECK(c.state(2).applied[0].data() == "x");
}

TEST_CASE("Membership: a voter can be added, and counts toward the quorum once applied",
          "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  // Like a new member started with the existing cluster as its initial membership.
  c.add_node(4, conf({1, 2, 3}));
  REQUIRE(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddNode, 4)) == Error::kOk);
  c.stabilize();
  c.tick_all(3);
  CHECK(c.raft(1).tracker().voters().size() == 4);
  CHECK(c.raft(4).tracker().voters().size() == 4);
  CHECK(c.raft(4).log().committed() == c.raft(1).log().committed());
  // With 4 voters, leader + one follower is no longer a quorum.
  c.isolate(3);
  c.isolate(4);
  CHECK(c.node(1).propose("needs-three") == Error::kOk);
  c.stabilize();
  const auto ci = c.raft(1).log().committed();
  CHECK(c.raft(1).log().last_index() == ci + 1);
}

TEST_CASE("Membership: a removed voter no longer counts and the quorum shrinks",
          "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change(cc(raftpb::ConfChangeRemoveNode, 3)) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).tracker().voters() == std::set<std::uint64_t>{1, 2});
  c.isolate(3);
  CHECK(c.node(1).propose("two-of-two") == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).log().committed() == c.raft(1).log().last_index());
}

TEST_CASE("Membership: only one conf change may be pending at a time", "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);
  c.isolate(3);  // the first change cannot commit
  CHECK(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddLearnerNode, 4)) == Error::kOk);
  CHECK(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddLearnerNode, 5)) ==
        Error::kProposalDropped);
  c.heal();
  c.stabilize();
  c.tick_all(2);
  CHECK(c.node(1).propose_conf_change(cc(raftpb::ConfChangeAddLearnerNode, 5)) == Error::kOk);
}

TEST_CASE("Membership: a new leader refuses conf changes until its log's changes are applied",
          "[raft][protocol]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  r->become_candidate();
  r->become_leader();
  CHECK(r->pending_conf_index() == 0);  // empty log
  raftpb::Message m = prop(1, "");
  m.mutable_entries(0)->set_type(raftpb::EntryConfChange);
  m.mutable_entries(0)->set_data(cc(raftpb::ConfChangeAddLearnerNode, 4).SerializeAsString());
  CHECK(r->step(m) == Error::kOk);
  CHECK(r->step(m) == Error::kProposalDropped);
}

TEST_CASE("Leader transfer: leadership moves to an up-to-date voter via MsgTimeoutNow",
          "[raft][protocol]") {
  Cluster c({1, 2, 3}, {}, cq_pv);
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  CHECK(c.node(1).transfer_leader(2) == Error::kOk);
  c.stabilize();
  CHECK(c.raft(2).state() == StateType::kLeader);
  CHECK(c.raft(1).state() == StateType::kFollower);
  CHECK(c.raft(1).lead() == 2);
}

TEST_CASE("Leader transfer: a lagging transferee is caught up first", "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  for (int i = 0; i < 5; ++i) CHECK(c.node(1).propose("x") == Error::kOk);
  c.stabilize();
  c.heal();
  CHECK(c.node(1).transfer_leader(3) == Error::kOk);
  c.stabilize();
  c.tick_all(2);
  CHECK(c.raft(3).state() == StateType::kLeader);
}

TEST_CASE("Leader transfer: proposals are refused while a transfer is under way",
          "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  CHECK(c.node(1).transfer_leader(3) == Error::kOk);
  CHECK(c.raft(1).lead_transferee() == 3);
  CHECK(c.node(1).propose("x") == Error::kProposalDropped);
  c.tick_all(10);  // gives up after an election timeout
  CHECK(c.raft(1).lead_transferee() == 0);
  CHECK(c.node(1).propose("x") == Error::kOk);
}

TEST_CASE("Uncommitted size limit: a leader refuses proposals beyond the limit",
          "[raft][protocol]") {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.max_uncommitted_entries_size = 100; });
  REQUIRE(c.elect(1) == 1);
  c.isolate(2);
  c.isolate(3);
  std::string big(60, 'x');
  CHECK(c.node(1).propose(big) == Error::kOk);
  CHECK(c.node(1).propose(big) == Error::kProposalDropped);
  c.heal();
  c.tick_all(2);
  CHECK(c.node(1).propose(big) == Error::kOk);
}

TEST_CASE("Proposals on a follower are forwarded to the leader", "[raft][protocol]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(2).propose("via-2") == Error::kOk);
  c.stabilize();
  c.tick_all(1);
  REQUIRE(c.state(3).applied.size() == 1);
  CHECK(c.state(3).applied[0].data() == "via-2");
}

TEST_CASE("Proposals without a known leader are dropped", "[raft][protocol]") {
  Cluster c({1, 2, 3});
  CHECK(c.node(2).propose("x") == Error::kProposalDropped);
}

TEST_CASE("Local message types are refused from the network", "[raft][protocol]") {
  Cluster c({1, 2, 3});
  CHECK(c.node(1).step(msg(raftpb::MsgHup, 2, 1)) == Error::kStepLocalMsg);
  CHECK(c.node(1).step(msg(raftpb::MsgAppResp, 9, 1, 1)) == Error::kStepPeerNotFound);
}
