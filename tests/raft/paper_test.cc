// The rules of the Raft paper (Ongaro & Ousterhout, §5), one test per rule, named after it.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

namespace {

std::vector<raftpb::Message> of_type(const std::vector<raftpb::Message>& ms,
                                     raftpb::MessageType t) {
  std::vector<raftpb::Message> out;
  for (const auto& m : ms) {
    if (m.type() == t) out.push_back(m);
  }
  return out;
}

// Drives a bare Raft through its election timeout.
void tick_until_campaign(Raft& r) {
  for (int i = 0; i < 2 * 10 + 1 && r.state() == StateType::kFollower; ++i) r.tick();
}

void persist(BareRaft& b) {
  // Mimic the application persisting everything the Raft handed out.
  const auto& ents = b.raft->log().unstable_entries();
  if (!ents.empty()) {
    CHECK(b.storage->append(ents) == Error::kOk);
    b.raft->log().stable_to(ents.back().index(), ents.back().term());
  }
}

}  // namespace

TEST_CASE("§5.1 a server that sees a larger term adopts it and becomes follower", "[raft][paper]") {
  for (StateType st : {StateType::kFollower, StateType::kCandidate, StateType::kLeader}) {
    BareRaft r = make_raft(1, {1, 2, 3});
    if (st == StateType::kCandidate) r->become_candidate();
    if (st == StateType::kLeader) {
      r->become_candidate();
      r->become_leader();
    }
    auto m = msg(raftpb::MsgApp, 2, 1, 5);
    CHECK(r->step(m) == Error::kOk);
    CHECK(r->term() == 5);
    CHECK(r->state() == StateType::kFollower);
    CHECK(r->lead() == 2);
  }
}

TEST_CASE("§5.1 a server ignores a request with a stale term", "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  r->become_follower(3, 2);
  take_msgs(*r.raft);
  auto m = msg(raftpb::MsgApp, 3, 1, 2);
  m.set_index(0);
  m.add_entries()->CopyFrom(entry(1, 2, "x"));
  CHECK(r->step(m) == Error::kOk);
  CHECK(r->term() == 3);
  CHECK(r->log().last_index() == 0);  // the stale append changed nothing
  CHECK(r->lead() == 2);
}

TEST_CASE("§5.2 a follower that hears nothing for an election timeout starts an election",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  tick_until_campaign(*r.raft);
  REQUIRE(r->state() == StateType::kCandidate);
  CHECK(r->term() == 1);
  CHECK(r->vote() == 1);  // votes for itself
  auto votes = of_type(take_msgs(*r.raft), raftpb::MsgVote);
  REQUIRE(votes.size() == 2);
  std::set<std::uint64_t> to{votes[0].to(), votes[1].to()};
  CHECK(to == std::set<std::uint64_t>{2, 3});
  CHECK(votes[0].term() == 1);
}

TEST_CASE("§5.2 a candidate that receives votes from a majority becomes leader", "[raft][paper]") {
  struct Case {
    int size;
    std::map<std::uint64_t, bool> votes;
    StateType want;
  };
  std::vector<Case> cases = {
      {1, {}, StateType::kLeader},
      {3, {{2, true}, {3, true}}, StateType::kLeader},
      {3, {{2, true}}, StateType::kLeader},
      {5, {{2, true}, {3, true}, {4, true}, {5, true}}, StateType::kLeader},
      {5, {{2, true}, {3, true}}, StateType::kLeader},
      {3, {{2, false}, {3, false}}, StateType::kFollower},  // lost: back to follower
      {5, {{2, false}, {3, false}, {4, false}}, StateType::kFollower},
      {3, {}, StateType::kCandidate},  // pending
      {5, {{2, true}}, StateType::kCandidate},
      {5, {{2, true}, {3, false}, {4, false}}, StateType::kCandidate},
  };
  for (const auto& c : cases) {
    std::vector<std::uint64_t> ids;
    for (int i = 1; i <= c.size; ++i) ids.push_back(static_cast<std::uint64_t>(i));
    BareRaft r = make_raft(1, ids);
    CHECK(r->step(msg(raftpb::MsgHup, 1, 1)) == Error::kOk);
    for (auto [id, granted] : c.votes) {
      auto m = msg(raftpb::MsgVoteResp, id, 1, r->term());
      m.set_reject(!granted);
      CHECK(r->step(m) == Error::kOk);
    }
    INFO("size " << c.size << " votes " << c.votes.size());
    CHECK(r->state() == c.want);
    CHECK(r->term() == 1);
  }
}

