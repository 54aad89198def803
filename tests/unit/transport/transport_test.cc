// core/transport over real loopback sockets: delivery, ordering, rejection of strangers and
// garbage, reconnection, bounded queues.
#include "core/transport/transport.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using outpost::transport::MessageKind;
using outpost::transport::Options;
using outpost::transport::Transport;

namespace {

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    // Let closing handles finish, then free the loop.
    for (int i = 0; i < 100 && uv_loop_alive(&loop); ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  // Runs the loop until pred() holds or 5 s pass; returns pred().
  bool run_until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return pred();
  }
};

struct Received {
  std::vector<std::pair<uint64_t, std::string>> msgs;
  std::vector<MessageKind> kinds;
  Transport::OnMessage handler() {
    return [this](uint64_t from, MessageKind kind, std::string p) {
      msgs.emplace_back(from, std::move(p));
      kinds.push_back(kind);
    };
  }
};

Options opts(uint64_t id, uint64_t cluster = 7) {
  Options o;
  o.local_id = id;
  o.cluster_id = cluster;
  o.min_backoff_ms = 10;
  o.max_backoff_ms = 50;
  return o;
}

// A raw client that connects and writes bytes, to play a misbehaving peer.
struct RawClient {
  uv_tcp_t sock;
  uv_connect_t req;
  std::string data;
  bool written = false;
  RawClient(uv_loop_t* loop, int port, std::string bytes) : data(std::move(bytes)) {
    uv_tcp_init(loop, &sock);
    sock.data = this;
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    req.data = this;
    uv_tcp_connect(&req, &sock, reinterpret_cast<sockaddr*>(&addr), [](uv_connect_t* r, int st) {
      auto* self = static_cast<RawClient*>(r->data);
      if (st != 0) return;
      auto* w = new uv_write_t;
      uv_buf_t b = uv_buf_init(self->data.data(), unsigned(self->data.size()));
      w->data = self;
      uv_write(w, reinterpret_cast<uv_stream_t*>(&self->sock), &b, 1, [](uv_write_t* w, int) {
        static_cast<RawClient*>(w->data)->written = true;
        delete w;
      });
    });
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&sock), nullptr); }
};

std::string handshake(uint64_t cluster, uint64_t from) {
  std::string s = "OUTP";
  s.push_back(char(2));
  for (int i = 7; i >= 0; --i) s.push_back(char((cluster >> (8 * i)) & 0xff));
  for (int i = 7; i >= 0; --i) s.push_back(char((from >> (8 * i)) & 0xff));
  return s;
}

}  // namespace

TEST_CASE("frames arrive whole, in order, tagged with the sender's id", "[transport]") {
  Loop l;
  Received rb;
  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  Transport b(&l.loop, opts(2), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  a.add_peer(2, "127.0.0.1", b.port());
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  for (int i = 0; i < 1000; ++i)
    REQUIRE(
        a.send(2, MessageKind::kRaft, "m" + std::to_string(i) + std::string(size_t(i % 97), 'x')));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1000; }));
  for (int i = 0; i < 1000; ++i) {
    CHECK(rb.msgs[size_t(i)].first == 1);
    CHECK(rb.msgs[size_t(i)].second == "m" + std::to_string(i) + std::string(size_t(i % 97), 'x'));
  }
  CHECK(a.stats().frames_sent == 1000);
}

TEST_CASE("each frame carries its kind in the envelope; an unknown kind closes the connection",
          "[transport]") {
  Loop l;
  Received rb;
  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  Transport b(&l.loop, opts(2), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  a.add_peer(2, "127.0.0.1", b.port());
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  const MessageKind sent[] = {MessageKind::kRaft, MessageKind::kLeaderCall,
                              MessageKind::kLeaderCallAnswer, MessageKind::kProposalRefused};
  for (MessageKind k : sent) REQUIRE(a.send(2, k, "payload " + std::to_string(int(k))));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 4; }));
  for (size_t i = 0; i < 4; ++i) {
    CHECK(rb.kinds[i] == sent[i]);
    CHECK(rb.msgs[i].second == "payload " + std::to_string(int(sent[i])));
  }
  // A well-formed frame whose kind byte is not one we know, and an empty frame (no kind).
  RawClient unknown(&l.loop, b.port(), handshake(7, 5) + std::string("\x00\x00\x00\x02\x63x", 6));
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections == 1; }));
  RawClient empty(&l.loop, b.port(), handshake(7, 5) + std::string("\x00\x00\x00\x00", 4));
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections == 2; }));
  CHECK(rb.msgs.size() == 4);
}

TEST_CASE("a member of another cluster is disconnected and nothing it sends is delivered",
          "[transport]") {
  Loop l;
  Received rb;
  Transport b(&l.loop, opts(2, /*cluster=*/7), rb.handler());
  Transport stranger(&l.loop, opts(9, /*cluster=*/8), [](uint64_t, MessageKind, std::string) {});
  std::string err;
  REQUIRE(b.listen(&err));
  stranger.add_peer(2, "127.0.0.1", b.port());
  REQUIRE(l.run_until([&] { return stranger.connected(2); }));
  stranger.send(2, MessageKind::kRaft, "hello");
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= 1; }));
  // The handshake is checked before any frame is parsed, and the connection is gone after it.
  CHECK(rb.msgs.empty());
  // The stranger is told why, so it can say so in its own log.
  REQUIRE(l.run_until([&] { return stranger.stats().refused_by_peers >= 1; }));
}

