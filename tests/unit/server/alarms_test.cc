// Alarms and the space quota (core/server/alarms.h, quota.h) through the Applier, over a real
// engine in a temporary directory: NOSPACE raised and cleared by log entries, growing requests
// refused while it is active, the alarm kept across a reopen, the quota's charges as etcd's.

#include "core/server/alarms.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "core/common/clock.h"
#include "core/lease/lessor.h"
#include "core/mvcc/store.h"
#include "core/server/applier.h"
#include "core/server/cluster_record.h"
#include "core/server/membership.h"
#include "core/server/quota.h"
#include "core/server/waiters.h"
#include "core/storage/engine.h"
#include "tests/common/temp_dir.h"

using namespace outpost;
using namespace outpost::server;
using namespace std::chrono_literals;
namespace pb = etcdserverpb;

namespace {

struct Fixture {
  outpost::testing::TempDir dir;
  ManualClock clock;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<mvcc::Store> store;
  std::unique_ptr<lease::Lessor> lessor;
  auth::AuthStore auth{clock};
  ClusterRecord cluster;
  Waiters waiters{clock, 10s};
  AlarmStore alarms;
  std::unique_ptr<Applier> applier;
  int64_t size = 0;  // what db_size() reports
  int raised = 0;
  uint64_t next_index = 1;

  explicit Fixture(int64_t quota = -1) {
    auto e = storage::Engine::open(dir.path());
    REQUIRE(e.is_ok());
    engine = std::move(e.value());
    auto s = mvcc::Store::open(engine.get());
    REQUIRE(s.is_ok());
    store = std::move(s.value());
    lessor = std::make_unique<lease::Lessor>(1, clock);
    store->set_lease_hook(lessor.get());
    cluster.set(initial_cluster_info({{"a", {"http://10.0.0.1:2380"}}}, "tok", "a",
                                     {"http://10.0.0.1:2379"}));
    REQUIRE(alarms.restore(*engine).is_ok());
    Applier::Options o;
    o.alarms = &alarms;
    o.quota = Quota(quota);
    o.db_size = [this] { return size; };
    o.on_nospace = [this] { ++raised; };
    applier = std::make_unique<Applier>(*engine, *store, *lessor, auth, cluster, waiters, o);
  }

  // Applies r as this member's proposal; returns the status its waiter got.
  template <class Resp>
  Status apply(outpostpb::Request r, Resp* resp) {
    Status got = Status::internal("not answered");
    Waiters::Done done = [&](const Status& s) { got = s; };
    r.set_id(waiters.add(resp, done));
    raftpb::Entry e;
    e.set_type(raftpb::EntryNormal);
    e.set_term(1);
    e.set_index(next_index++);
    e.set_data(r.SerializeAsString());
    applier->apply({e});
    return got;
  }
  Status put(const std::string& k, const std::string& v) {
    outpostpb::Request r;
    r.mutable_put()->set_key(k);
    r.mutable_put()->set_value(v);
    pb::PutResponse resp;
    return apply(r, &resp);
  }
  Status alarm(pb::AlarmRequest::AlarmAction action, uint64_t member, pb::AlarmResponse* resp) {
    outpostpb::Request r;
    r.mutable_alarm()->set_action(action);
    r.mutable_alarm()->set_memberid(member);
    r.mutable_alarm()->set_alarm(pb::NOSPACE);
    return apply(r, resp);
  }
};

}  // namespace

TEST_CASE("the quota charges requests as etcd and takes 0 as 2 GiB, negative as none", "[quota]") {
  outpostpb::Request put;
  put.mutable_put()->set_key("key");
  put.mutable_put()->set_value(std::string(100, 'v'));
  CHECK(quota_cost(put) == 256 + 3 + 100);
  outpostpb::Request txn;
  auto* t = txn.mutable_txn();
  t->add_success()->mutable_request_put()->set_key("a");
  t->add_success()->mutable_request_put()->set_key("b");
  t->add_failure()->mutable_request_delete_range()->set_key("c");
  CHECK(quota_cost(txn) == 2 * (256 + 1));
  outpostpb::Request grant;
  grant.mutable_lease_grant()->set_ttl(10);
  CHECK(quota_cost(grant) == 64);
  outpostpb::Request del;
  del.mutable_delete_range()->set_key("k");
  CHECK(quota_cost(del) == 0);

  CHECK(Quota(0).bytes() == (int64_t(2) << 30));
  CHECK(Quota(-1).bytes() == 0);
  CHECK(Quota(-1).fits(int64_t(1) << 40, 1000));
  CHECK(Quota(1000).fits(500, 499));
  CHECK_FALSE(Quota(1000).fits(500, 500));  // etcd: size + cost < quota
  CHECK(Quota(1000).fits(5000, 0));         // adds nothing: always fits
}

TEST_CASE("NOSPACE through the log refuses growing requests until disarmed", "[alarms]") {
  Fixture f;
  REQUIRE(f.put("k", "v").is_ok());
  pb::AlarmResponse resp;
  REQUIRE(f.alarm(pb::AlarmRequest::ACTIVATE, 7, &resp).is_ok());
  REQUIRE(resp.alarms_size() == 1);
  CHECK(resp.alarms(0).memberid() == 7);
  CHECK(f.alarms.active(pb::NOSPACE));
  CHECK(alarm_text(resp.alarms(0)) == "memberID:7 alarm:NOSPACE ");

  Status s = f.put("k2", "v");
  CHECK(s.code() == ErrorCode::kNoSpace);
  CHECK(s.message() == "etcdserver: mvcc: database space exceeded");
  outpostpb::Request grant;
  grant.mutable_lease_grant()->set_id(5);
  grant.mutable_lease_grant()->set_ttl(10);
  pb::LeaseGrantResponse gr;
  CHECK(f.apply(grant, &gr).code() == ErrorCode::kNoSpace);
  outpostpb::Request del;
  del.mutable_delete_range()->set_key("k");
  pb::DeleteRangeResponse dr;
  CHECK(f.apply(del, &dr).is_ok());
  CHECK(dr.deleted() == 1);

  // Kept with the state: a reopened store has it.
  REQUIRE(f.engine->flush().is_ok());
  AlarmStore again;
  REQUIRE(again.restore(*f.engine).is_ok());
  CHECK(again.active(pb::NOSPACE));

  pb::AlarmResponse off;
  REQUIRE(f.alarm(pb::AlarmRequest::DEACTIVATE, 7, &off).is_ok());
  CHECK(off.alarms_size() == 1);
  CHECK_FALSE(f.alarms.active(pb::NOSPACE));
  CHECK(f.put("k2", "v").is_ok());
  pb::AlarmResponse none;
  REQUIRE(f.alarm(pb::AlarmRequest::DEACTIVATE, 7, &none).is_ok());
  CHECK(none.alarms_size() == 0);  // not active: an empty answer, as etcd
}

TEST_CASE("a put past the quota at apply time is applied, answered NOSPACE, and raises the alarm",
          "[alarms][quota]") {
  Fixture f(1000);
  f.size = 900;
  Status s = f.put("big", std::string(200, 'x'));
  CHECK(s.code() == ErrorCode::kNoSpace);
  CHECK(f.raised == 1);
  CHECK(f.store->current_revision() == 2);  // applied all the same, as etcd's quota applier
}
