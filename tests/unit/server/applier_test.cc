// core/server's Applier on its own: committed entries -> mvcc store, lessor and cluster record,
// over a real engine in a temporary directory, with no RaftNode, thread or socket.

#include "core/server/applier.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/lease/lessor.h"
#include "core/mvcc/kv_ops.h"
#include "core/mvcc/store.h"
#include "core/server/cluster_record.h"
#include "core/server/membership.h"
#include "core/server/snapshot_stream.h"
#include "core/server/waiters.h"
#include "core/storage/engine.h"
#include "core/storage/state_records.h"
#include "tests/common/temp_dir.h"

using namespace outpost;
using namespace outpost::server;
using namespace std::chrono_literals;
namespace pb = etcdserverpb;

namespace {

// A member's state machine and an Applier over it; members 1, 2, 3 are voters, 1 is local.
struct Fixture {
  outpost::testing::TempDir dir;
  ManualClock clock;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<mvcc::Store> store;
  std::unique_ptr<lease::Lessor> lessor;
  auth::AuthStore auth{clock};
  ClusterRecord cluster;
  Waiters waiters{clock, 10s};
  std::unique_ptr<Applier> applier;
  int removed = 0;

  explicit Fixture(const std::string& local = "a") {
    auto e = storage::Engine::open(dir.path());
    REQUIRE(e.is_ok());
    engine = std::move(e.value());
    auto s = mvcc::Store::open(engine.get());
    REQUIRE(s.is_ok());
    store = std::move(s.value());
    lessor = std::make_unique<lease::Lessor>(1, clock);
    store->set_lease_hook(lessor.get());
    outpostpb::ClusterInfo c = initial_cluster_info({{"a", {"http://10.0.0.1:2380"}},
                                                     {"b", {"http://10.0.0.2:2380"}},
                                                     {"c", {"http://10.0.0.3:2380"}}},
                                                    "tok", local, {"http://10.0.0.1:2379"});
    cluster.set(c);
    Applier::Options o;
    o.max_learners = 1;
    o.on_removed = [this] { ++removed; };
    applier = std::make_unique<Applier>(*engine, *store, *lessor, auth, cluster, waiters, o);
  }

  uint64_t next_index = 1;
  raftpb::Entry entry(const outpostpb::Request& r) {
    raftpb::Entry e;
    e.set_type(raftpb::EntryNormal);
    e.set_term(1);
    e.set_index(next_index++);
    e.set_data(r.SerializeAsString());
    return e;
  }
  raftpb::Entry conf_entry(raftpb::ConfChange cc) {
    raftpb::Entry e;
    e.set_type(raftpb::EntryConfChange);
    e.set_term(1);
    e.set_index(next_index++);
    e.set_data(cc.SerializeAsString());
    return e;
  }
};

outpostpb::Request put(const std::string& k, const std::string& v, int64_t lease = 0) {
  outpostpb::Request r;
  r.mutable_put()->set_key(k);
  r.mutable_put()->set_value(v);
  r.mutable_put()->set_lease(lease);
  return r;
}

std::string get(mvcc::Store& store, const std::string& k) {
  mvcc::ReadTxn r(store);
  pb::RangeRequest req;
  req.set_key(k);
  pb::RangeResponse resp;
  REQUIRE(mvcc::range(r, req, &resp).is_ok());
  return resp.kvs_size() == 0 ? "<none>" : resp.kvs(0).value();
}

raftpb::ConfChange add_learner(uint64_t id, const std::string& url) {
  outpostpb::ConfChangeContext ctx;
  ctx.mutable_member()->set_id(id);
  ctx.mutable_member()->add_peer_urls(url);
  ctx.mutable_member()->set_is_learner(true);
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeAddLearnerNode);
  cc.set_node_id(id);
  cc.set_context(ctx.SerializeAsString());
  return cc;
}

}  // namespace