TEST_CASE("garbage and oversized frames close that connection; the member keeps serving",
          "[transport]") {
  Loop l;
  Received rb;
  Options ob = opts(2);
  ob.max_frame_bytes = 1024;
  Transport b(&l.loop, ob, rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));

  RawClient garbage(&l.loop, b.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections == 1; }));

  // A correct handshake, then a frame claiming 1 GiB.
  RawClient huge(&l.loop, b.port(), handshake(7, 5) + std::string("\x40\x00\x00\x00", 4) + "abc");
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections == 2; }));
  CHECK(rb.msgs.empty());

  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  a.add_peer(2, "127.0.0.1", b.port());
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  REQUIRE(a.send(2, MessageKind::kRaft, "still here"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1; }));
  CHECK(rb.msgs[0].second == "still here");
  garbage.close();
  huge.close();
}

TEST_CASE("a peer that restarts is dialled again with back-off and gets new messages",
          "[transport]") {
  Loop l;
  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  Received r1;
  auto b = std::make_unique<Transport>(&l.loop, opts(2), r1.handler());
  std::string err;
  REQUIRE(b->listen(&err));
  const int port = b->port();
  a.add_peer(2, "127.0.0.1", port);
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  REQUIRE(a.send(2, MessageKind::kRaft, "one"));
  REQUIRE(l.run_until([&] { return r1.msgs.size() == 1; }));

  b.reset();  // the peer goes away
  REQUIRE(l.run_until([&] { return !a.connected(2); }));
  CHECK_FALSE(a.send(2, MessageKind::kRaft, "lost"));  // dropped, not queued without bound

  Received r2;
  Options o2 = opts(2);
  o2.listen_port = port;
  Transport b2(&l.loop, o2, r2.handler());
  REQUIRE(b2.listen(&err));
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  REQUIRE(a.send(2, MessageKind::kRaft, "two"));
  REQUIRE(l.run_until([&] { return r2.msgs.size() == 1; }));
  CHECK(r2.msgs[0].second == "two");
}

TEST_CASE("the outbound queue is bounded: sends past the limit are refused", "[transport]") {
  Loop l;
  Received rb;
  Transport b(&l.loop, opts(2), rb.handler());
  Options oa = opts(1);
  oa.max_queue_bytes = 64 * 1024;
  Transport a(&l.loop, oa, [](uint64_t, MessageKind, std::string) {});
  std::string err;
  REQUIRE(b.listen(&err));
  a.add_peer(2, "127.0.0.1", b.port());
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  // Without running the loop nothing drains past the first write batch: the queue fills.
  int accepted = 0, refused = 0;
  for (int i = 0; i < 200; ++i)
    (a.send(2, MessageKind::kRaft, std::string(4096, 'v')) ? accepted : refused)++;
  CHECK(refused > 0);
  CHECK(a.stats().dropped == uint64_t(refused));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == size_t(accepted); }));
}

TEST_CASE("sending to an unknown peer fails without side effects", "[transport]") {
  Loop l;
  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  CHECK_FALSE(a.send(42, MessageKind::kRaft, "x"));
}

TEST_CASE("listening on a port in use is a clear error", "[transport]") {
  Loop l;
  Transport a(&l.loop, opts(1), [](uint64_t, MessageKind, std::string) {});
  std::string err;
  REQUIRE(a.listen(&err));
  Options o = opts(2);
  o.listen_port = a.port();
  Transport b(&l.loop, o, [](uint64_t, MessageKind, std::string) {});
  CHECK_FALSE(b.listen(&err));
  CHECK(err.find("cannot listen for peers on 127.0.0.1:" + std::to_string(a.port())) == 0);
}

TEST_CASE("a joining member's query is answered with one frame, whatever its cluster id",
          "[transport]") {
  Loop l;
  Received rb;
  Transport b(&l.loop, opts(2, /*cluster=*/7), rb.handler());
  b.set_on_query([] { return std::string("the cluster\0record", 18); });
  std::string err;
  REQUIRE(b.listen(&err));
  // query_cluster blocks: ask from a thread while the loop serves.
  outpost::Result<std::string> got = outpost::Status::internal("not asked");
  std::atomic<bool> done{false};
  std::thread asker([&] {
    got = Transport::query_cluster("127.0.0.1", b.port(), 2000);
    done = true;
  });
  // The asker finishes on its own thread: a timer keeps the loop from blocking once the
  // answer has gone out.
  uv_timer_t wake;
  uv_timer_init(&l.loop, &wake);
  uv_timer_start(
      &wake, [](uv_timer_t*) {}, 5, 5);
  REQUIRE(l.run_until([&] { return done.load(); }));
  uv_timer_stop(&wake);
  uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
  asker.join();
  REQUIRE(got);
  CHECK(got.value() == std::string("the cluster\0record", 18));
  CHECK(rb.msgs.empty());
  CHECK(b.stats().rejected_connections == 0);
  // Nobody listening: a clear error, not a hang.
  auto none = Transport::query_cluster("127.0.0.1", 1, 500);
  CHECK_FALSE(none);
}