TEST_CASE("§5.2 each server votes for at most one candidate in a term, first come first served",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  auto v2 = msg(raftpb::MsgVote, 2, 1, 1);
  CHECK(r->step(v2) == Error::kOk);
  auto resp = take_msgs(*r.raft);
  REQUIRE(resp.size() == 1);
  CHECK_FALSE(resp[0].reject());
  CHECK(r->vote() == 2);
  auto v3 = msg(raftpb::MsgVote, 3, 1, 1);
  CHECK(r->step(v3) == Error::kOk);
  resp = take_msgs(*r.raft);
  REQUIRE(resp.size() == 1);
  CHECK(resp[0].reject());  // already voted for 2 in term 1
  CHECK(r->vote() == 2);
  CHECK(r->step(v2) == Error::kOk);  // a repeated request from the same candidate is granted again
  resp = take_msgs(*r.raft);
  REQUIRE(resp.size() == 1);
  CHECK_FALSE(resp[0].reject());
}

TEST_CASE("§5.2 a candidate that hears from a leader of its term returns to follower",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r->step(msg(raftpb::MsgHup, 1, 1)) == Error::kOk);
  REQUIRE(r->state() == StateType::kCandidate);
  CHECK(r->step(msg(raftpb::MsgApp, 2, 1, r->term())) == Error::kOk);
  CHECK(r->state() == StateType::kFollower);
  CHECK(r->lead() == 2);
  CHECK(r->term() == 1);
}

TEST_CASE("§5.2 election timeouts are randomized between one and two election timeouts",
          "[raft][paper]") {
  std::set<int> seen;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    BareRaft r = make_raft(1, {1, 2, 3}, 10, 1, {}, [&](Config& c) { c.random_seed = seed; });
    r->become_follower(r->term() + 1, 0);
    int t = r->randomized_election_timeout();
    CHECK(t >= 10);
    CHECK(t < 20);
    seen.insert(t);
  }
  CHECK(seen.size() >= 8);  // actually spread, so split votes resolve
}

TEST_CASE("§5.2 a leader sends heartbeats to every follower each heartbeat interval",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3}, 10, 2);
  r->become_candidate();
  r->become_leader();
  take_msgs(*r.raft);
  r->tick();
  CHECK(of_type(take_msgs(*r.raft), raftpb::MsgHeartbeat).empty());
  r->tick();
  auto hbs = of_type(take_msgs(*r.raft), raftpb::MsgHeartbeat);
  CHECK(hbs.size() == 2);
}

TEST_CASE("§5.3 a leader appends a proposal to its log and sends it to all followers",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  r->become_candidate();
  r->become_leader();
  persist(r);
  take_msgs(*r.raft);
  CHECK(r->step(prop(1, "hello")) == Error::kOk);
  CHECK(r->log().last_index() == 2);  // 1 is the leader's empty entry
  auto apps = of_type(take_msgs(*r.raft), raftpb::MsgApp);
  REQUIRE(apps.size() == 2);
  for (const auto& m : apps) {
    REQUIRE(m.entries_size() >= 1);
    CHECK(m.entries(m.entries_size() - 1).data() == "hello");
    CHECK(m.entries(m.entries_size() - 1).term() == 1);
  }
  CHECK(r->log().committed() == 0);  // not yet on a majority
}

TEST_CASE("§5.3 an entry is committed once stored on a majority and followers learn it",
          "[raft][paper]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  CHECK(c.node(1).propose("a") == Error::kOk);
  c.stabilize();
  CHECK(c.raft(1).log().committed() == 2);  // leader + node 2 are a majority of 3
  c.tick_all(1);                            // heartbeat carries the commit index
  CHECK(c.raft(2).log().committed() == 2);
  CHECK(c.raft(3).log().committed() == 1);  // only the leader's empty entry
  REQUIRE(c.state(2).applied.size() == 1);
  CHECK(c.state(2).applied[0].data() == "a");
  c.heal();
  c.tick_all(1);
  CHECK(c.raft(3).log().committed() == 2);
}

TEST_CASE("§5.3 a follower refuses an append whose previous entry does not match (log matching)",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r.storage->append({entry(1, 1), entry(2, 2)}) == Error::kOk);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  struct Case {
    std::uint64_t index, log_term;
    bool reject;
  };
  for (auto c :
       std::vector<Case>{{2, 2, false}, {1, 1, false}, {0, 0, false}, {2, 3, true}, {3, 2, true}}) {
    r->become_follower(2, 2);
    take_msgs(*r.raft);
    auto m = msg(raftpb::MsgApp, 2, 1, 2);
    m.set_index(c.index);
    m.set_log_term(c.log_term);
    CHECK(r->step(m) == Error::kOk);
    auto out = take_msgs(*r.raft);
    REQUIRE(out.size() == 1);
    INFO("index " << c.index << " log_term " << c.log_term);
    CHECK(out[0].reject() == c.reject);
  }
}