TEST_CASE("the applier answers the proposer's waiter and applies others' entries alike",
          "[applier]") {
  Fixture f;
  pb::PutResponse resp;
  Status got = Status::internal("not answered");
  Waiters::Done done = [&](const Status& s) { got = s; };
  outpostpb::Request mine = put("k1", "v1");
  mine.set_id(f.waiters.add(&resp, done));
  REQUIRE(mine.id() != 0);
  outpostpb::Request theirs = put("k2", "v2");
  theirs.set_id(12345);  // proposed by another member: nobody waits here
  f.applier->apply({f.entry(mine), f.entry(theirs)});
  CHECK(got.is_ok());
  CHECK(resp.header().revision() == 2);
  CHECK(get(*f.store, "k1") == "v1");
  CHECK(get(*f.store, "k2") == "v2");
  CHECK(f.applier->applied_index() == 2);
  CHECK(f.store->consistent_index() == 2);
}

TEST_CASE("entries at or below the applied index are not applied again", "[applier]") {
  Fixture f;
  raftpb::Entry e1 = f.entry(put("k", "first"));
  raftpb::Entry e2 = f.entry(put("k", "second"));
  f.applier->apply({e1, e2});
  const int64_t rev = f.store->current_revision();
  f.applier->apply({e1, e2});  // a replay after a restart hands them out again
  CHECK(f.store->current_revision() == rev);
  CHECK(get(*f.store, "k") == "second");
  // An empty entry (a new leader's) only moves the consistent index.
  raftpb::Entry empty;
  empty.set_term(2);
  empty.set_index(f.next_index++);
  f.applier->apply({empty});
  CHECK(f.applier->applied_index() == 3);
  CHECK(f.store->current_revision() == rev);
}

TEST_CASE("conf changes are decided by etcd's rules and recorded with the entry", "[applier]") {
  Fixture f;
  Status first = Status::internal("not answered"), dup = Status::internal("not answered");
  Waiters::Done d1 = [&](const Status& s) { first = s; };
  Waiters::Done d2 = [&](const Status& s) { dup = s; };
  raftpb::ConfChange cc = add_learner(99, "http://10.0.0.9:2380");
  cc.set_id(f.waiters.add(nullptr, d1));
  raftpb::ConfChange again = add_learner(99, "http://10.0.0.9:2380");
  again.set_id(f.waiters.add(nullptr, d2));
  f.applier->apply({f.conf_entry(cc), f.conf_entry(again)});
  CHECK(first.is_ok());
  CHECK(dup.code() == ErrorCode::kMemberExist);
  const auto* m = find_member(f.cluster.get(), 99);
  REQUIRE(m != nullptr);
  CHECK(m->is_learner());
  CHECK(f.cluster.get().members_size() == 4);
  // Persisted with the entry: the record on disk is the one in memory.
  std::string raw;
  REQUIRE(f.engine->get_meta(ClusterRecord::kMetaKey, &raw));
  outpostpb::ClusterInfo disk;
  REQUIRE(disk.ParseFromString(raw));
  CHECK(disk.members_size() == 4);
  CHECK(f.applier->applied_index() == 2);
}

TEST_CASE("applying the local member's removal runs on_removed once", "[applier]") {
  Fixture f;
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeRemoveNode);
  cc.set_node_id(f.cluster.local_id());
  f.applier->apply({f.conf_entry(cc)});
  CHECK(f.removed == 1);
  CHECK(is_removed(f.cluster.get(), f.cluster.local_id()));
  // Removing another member does not call it again.
  raftpb::ConfChange other;
  other.set_type(raftpb::ConfChangeRemoveNode);
  const outpostpb::ClusterInfo now = f.cluster.get();
  for (const auto& m : now.members())
    if (m.id() != now.local_id() && !is_removed(now, m.id())) other.set_node_id(m.id());
  f.applier->apply({f.conf_entry(other)});
  CHECK(f.removed == 1);
}

TEST_CASE("a lease granted and revoked through the applier takes its keys with it", "[applier]") {
  Fixture f;
  outpostpb::Request grant;
  grant.mutable_lease_grant()->set_id(7);
  grant.mutable_lease_grant()->set_ttl(30);
  f.applier->apply({f.entry(grant), f.entry(put("leased", "x", 7)), f.entry(put("plain", "y"))});
  CHECK(f.lessor->exists(7));
  CHECK(get(*f.store, "leased") == "x");
  outpostpb::Request revoke;
  revoke.mutable_lease_revoke()->set_id(7);
  f.applier->apply({f.entry(revoke)});
  CHECK_FALSE(f.lessor->exists(7));
  CHECK(get(*f.store, "leased") == "<none>");
  CHECK(get(*f.store, "plain") == "y");
}

