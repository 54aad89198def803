// Membership rules (core/server/membership): the checks every member makes when it applies a
// conf change, with etcd 3.4's verdicts and messages.
#include "core/server/membership.h"

#include <catch2/catch.hpp>

using namespace outpost;
using namespace outpost::server;

namespace {

outpostpb::ClusterInfo three_voters() {
  outpostpb::ClusterInfo c;
  c.set_cluster_id(7);
  c.set_local_id(1);
  for (uint64_t id : {1, 2, 3}) {
    auto* m = c.add_members();
    m->set_id(id);
    m->set_name("m" + std::to_string(id));
    m->add_peer_urls("http://127.0.0.1:" + std::to_string(2380 + id));
  }
  return c;
}

struct Change {
  raftpb::ConfChange cc;
  outpostpb::ConfChangeContext ctx;
};

Change add(uint64_t id, const std::string& url, bool learner) {
  Change c;
  c.cc.set_type(learner ? raftpb::ConfChangeAddLearnerNode : raftpb::ConfChangeAddNode);
  c.cc.set_node_id(id);
  c.ctx.mutable_member()->set_id(id);
  c.ctx.mutable_member()->add_peer_urls(url);
  c.ctx.mutable_member()->set_is_learner(learner);
  return c;
}

Change promote(uint64_t id) {
  Change c;
  c.cc.set_type(raftpb::ConfChangeAddNode);
  c.cc.set_node_id(id);
  c.ctx.mutable_member()->set_id(id);
  c.ctx.set_is_promote(true);
  return c;
}

Change remove(uint64_t id) {
  Change c;
  c.cc.set_type(raftpb::ConfChangeRemoveNode);
  c.cc.set_node_id(id);
  return c;
}

Change update(uint64_t id, const std::string& url) {
  Change c;
  c.cc.set_type(raftpb::ConfChangeUpdateNode);
  c.cc.set_node_id(id);
  c.ctx.mutable_member()->set_id(id);
  c.ctx.mutable_member()->add_peer_urls(url);
  return c;
}

Status check(const outpostpb::ClusterInfo& c, const Change& ch, size_t max_learners = 1) {
  return validate_conf_change(c, ch.cc, ch.ctx, max_learners);
}

// Checks, then applies when valid; returns the verdict.
Status step(outpostpb::ClusterInfo* c, const Change& ch, size_t max_learners = 1) {
  Status s = check(*c, ch, max_learners);
  if (s) apply_conf_change(c, ch.cc, ch.ctx);
  return s;
}

}  // namespace

TEST_CASE("a learner is added, counted against max-learners, and promoted to a voter") {
  auto c = three_voters();
  REQUIRE(step(&c, add(4, "http://127.0.0.1:2390", true)));
  auto cs = conf_state_of(c);
  CHECK(cs.voters_size() == 3);
  REQUIRE(cs.learners_size() == 1);
  CHECK(cs.learners(0) == 4);

  Status s = check(c, add(5, "http://127.0.0.1:2391", true));
  CHECK(s.code() == ErrorCode::kTooManyLearners);
  CHECK(s.message() == "etcdserver: too many learner members in cluster");
  CHECK(check(c, add(5, "http://127.0.0.1:2391", true), /*max_learners=*/2));
  // A voter is not limited by max-learners.
  CHECK(check(c, add(5, "http://127.0.0.1:2391", false)));

  REQUIRE(step(&c, promote(4)));
  cs = conf_state_of(c);
  CHECK(cs.voters_size() == 4);
  CHECK(cs.learners_size() == 0);
  CHECK(find_member(c, 4)->peer_urls(0) == "http://127.0.0.1:2390");
}

TEST_CASE("promotion needs an existing learner") {
  auto c = three_voters();
  Status s = check(c, promote(2));
  CHECK(s.code() == ErrorCode::kMemberNotLearner);
  CHECK(s.message() == "etcdserver: can only promote a learner member");
  CHECK(check(c, promote(9)).code() == ErrorCode::kMemberNotFound);
}

TEST_CASE("an id or a peer URL already in the cluster is refused") {
  auto c = three_voters();
  Status s = check(c, add(2, "http://127.0.0.1:2399", false));
  CHECK(s.code() == ErrorCode::kMemberExist);
  CHECK(s.message() == "etcdserver: member ID already exist");
  s = check(c, add(9, "http://127.0.0.1:2382", true));
  CHECK(s.code() == ErrorCode::kPeerUrlExist);
  CHECK(s.message() == "etcdserver: Peer URLs already exists");
}

TEST_CASE("a removed member is gone for good: its id cannot come back") {
  auto c = three_voters();
  REQUIRE(step(&c, remove(3)));
  CHECK(find_member(c, 3) == nullptr);
  CHECK(is_removed(c, 3));
  CHECK(conf_state_of(c).voters_size() == 2);
  CHECK(check(c, remove(3)).code() == ErrorCode::kMemberNotFound);
  CHECK(check(c, add(3, "http://127.0.0.1:2399", false)).code() == ErrorCode::kMemberNotFound);
  CHECK(check(c, update(3, "http://127.0.0.1:2399")).code() == ErrorCode::kMemberNotFound);
  CHECK(check(c, remove(42)).message() == "etcdserver: member not found");
  // Its peer URL is free again, for a member with a new id.
  CHECK(check(c, add(8, "http://127.0.0.1:2383", false)));
}

TEST_CASE("update moves a member's peer URLs, never onto another member's") {
  auto c = three_voters();
  CHECK(check(c, update(2, "http://127.0.0.1:2381")).code() == ErrorCode::kPeerUrlExist);
  REQUIRE(step(&c, update(2, "http://127.0.0.1:2382")));  // its own URL again
  REQUIRE(step(&c, update(2, "http://10.0.0.2:2380")));
  CHECK(find_member(c, 2)->peer_urls(0) == "http://10.0.0.2:2380");
  CHECK(find_member(c, 2)->name() == "m2");
}

TEST_CASE("members replaying the same changes reach the same membership") {
  std::vector<Change> log = {add(4, "http://a:1", true),
                             add(5, "http://b:1", true),  // refused
                             promote(4),
                             remove(1),
                             add(1, "http://c:1", false),  // refused
                             add(6, "http://b:1", true),
                             update(6, "http://d:1")};
  auto a = three_voters(), b = three_voters();
  std::vector<bool> va, vb;
  for (const auto& ch : log) va.push_back(step(&a, ch).is_ok());
  for (const auto& ch : log) vb.push_back(step(&b, ch).is_ok());
  CHECK(va == std::vector<bool>{true, false, true, true, false, true, true});
  CHECK(va == vb);
  CHECK(a.SerializeAsString() == b.SerializeAsString());
  auto cs = conf_state_of(a);
  CHECK(cs.voters_size() == 3);    // 2, 3, 4
  CHECK(cs.learners_size() == 1);  // 6
}

TEST_CASE("peer URLs split into host and port") {
  std::string host;
  int port = 0;
  REQUIRE(split_url("http://127.0.0.1:2380", &host, &port));
  CHECK(host == "127.0.0.1");
  CHECK(port == 2380);
  REQUIRE(split_url("http://[::1]:12380", &host, &port));
  CHECK(host == "::1");
  CHECK(port == 12380);
  CHECK_FALSE(split_url("http://127.0.0.1", &host, &port));
  CHECK_FALSE(split_url("http://:2380", &host, &port));
  CHECK_FALSE(split_url("http://host:0", &host, &port));
  CHECK_FALSE(split_url("http://host:99999", &host, &port));
  CHECK_FALSE(split_url("http://host:12ab", &host, &port));
}