TEST_CASE("§5.3 a follower deletes a conflicting suffix and appends the leader's entries",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r.storage->append({entry(1, 1), entry(2, 2), entry(3, 2)}) == Error::kOk);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  r->become_follower(3, 2);
  auto m = msg(raftpb::MsgApp, 2, 1, 3);
  m.set_index(1);
  m.set_log_term(1);
  *m.add_entries() = entry(2, 3, "x");
  CHECK(r->step(m) == Error::kOk);
  auto ents = all_entries(r->log());
  REQUIRE(ents.size() == 2);
  CHECK(ents[1].term() == 3);
  CHECK(ents[1].data() == "x");
}

TEST_CASE("§5.3 a leader brings a divergent follower's log in line with its own", "[raft][paper]") {
  // Figure 7 flavour: the follower holds a long run of entries from an old term.
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  CHECK(c.node(1).propose("base") == Error::kOk);
  c.stabilize();
  // Node 1 keeps leading term 1 but is cut off; it appends 20 entries nobody else gets.
  c.isolate(1);
  for (int i = 0; i < 20; ++i) CHECK(c.node(1).propose("stale" + std::to_string(i)) == Error::kOk);
  c.stabilize();
  REQUIRE(c.elect(2) == 2);
  for (int i = 0; i < 3; ++i) CHECK(c.node(2).propose("new" + std::to_string(i)) == Error::kOk);
  c.stabilize();
  c.heal();
  c.tick_all(3);
  CHECK(c.raft(1).state() == StateType::kFollower);
  auto l1 = all_entries(c.raft(1).log());
  auto l2 = all_entries(c.raft(2).log());
  REQUIRE(l1.size() == l2.size());
  for (std::size_t i = 0; i < l1.size(); ++i) {
    CHECK(l1[i].term() == l2[i].term());
    CHECK(l1[i].data() == l2[i].data());
  }
  CHECK(c.raft(1).log().committed() == c.raft(2).log().committed());
}

TEST_CASE("§5.4.1 a voter denies its vote to a candidate whose log is less up to date",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r.storage->append({entry(1, 1), entry(2, 2)}) == Error::kOk);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  struct Case {
    std::uint64_t index, log_term;
    bool reject;
  };
  for (auto c : std::vector<Case>{{2, 1, true},      // older last term
                                  {1, 2, true},      // same term, shorter
                                  {2, 2, false},     // identical
                                  {3, 2, false},     // longer
                                  {1, 3, false}}) {  // newer last term
    r->become_follower(2, 0);
    take_msgs(*r.raft);
    auto m = msg(raftpb::MsgVote, 2, 1, 3);
    m.set_index(c.index);
    m.set_log_term(c.log_term);
    CHECK(r->step(m) == Error::kOk);
    auto out = take_msgs(*r.raft);
    REQUIRE(out.size() == 1);
    INFO("index " << c.index << " log_term " << c.log_term);
    CHECK(out[0].reject() == c.reject);
  }
}

TEST_CASE("§5.4.2 a leader never commits an entry of a previous term by counting replicas",
          "[raft][paper]") {
  // Figure 8: the new leader has an old-term entry on a majority but must not commit it until an
  // entry of its own term is replicated to a majority.
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r.storage->append({entry(1, 1), entry(2, 2)}) == Error::kOk);
  raftpb::HardState hs;
  hs.set_term(2);
  r.storage->set_hard_state(hs);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  r->become_candidate();  // term 3
  r->become_leader();     // appends the empty entry 3 of term 3
  take_msgs(*r.raft);
  // Node 2 acknowledges index 2 (an entry of term 2): stored on 2 of 3, but not committable.
  auto ack = msg(raftpb::MsgAppResp, 2, 1, 3);
  ack.set_index(2);
  CHECK(r->step(ack) == Error::kOk);
  CHECK(r->log().committed() == 0);
  ack.set_index(3);  // now the term-3 entry is on a majority: it and everything before commit
  CHECK(r->step(ack) == Error::kOk);
  CHECK(r->log().committed() == 3);
}

TEST_CASE("Election safety: at most one leader is elected in a given term", "[raft][paper]") {
  // Split the cluster repeatedly; whoever wins a term must be alone in it.
  Cluster c({1, 2, 3, 4, 5});
  std::map<std::uint64_t, std::uint64_t> leader_of_term;
  auto record = [&] {
    for (auto& [id, n] : c.nodes()) {
      const Raft& r = n.node->raft();
      if (r.state() != StateType::kLeader) continue;
      auto [it, fresh] = leader_of_term.emplace(r.term(), id);
      CHECK(it->second == id);
    }
  };
  for (int round = 0; round < 30; ++round) {
    c.heal();
    // Two minority-or-majority groups racing for the same term.
    std::uint64_t a = static_cast<std::uint64_t>(round % 5) + 1;
    std::uint64_t b = static_cast<std::uint64_t>((round + 2) % 5) + 1;
    c.cut(a, b);
    CHECK(c.node(a).campaign() == Error::kOk);
    CHECK(c.node(b).campaign() == Error::kOk);
    c.stabilize();
    record();
    c.tick_all(25);
    record();
  }
  CHECK(leader_of_term.size() >= 10);
}

