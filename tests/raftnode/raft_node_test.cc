// server::RaftNode: three members in one process, each with its own RocksDB and real TCP peer
// connections on loopback: election, replication of proposals made on any member, ReadIndex,
// leader loss, and a restarted member catching up from its durable log.
#include "core/server/raft_node.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "tests/common/temp_dir.h"

using namespace outpost;
using server::RaftNode;

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool poll_until(const std::function<bool()>& pred, int seconds = 10) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

struct Member {
  uint64_t id;
  std::string dir;
  int port;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<RaftNode> node;
  std::mutex mu;
  std::vector<std::string> applied;  // data of committed normal entries, in order

  std::vector<std::string> snapshot() {
    std::lock_guard l(mu);
    return applied;
  }
};

struct Cluster {
  outpost::testing::TempDir root;
  std::vector<std::unique_ptr<Member>> members;

  Cluster() {
    for (uint64_t id = 1; id <= 3; ++id) {
      auto m = std::make_unique<Member>();
      m->id = id;
      m->dir = root.path() + "/m" + std::to_string(id);
      m->port = free_port();
      members.push_back(std::move(m));
    }
  }
  ~Cluster() {
    for (auto& m : members) stop(*m);
  }

  void start(Member& m) {
    auto e = storage::Engine::open(m.dir);
    REQUIRE(e);
    m.engine = std::move(e.value());
    {
      std::lock_guard l(m.mu);
      m.applied.clear();
    }
    server::RaftNodeOptions o;
    o.id = m.id;
    o.cluster_id = 77;
    o.listen_port = m.port;
    o.heartbeat_ms = 20;
    o.election_ticks = 10;
    o.membership.set_cluster_id(77);
    o.membership.set_local_id(m.id);
    for (auto& p : members) {
      auto* info = o.membership.add_members();
      info->set_id(p->id);
      info->add_peer_urls("http://127.0.0.1:" + std::to_string(p->port));
    }
    Member* mp = &m;
    RaftNode::Callbacks cb;
    cb.committed = [mp](std::vector<raftpb::Entry> ents) {
      std::lock_guard l(mp->mu);
      for (auto& e : ents)
        if (e.type() == raftpb::EntryNormal && !e.data().empty()) mp->applied.push_back(e.data());
    };
    auto n = RaftNode::start(o, m.engine.get(), std::move(cb));
    REQUIRE(n);
    m.node = std::move(n.value());
  }
  void stop(Member& m) {
    if (m.node) m.node->stop();
    m.node.reset();
    m.engine.reset();
  }
  // The leader all running members agree on, or 0.
  uint64_t agreed_leader() {
    uint64_t lead = 0;
    for (auto& m : members) {
      if (!m->node) continue;
      const uint64_t l = m->node->leader();
      if (l == 0 || (lead != 0 && l != lead)) return 0;
      lead = l;
    }
    return lead;
  }
  Member& get(uint64_t id) { return *members[id - 1]; }
};

void propose_all(Member& via, int from, int to) {
  for (int i = from; i < to; ++i) via.node->propose("v" + std::to_string(i), [](const Status&) {});
}

}  // namespace

TEST_CASE("three members elect one leader and apply the same entries in the same order",
          "[raftnode]") {
  Cluster c;
  for (auto& m : c.members) c.start(*m);
  REQUIRE(poll_until([&] { return c.agreed_leader() != 0; }));
  const uint64_t lead = c.agreed_leader();
  const uint64_t follower = lead == 1 ? 2 : 1;

  // Proposals through the leader and through a follower (forwarded by Raft).
  propose_all(c.get(lead), 0, 100);
  propose_all(c.get(follower), 100, 200);
  for (auto& m : c.members) REQUIRE(poll_until([&] { return m->snapshot().size() == 200; }));
  const auto ref = c.members[0]->snapshot();
  for (auto& m : c.members) CHECK(m->snapshot() == ref);
  // Each member's own proposals stay in its order.
  std::vector<std::string> mine;
  for (const auto& v : ref)
    if (std::stoi(v.substr(1)) >= 100) mine.push_back(v);
  for (size_t i = 0; i < mine.size(); ++i) CHECK(mine[i] == "v" + std::to_string(100 + i));

  SECTION("a read index on a follower covers everything committed before it was asked") {
    const uint64_t committed = c.get(lead).node->commit_index();
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status st;
    uint64_t index = 0;
    c.get(follower).node->read_index([&](const Status& s, uint64_t i) {
      std::lock_guard l(mu);
      st = s;
      index = i;
      done = true;
      cv.notify_all();
    });
    std::unique_lock l(mu);
    REQUIRE(cv.wait_for(l, std::chrono::seconds(5), [&] { return done; }));
    CHECK(st.is_ok());
    CHECK(index >= committed);
  }

  SECTION(
      "losing the leader: the others elect a new one and keep committing; the old one "
      "catches up after a restart") {
    c.stop(c.get(lead));
    REQUIRE(poll_until([&] {
      const uint64_t l = c.agreed_leader();
      return l != 0 && l != lead;
    }));
    const uint64_t lead2 = c.agreed_leader();
    propose_all(c.get(lead2), 200, 250);
    for (auto& m : c.members)
      if (m->node) REQUIRE(poll_until([&] { return m->snapshot().size() == 250; }));

    c.start(c.get(lead));  // from its durable log; Raft hands back everything committed
    REQUIRE(poll_until([&] { return c.get(lead).snapshot().size() == 250; }));
    CHECK(c.get(lead).snapshot() == c.get(lead2).snapshot());
  }
}
