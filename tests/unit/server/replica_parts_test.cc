// The parts of core/server that edge replicas rely on, driven by a ManualClock: batched read
// index rounds (ReadIndexRounds over a real raft::RawNode following a leader), the lag a learner
// derives from the leader's progress (ReplicaLag), forwarded client calls (ForwardedCalls) and
// the leader's asynchronous answers to calls (LeaderCalls).

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/raft/raw_node.h"
#include "core/raft/storage.h"
#include "core/server/forwarded_calls.h"
#include "core/server/leader_call.h"
#include "core/server/read_index.h"
#include "core/server/replica_lag.h"
#include "outpostpb/internal.pb.h"

using namespace outpost;
using namespace outpost::server;
using namespace std::chrono_literals;

namespace {

// Member 2 of {1, 2}, following leader 1 at term 1: its ReadIndex requests go to 1.
struct Follower {
  raftpb::ConfState cs;
  raft::MemoryStorage storage;
  std::unique_ptr<raft::RawNode> node;
  Follower() : storage(conf()) {
    raft::Config c;
    c.id = 2;
    c.storage = &storage;
    node = std::make_unique<raft::RawNode>(c);
    raftpb::Message hb;
    hb.set_type(raftpb::MsgHeartbeat);
    hb.set_from(1);
    hb.set_to(2);
    hb.set_term(1);
    REQUIRE(node->step(hb) == raft::Error::kOk);
    drain();
  }
  static raftpb::ConfState conf() {
    raftpb::ConfState c;
    c.add_voters(1);
    c.add_voters(2);
    return c;
  }
  // The request contexts of the ReadIndex requests sent since the last call.
  std::vector<std::string> drain() {
    std::vector<std::string> ctxs;
    while (node->has_ready()) {
      raft::Ready rd = node->ready();
      for (const auto& m : rd.messages)
        if (m.type() == raftpb::MsgReadIndex) ctxs.push_back(m.entries(0).data());
      node->advance();
    }
    return ctxs;
  }
};

}  // namespace

TEST_CASE("read index: two rounds in flight; reads arriving meanwhile share the next", "[clock]") {
  ManualClock clock;
  Follower f;
  ReadIndexRounds rounds(clock, 1s, 7s, 2);
  std::vector<std::pair<std::string, uint64_t>> got;
  auto read = [&](std::string name) {
    return [&got, name](const Status& s, uint64_t index) {
      got.emplace_back(s ? name : name + ": " + s.message(), index);
    };
  };
  rounds.start(*f.node, {read("a")});
  rounds.start(*f.node, {read("b")});
  auto sent = f.drain();
  REQUIRE(sent.size() == 2);  // each starts a round at once
  // 100 reads while two rounds are out: no request goes out for them yet.
  std::vector<ReadIndexRounds::OnRead> burst;
  for (int i = 0; i < 100; ++i) burst.push_back(read("c"));
  rounds.start(*f.node, std::move(burst));
  CHECK(f.drain().empty());
  CHECK(rounds.rounds_started() == 2);
  // An answer releases its round and starts the next, one request for all 100.
  rounds.resolve(*f.node, {raft::ReadState{7, sent[0]}});
  REQUIRE(got.size() == 1);
  CHECK(got[0] == std::make_pair(std::string("a"), uint64_t(7)));
  auto third = f.drain();
  REQUIRE(third.size() == 1);
  CHECK(rounds.rounds_started() == 3);
  rounds.resolve(*f.node, {raft::ReadState{9, third[0]}, raft::ReadState{8, sent[1]}});
  REQUIRE(got.size() == 102);
  CHECK(got[1] == std::make_pair(std::string("c"), uint64_t(9)));
  CHECK(got[101] == std::make_pair(std::string("b"), uint64_t(8)));
  CHECK(f.drain().empty());  // nobody waits: no new round
  CHECK_FALSE(rounds.wake_at());
}

TEST_CASE("read index: with two rounds out, the next starts when the gap ends", "[clock]") {
  ManualClock clock;
  Follower f;
  ReadIndexRounds rounds(clock, 1s, 7s, 2);
  int answered = 0;
  auto read = [&](const Status&, uint64_t) { ++answered; };
  rounds.start(*f.node, {read});
  rounds.start(*f.node, {read});
  REQUIRE(f.drain().size() == 2);
  CHECK_FALSE(rounds.wake_at());
  clock.advance(1ms);
  rounds.start(*f.node, {read, read});
  CHECK(f.drain().empty());
  REQUIRE(rounds.wake_at());
  CHECK(*rounds.wake_at() == clock.now() + 4ms);
  clock.advance(3ms);
  rounds.poll(*f.node);
  CHECK(f.drain().empty());
  clock.advance(1ms);  // 5 ms since the last round started
  rounds.poll(*f.node);
  CHECK(f.drain().size() == 1);  // one round for both waiting reads
  CHECK(rounds.rounds_started() == 3);
  CHECK_FALSE(rounds.wake_at());
  CHECK(answered == 0);
}

TEST_CASE("read index: a lost round is asked again until the read timeout", "[clock]") {
  ManualClock clock;
  Follower f;
  ReadIndexRounds rounds(clock, 1s, 3s, 2);
  std::vector<std::string> got;
  rounds.start(*f.node, {[&](const Status& s, uint64_t) { got.push_back(s.message()); }});
  REQUIRE(f.drain().size() == 1);
  clock.advance(999ms);
  rounds.expire(*f.node);
  CHECK(f.drain().empty());
  clock.advance(1ms);
  rounds.expire(*f.node);  // the round is given up and asked again
  CHECK(f.drain().size() == 1);
  CHECK(got.empty());
  clock.advance(1s);
  rounds.expire(*f.node);
  CHECK(f.drain().size() == 1);
  clock.advance(1s);  // 3 s since the read came: it is answered, with a timeout
  rounds.expire(*f.node);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == Status::of(ErrorCode::kTimeout).message());
  CHECK(f.drain().empty());  // nobody waits: no new round
  // A stale answer to a given-up round is ignored.
  rounds.resolve(*f.node, {raft::ReadState{5, "2/1"}});
  CHECK(got.size() == 1);
}