TEST_CASE("lease expiry follows the clock it is given, without sleeping", "[applier][clock]") {
  Fixture f;
  outpostpb::Request grant;
  grant.mutable_lease_grant()->set_id(8);
  grant.mutable_lease_grant()->set_ttl(5);
  f.applier->apply({f.entry(grant)});
  f.lessor->promote();  // the leader keeps deadlines: now + 5 s
  f.clock.advance(4900ms);
  CHECK(f.lessor->expired(10).empty());
  auto renewed = f.lessor->renew(8);  // a keep-alive: another full TTL from now
  REQUIRE(renewed.is_ok());
  f.clock.advance(4900ms);
  CHECK(f.lessor->expired(10).empty());
  f.clock.advance(200ms);
  CHECK(f.lessor->expired(10) == std::vector<int64_t>{8});
}

TEST_CASE("the applier re-checks requests against the auth store with the identity they carry",
          "[applier][auth]") {
  Fixture f;
  // The waiter has no response of its own: the applier fills a scratch one of the right type.
  auto apply = [&](outpostpb::Request r) {
    Status got = Status::internal("not answered");
    Waiters::Done done = [&](const Status& s) { got = s; };
    r.set_id(f.waiters.add(nullptr, done));
    f.applier->apply({f.entry(r)});
    return got;
  };
  outpostpb::Request r;
  r.mutable_auth_user_add()->set_name("root");
  r.mutable_auth_user_add()->mutable_options()->set_no_password(true);
  REQUIRE(apply(r).is_ok());
  r.Clear();
  r.mutable_auth_user_grant_role()->set_user("root");
  r.mutable_auth_user_grant_role()->set_role("root");
  REQUIRE(apply(r).is_ok());
  r.Clear();
  r.mutable_auth_enable();
  REQUIRE(apply(r).is_ok());
  REQUIRE(f.auth.enabled());
  const uint64_t rev = f.auth.revision();

  // No identity: refused, and nothing changes but the consistent index.
  const int64_t kv_rev = f.store->current_revision();
  CHECK(apply(put("k", "anon")).code() == ErrorCode::kUserEmpty);
  CHECK(f.store->current_revision() == kv_rev);
  CHECK(f.store->consistent_index() == f.applier->applied_index());
  // Root at the current auth revision: applied.
  outpostpb::Request p = put("k", "root");
  p.set_auth_user("root");
  p.set_auth_revision(rev);
  CHECK(apply(p).is_ok());
  CHECK(get(*f.store, "k") == "root");
  // A user management request from a non-root user: refused at apply time too.
  r.Clear();
  r.mutable_auth_role_add()->set_name("r");
  r.set_auth_user("mallory");
  r.set_auth_revision(rev);
  CHECK(apply(r).code() == ErrorCode::kUserNotFound);
  r.set_auth_user("root");
  CHECK(apply(r).is_ok());
  // The auth store moved on: a request resolved at the old revision is stale.
  p = put("k", "stale");
  p.set_auth_user("root");
  p.set_auth_revision(rev);
  CHECK(apply(p).code() == ErrorCode::kAuthOldRevision);
  CHECK(get(*f.store, "k") == "root");
  // The server's own requests (a lease expiry's revoke) are not checked.
  outpostpb::Request g;
  g.mutable_lease_grant()->set_id(9);
  g.mutable_lease_grant()->set_ttl(10);
  g.set_internal(true);
  CHECK(apply(g).is_ok());
  outpostpb::Request rv;
  rv.mutable_lease_revoke()->set_id(9);
  rv.set_internal(true);
  CHECK(apply(rv).is_ok());
  // Authenticate assigns the token prefix + "." + the entry's index on every member.
  pb::AuthenticateResponse ar;
  outpostpb::Request a;
  a.mutable_authenticate()->set_name("root");
  a.mutable_authenticate()->set_simple_token("prefix");
  Waiters::Done ignore = [](const Status&) {};
  a.set_id(f.waiters.add(&ar, ignore));
  raftpb::Entry e = f.entry(a);
  f.applier->apply({e});
  // root has no password (no_password): etcd refuses to authenticate it.
  CHECK(ar.token().empty());
}