TEST_CASE("Leader append-only: a leader never overwrites or deletes entries in its log",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  r->become_follower(4, 0);
  r->become_candidate();  // term 5
  r->become_leader();
  CHECK(r->step(prop(1, "a")) == Error::kOk);
  CHECK(r->step(prop(1, "b")) == Error::kOk);
  persist(r);
  auto before = all_entries(r->log());
  // An append from a deposed leader of an older term arrives: it must not touch our log.
  auto m = msg(raftpb::MsgApp, 2, 1, 4);
  m.set_index(0);
  *m.add_entries() = entry(1, 4, "zzz");
  CHECK(r->step(m) == Error::kOk);
  // ...and an append response rejection must not make it rewrite its own log either.
  auto rej = msg(raftpb::MsgAppResp, 2, 1, r->term());
  rej.set_reject(true);
  rej.set_index(3);
  rej.set_reject_hint(0);
  CHECK(r->step(rej) == Error::kOk);
  auto after = all_entries(r->log());
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    CHECK(after[i].term() == before[i].term());
    CHECK(after[i].data() == before[i].data());
  }
  CHECK(r->state() == StateType::kLeader);
}

TEST_CASE("Leader completeness: a node missing a committed entry cannot be elected",
          "[raft][paper]") {
  Cluster c({1, 2, 3});
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  CHECK(c.node(1).propose("committed") == Error::kOk);
  c.stabilize();
  REQUIRE(c.raft(1).log().committed() == 2);
  c.heal();
  c.isolate(1);  // the old leader disappears; 3 lacks entry 2, 2 has it
  CHECK(c.node(3).campaign() == Error::kOk);
  c.stabilize();
  CHECK(c.raft(3).state() != StateType::kLeader);  // 2 refuses: 3's log is behind
  REQUIRE(c.elect(2) == 2);
  auto ents = all_entries(c.raft(2).log());
  bool found = false;
  for (const auto& e : ents) found |= e.data() == "committed";
  CHECK(found);
}

TEST_CASE("State machine safety: no two servers apply different entries at the same index",
          "[raft][paper]") {
  Cluster c({1, 2, 3, 4, 5});
  REQUIRE(c.elect(1) == 1);
  int n = 0;
  for (int round = 0; round < 10; ++round) {
    std::uint64_t victim = static_cast<std::uint64_t>(round % 5) + 1;
    c.isolate(victim);
    std::uint64_t l = c.leader();
    if (l != 0) {
      for (int i = 0; i < 3; ++i) CHECK(c.node(l).propose("v" + std::to_string(n++)) == Error::kOk);
    }
    c.stabilize();
    c.tick_all(25);
    c.heal();
    c.tick_all(25);
  }
  std::uint64_t l = c.leader();
  REQUIRE(l != 0);
  CHECK(c.node(l).propose("final") == Error::kOk);
  c.stabilize();
  c.tick_all(3);
  const auto& ref = c.state(l).applied;
  CHECK(ref.size() > 5);
  for (auto& [id, node] : c.nodes()) {
    const auto& a = node.applied;
    REQUIRE(a.size() == ref.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].index() == ref[i].index());
      CHECK(a[i].data() == ref[i].data());
    }
  }
}

TEST_CASE("§5.2 (Figure 2) only a leader's message or a granted vote restarts the election timer",
          "[raft][paper]") {
  BareRaft r = make_raft(1, {1, 2, 3});
  CHECK(r.storage->append({entry(1, 1), entry(2, 1)}) == Error::kOk);
  r.raft = std::make_unique<Raft>(make_config(1, r.storage.get()));
  for (int i = 0; i < 5; ++i) r->tick();
  REQUIRE(r->election_elapsed() == 5);
  // A candidate with a shorter log: we adopt its term but refuse, and keep counting.
  auto stale = msg(raftpb::MsgVote, 2, 1, 3);
  stale.set_index(1);
  stale.set_log_term(1);
  CHECK(r->step(stale) == Error::kOk);
  CHECK(r->term() == 3);
  CHECK(r->vote() == 0);
  CHECK(r->election_elapsed() == 5);
  // A candidate we vote for restarts the timer.
  auto good = msg(raftpb::MsgVote, 3, 1, 4);
  good.set_index(2);
  good.set_log_term(1);
  CHECK(r->step(good) == Error::kOk);
  CHECK(r->vote() == 3);
  CHECK(r->election_elapsed() == 0);
}