TEST_CASE("replica lag: entries, revisions and time since last caught up", "[clock]") {
  ManualClock clock;
  ReplicaLag lag(clock);
  CHECK_FALSE(lag.figures(0).heard);
  CHECK(lag.figures(0).time == Clock::duration::max());
  lag.on_applied(10, 5);
  outpostpb::LeaderState st;
  st.set_commit_index(15);
  st.set_applied_index(14);
  st.set_revision(9);
  st.set_last_index(15);
  st.set_match_index(12);
  lag.on_leader_state(st);
  auto f = lag.figures(12);
  CHECK(f.heard);
  CHECK(f.entries == 5);
  CHECK(f.revisions == 4);
  CHECK(f.leader_match == 12);
  CHECK(f.time == Clock::duration::max());  // never caught up yet
  clock.advance(300ms);
  lag.on_applied(14, 9);  // now as far as the leader was when it sent st
  f = lag.figures(15);
  CHECK(f.entries == 1);
  CHECK(f.revisions == 0);
  CHECK(f.time == 300ms);  // caught up with what the leader had 300 ms ago
  clock.advance(2s);       // the leader falls silent: staleness grows
  CHECK(lag.figures(15).time == 2300ms);
  lag.on_leader_state(st);  // heard again, and already applied: fresh
  CHECK(lag.figures(15).time == 0ms);
}

TEST_CASE("forwarded calls: retried while no leader took them, never after a timeout", "[clock]") {
  ManualClock clock;
  std::vector<ForwardedCalls::CallDone> out;
  std::vector<uint64_t> waited;
  ForwardedCalls calls(
      clock, 10s,
      [&](std::string, Clock::duration, ForwardedCalls::CallDone done) {
        out.push_back(std::move(done));
      },
      [&](uint64_t index, std::function<void(const Status&)> done) {
        waited.push_back(index);
        done(Status::ok());
      });
  std::vector<std::string> got;
  auto done = [&](const Status& s, outpostpb::ForwardedAnswer a) {
    got.push_back(s ? a.response() : s.message());
  };
  outpostpb::ForwardedCall c;
  c.set_method("/etcdserverpb.KV/Put");
  calls.forward(c, done);
  REQUIRE(out.size() == 1);
  out[0](Status::of(ErrorCode::kNoLeader), {});  // not run anywhere: sent again later
  CHECK(got.empty());
  calls.retry();
  REQUIRE(out.size() == 2);
  outpostpb::ForwardedAnswer a;
  a.set_response("ok");
  a.set_applied_index(42);
  out[1](Status::ok(), a.SerializeAsString());
  REQUIRE(got.size() == 1);
  CHECK(got[0] == "ok");
  CHECK(waited == std::vector<uint64_t>{42});  // answered once applied here
  CHECK(calls.sent() == 2);

  // Reached a leader that did not answer in time: it may have run, so it is not sent again.
  calls.forward(c, done);
  REQUIRE(out.size() == 3);
  out[2](Status::of(ErrorCode::kTimeout), {});
  calls.retry();
  CHECK(out.size() == 3);
  REQUIRE(got.size() == 2);
  CHECK(got[1] == Status::of(ErrorCode::kTimeout).message());

  // Past the request timeout, a missing leader is the answer.
  calls.forward(c, done);
  clock.advance(10s);
  out[3](Status::of(ErrorCode::kNoLeader), {});
  REQUIRE(got.size() == 3);
  CHECK(got[2] == Status::of(ErrorCode::kNoLeader).message());
}

TEST_CASE("leader calls: the leader may answer later; the answer is sent from its loop",
          "[clock]") {
  ManualClock clock;
  std::vector<std::pair<transport::MessageKind, std::string>> sent;
  auto send = [&](uint64_t, transport::MessageKind k, std::string p) {
    sent.emplace_back(k, std::move(p));
    return true;
  };
  std::vector<LeaderCalls::Reply> later;
  std::vector<std::function<void()>> loop;
  LeaderCalls leader(
      clock, 1s, send,
      [&](LeaderCalls::Service service, std::string p, LeaderCalls::Reply reply) {
        CHECK(service == outpostpb::LeaderCall::CLIENT_CALL);
        CHECK(p == "put k");
        later.push_back(std::move(reply));
      },
      [&](std::function<void()> fn) { loop.push_back(std::move(fn)); });
  LeaderCalls caller(clock, 1s, send, nullptr);
  std::vector<std::string> got;
  caller.call(1, false, outpostpb::LeaderCall::CLIENT_CALL, "put k", 5s,
              [&](const Status& s, std::string a) { got.push_back(s ? a : s.message()); });
  REQUIRE(sent.size() == 1);
  leader.on_call(2, sent[0].second, /*leading=*/true);
  REQUIRE(later.size() == 1);
  CHECK(sent.size() == 1);  // nothing yet: the write is not applied
  clock.advance(2s);        // longer than the default timeout, within the call's own
  caller.expire();
  CHECK(got.empty());
  later[0]("applied");  // from another thread, in the server
  CHECK(sent.size() == 1);
  REQUIRE(loop.size() == 1);
  loop[0]();  // the leader's loop sends it
  REQUIRE(sent.size() == 2);
  caller.on_answer(sent[1].second);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == "applied");
}
