// core/server's timers driven by a ManualClock: request timeouts (Waiters), calls to the
// leader (LeaderCalls), forwarded keep-alives (LeaseRenewals), the read barrier and
// housekeeping's task order. Time moves only when the test moves it.

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/server/housekeeping.h"
#include "core/server/leader_call.h"
#include "core/server/lease_renewals.h"
#include "core/server/read_barrier.h"
#include "core/server/waiters.h"
#include "outpostpb/internal.pb.h"

using namespace outpost;
using namespace outpost::server;
using namespace std::chrono_literals;
using transport::MessageKind;

TEST_CASE("a waiter is answered when its request timeout passes, not before", "[clock]") {
  ManualClock clock;
  Waiters w(clock, 7s);
  std::vector<std::string> answers;
  Waiters::Done d = [&](const Status& s) { answers.push_back(s.message()); };
  const uint64_t id = w.add(nullptr, d);
  REQUIRE(id != 0);
  auto why = [](Clock::time_point) { return Status::of(ErrorCode::kTimeout); };
  clock.advance(6999ms);
  w.expire(why);
  CHECK(answers.empty());
  clock.advance(1ms);
  w.expire(why);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0] == Status::of(ErrorCode::kTimeout).message());
  CHECK_FALSE(w.take(id).done);  // gone: a late entry finds no waiter
}

TEST_CASE("waiters: ids are unique, stop answers everyone and refuses later adds", "[clock]") {
  ManualClock clock;
  Waiters w(clock, 1s);
  int stopped = 0;
  Waiters::Done a = [&](const Status& s) { stopped += s.code() == ErrorCode::kStopped; };
  Waiters::Done b = a;
  const uint64_t ia = w.add(nullptr, a), ib = w.add(nullptr, b);
  CHECK(ia != ib);
  w.stop();
  CHECK(stopped == 2);
  Waiters::Done c = [](const Status&) {};
  CHECK(w.add(nullptr, c) == 0);
  CHECK(c);  // not taken: the caller answers it
}

TEST_CASE("leader calls: answered, refused by a non-leader, timed out by the clock", "[clock]") {
  ManualClock clock;
  std::vector<std::pair<MessageKind, std::string>> sent;
  LeaderCalls calls(
      clock, 1s,
      [&](uint64_t, MessageKind k, std::string p) {
        sent.emplace_back(k, std::move(p));
        return true;
      },
      [](LeaderCalls::Service, std::string p, LeaderCalls::Reply reply) {
        reply("answer to " + p);
      });
  std::vector<std::string> got;
  auto done = [&](const Status& s, std::string a) {
    got.push_back(s ? a : "error: " + s.message());
  };
  calls.call(0, false, "x", done);  // no leader known
  calls.call(1, true, "y", done);   // we lead: answered here
  REQUIRE(got.size() == 2);
  CHECK(got[0] == "error: " + Status::of(ErrorCode::kNoLeader).message());
  CHECK(got[1] == "answer to y");

  calls.call(2, false, "z", done);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].first == MessageKind::kLeaderCall);
  // The leader's side: decode, answer, and send back with the same id.
  LeaderCalls leader(
      clock, 1s,
      [&](uint64_t, MessageKind k, std::string p) {
        sent.emplace_back(k, std::move(p));
        return true;
      },
      [](LeaderCalls::Service, std::string p, LeaderCalls::Reply reply) {
        reply("leader says " + p);
      });
  leader.on_call(1, sent[0].second, /*leading=*/true);
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].first == MessageKind::kLeaderCallAnswer);
  calls.on_answer(sent[1].second);
  REQUIRE(got.size() == 3);
  CHECK(got[2] == "leader says z");

  // A member that no longer leads says so; the caller hears kNoLeader.
  calls.call(2, false, "w", done);
  leader.on_call(1, sent[2].second, /*leading=*/false);
  calls.on_answer(sent[3].second);
  REQUIRE(got.size() == 4);
  CHECK(got[3] == "error: " + Status::of(ErrorCode::kNoLeader).message());

  // No answer at all: kTimeout once the clock passes the limit, and a late answer is ignored.
  calls.call(2, false, "v", done);
  clock.advance(999ms);
  calls.expire();
  CHECK(got.size() == 4);
  clock.advance(1ms);
  calls.expire();
  REQUIRE(got.size() == 5);
  CHECK(got[4] == "error: " + Status::of(ErrorCode::kTimeout).message());
  leader.on_call(1, sent[4].second, true);
  calls.on_answer(sent[5].second);
  CHECK(got.size() == 5);
}

TEST_CASE("a forwarded keep-alive is retried until a leader answers or its time is up", "[clock]") {
  ManualClock clock;
  std::vector<LeaseRenewals::CallDone> in_flight;
  LeaseRenewals r(clock, 10s, [&](std::string, LeaseRenewals::CallDone d) {
    in_flight.push_back(std::move(d));
  });
  etcdserverpb::LeaseKeepAliveResponse resp;
  std::vector<Status> done;
  r.renew(5, &resp, [&](const Status& s) { done.push_back(s); });
  REQUIRE(in_flight.size() == 1);
  in_flight[0](Status::of(ErrorCode::kNoLeader), {});  // the leader is gone
  CHECK(done.empty());
  r.retry();  // housekeeping sends it again
  REQUIRE(in_flight.size() == 2);
  etcdserverpb::LeaseKeepAliveResponse ans;
  ans.set_id(5);
  ans.set_ttl(30);
  in_flight[1](Status::ok(), ans.SerializeAsString());
  REQUIRE(done.size() == 1);
  CHECK(done[0].is_ok());
  CHECK(resp.ttl() == 30);

  // Past the request timeout, a lost leader is the answer.
  r.renew(6, &resp, [&](const Status& s) { done.push_back(s); });
  clock.advance(10s);
  in_flight[2](Status::of(ErrorCode::kTimeout), {});
  REQUIRE(done.size() == 2);
  CHECK(done[1].code() == ErrorCode::kTimeout);
}

TEST_CASE("the read barrier releases reads in index order as the applier advances", "[read]") {
  ReadBarrier b(10);
  std::vector<int> order;
  b.wait(5, [&](const Status& s) { order.push_back(s ? 5 : -5); });  // applied already
  b.wait(12, [&](const Status& s) { order.push_back(s ? 12 : -12); });
  b.wait(11, [&](const Status& s) { order.push_back(s ? 11 : -11); });
  b.wait(20, [&](const Status& s) { order.push_back(s ? 20 : -20); });
  CHECK(order == std::vector<int>{5});
  b.advance(12);
  CHECK(order == std::vector<int>{5, 11, 12});
  b.stop();
  CHECK(order == std::vector<int>{5, 11, 12, -20});
}

TEST_CASE("housekeeping runs its tasks in the order they were added", "[housekeeping]") {
  Housekeeping h(std::chrono::milliseconds(100));
  std::string trace;
  h.add("a", [&] { trace += "a"; });
  h.add("b", [&] { trace += "b"; });
  h.run_once();
  h.run_once();
  CHECK(trace == "abab");
}