TEST_CASE("a state received by snapshot brings the auth store with it", "[applier][auth]") {
  Fixture leader, learner;
  outpostpb::Request r;
  r.mutable_auth_user_add()->set_name("root");
  r.mutable_auth_user_add()->set_hashed_password("$2b$04$not-a-real-hash-but-opaque-here");
  leader.applier->apply({leader.entry(r)});
  r.Clear();
  r.mutable_auth_user_grant_role()->set_user("root");
  r.mutable_auth_user_grant_role()->set_role("root");
  leader.applier->apply({leader.entry(r)});
  r.Clear();
  r.mutable_auth_enable();
  leader.applier->apply({leader.entry(r)});
  REQUIRE(leader.auth.enabled());
  REQUIRE(leader.engine->flush().is_ok());

  // What snapshot_stream sends: every kv and meta record, staged on the receiver.
  auto staged = learner.engine->begin_staging();
  REQUIRE(staged.is_ok());
  Status put = Status::ok();
  REQUIRE(leader.engine
              ->scan_state([&](int cf, std::string_view k, std::string_view v) {
                if (put) put = staged.value()->put(cf, k, v);
                return true;
              })
              .is_ok());
  REQUIRE(put.is_ok());
  REQUIRE(staged.value()->finish().is_ok());
  REQUIRE_FALSE(learner.auth.enabled());
  REQUIRE(learner.applier->install(std::move(staged.value())).is_ok());
  CHECK(learner.auth.enabled());
  CHECK(learner.auth.revision() == leader.auth.revision());
  CHECK(learner.auth.users() == std::vector<std::string>{"root"});
  CHECK(learner.auth.has_role("root", "root"));
}

namespace {
uint64_t recorded_local_id(storage::Engine& engine) {
  std::string raw;
  outpostpb::ClusterInfo info;
  REQUIRE(engine.get_meta(ClusterRecord::kMetaKey, &raw));
  REQUIRE(info.ParseFromString(raw));
  return info.local_id();
}
}  // namespace

TEST_CASE(
    "a streamed state names the receiver as the local member from the moment it is swapped "
    "in: a crash right after the swap restarts it under its own id, not the leader's",
    "[applier][snapshot][crash]") {
  Fixture leader("a"), follower("b");
  leader.applier->apply({leader.entry(put("k", "v"))});
  // The leader's cluster record is on its disk (written with the entry that changed it).
  leader.applier->apply({leader.conf_entry(add_learner(0x44, "http://10.0.0.4:2380"))});
  const uint64_t a = leader.cluster.local_id(), b = follower.cluster.local_id();
  REQUIRE(a != b);
  REQUIRE(recorded_local_id(*leader.engine) == a);

  // What the leader streams (snapshot_stream): the MsgSnap, then chunks of its state records.
  raftpb::Message snap;
  snap.set_type(raftpb::MsgSnap);
  snap.set_from(a);
  snap.set_to(b);
  snap.mutable_snapshot()->mutable_metadata()->set_index(leader.next_index - 1);
  snap.mutable_snapshot()->mutable_metadata()->set_term(1);
  std::string records;
  REQUIRE(leader.engine
              ->scan_state([&](int cf, std::string_view k, std::string_view v) {
                storage::append_state_record(records, cf, k, v);
                return true;
              })
              .is_ok());
  SnapshotReceiver rx(*follower.engine, b);
  using transport::SnapshotEvent;
  CHECK_FALSE(rx.on_event(7, a, SnapshotEvent::kData, snap.SerializeAsString(), 0));
  CHECK_FALSE(rx.on_event(7, a, SnapshotEvent::kData, records, 0));
  auto got = rx.on_event(7, a, SnapshotEvent::kEnd, "", 0);
  REQUIRE(got);
  REQUIRE(got->staged);

  SECTION("the swap alone (the state a crash right after it leaves on disk) names the receiver") {
    REQUIRE(follower.engine->install_staged(std::move(got->staged)).is_ok());
    CHECK(recorded_local_id(*follower.engine) == b);
  }
  SECTION("installed by the applier: the leader's membership, the receiver as the local member") {
    auto info = follower.applier->install(std::move(got->staged));
    REQUIRE(info.is_ok());
    CHECK(info.value().local_id() == b);
    CHECK(info.value().members_size() == 4);  // the learner the leader added
    CHECK(follower.cluster.local_id() == b);
    CHECK(recorded_local_id(*follower.engine) == b);
    CHECK(get(*follower.store, "k") == "v");
  }
}
