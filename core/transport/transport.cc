#include "core/transport/transport.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/common/log.h"
#include "core/common/metrics.h"

namespace outpost::transport {
namespace {

constexpr size_t kMaxBatch = 64;  // frames per write call

void put_u64(std::string& s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s.push_back(char((v >> (8 * i)) & 0xff));
}

std::string len_prefix(size_t n) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((n >> (8 * (3 - i))) & 0xff);
  return s;
}

// Releases a handle whose owner may already be gone: the owner pointer is cleared first.
template <class H>
void close_handle(H* h) {
  if (!h) return;
  h->data = nullptr;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(h)))
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}

bool resolve(const std::string& host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return false;
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

// A blocking connection to host:port for the one-shot streams (snapshots, queries): send and
// receive give up after timeout_ms. Closed when the Fd goes.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status dial_blocking(const std::string& host, int port, int timeout_ms, Fd* out) {
  sockaddr_storage addr;
  if (!resolve(host, port, &addr)) return Status::io("cannot resolve " + host);
  out->fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (out->fd < 0) return Status::io(std::string("socket: ") + std::strerror(errno));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(out->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(out->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(out->fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0)
    return Status::io("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                      std::strerror(errno));
  return Status::ok();
}

void alloc_cb(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

// Sends bytes on sock, fire and forget: a failure shows on the read side.
void send_bytes(uv_tcp_t* sock, std::string bytes) {
  struct Pending {
    uv_write_t req;
    std::string bytes;
  };
  auto* w = new Pending{{}, std::move(bytes)};
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->bytes.data(), unsigned(w->bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(sock), &b, 1,
               [](uv_write_t* r, int) { delete static_cast<Pending*>(r->data); }) != 0)
    delete w;
}

// Sends what a TLS session has for the peer (handshake records, alerts).
void send_tls_output(uv_tcp_t* sock, TlsSession& tls) {
  std::string out;
  if (sock && tls.take_output(&out)) send_bytes(sock, std::move(out));
}

// The host of "ip:port" or "[ip6]:port".
std::string host_of(const std::string& addr) {
  if (!addr.empty() && addr[0] == '[') return addr.substr(1, addr.find(']') - 1);
  return addr.substr(0, addr.rfind(':'));
}

std::string peer_address(uv_tcp_t* sock) {
  sockaddr_storage a;
  int len = sizeof a;
  if (uv_tcp_getpeername(sock, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "unknown";
  char ip[64] = "";
  if (a.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&a), ip, sizeof ip);
    return "[" + std::string(ip) +
           "]:" + std::to_string(ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port));
  }
  uv_ip4_name(reinterpret_cast<sockaddr_in*>(&a), ip, sizeof ip);
  return std::string(ip) + ":" +
         std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port));
}

std::string host_port(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

}  // namespace

namespace {
// etcd's peer traffic counters (rafthttp), labelled with the peer's id as etcd prints it.
metrics::Family<metrics::Counter>& peer_sent_bytes() {
  static auto& f = metrics::default_registry().counter(
      "etcd_network_peer_sent_bytes_total", "Bytes of messages sent to each peer.", {"To"});
  return f;
}
metrics::Family<metrics::Counter>& peer_received_bytes() {
  static auto& f =
      metrics::default_registry().counter("etcd_network_peer_received_bytes_total",
                                          "Bytes of messages received from each peer.", {"From"});
  return f;
}
}  // namespace

struct Transport::Peer {
  Transport* t = nullptr;
  uint64_t id = 0;
  std::string host;
  int port = 0;
  uv_tcp_t* sock = nullptr;
  uv_timer_t* timer = nullptr;
  bool connected = false;
  Clock::time_point since;  // when connected became true
  bool writing = false;
  uint64_t backoff_ms = 0;
  std::deque<std::string> queue;
  size_t queued_bytes = 0;
  bool use_tls = false;             // an https peer URL
  std::unique_ptr<TlsSession> tls;  // this connection's, while there is one
  std::string last_error;  // the last dial failure logged (again once it changes, or after 30 s)
  metrics::Counter* sent_bytes = nullptr;  // etcd_network_peer_sent_bytes_total{To=id}
  std::chrono::steady_clock::time_point last_error_at;

  // quiet: the caller logs the cause itself.
  void disconnect(const char* why, bool quiet = false) {
    if (sock) {
      if (connected && !quiet)
        OUTPOST_LOG(kWarn, "lost connection to peer", log::kv_hex("peer-id", id),
                    log::kv("reason", why));
      close_handle(sock);
      sock = nullptr;
    }
    tls.reset();
    const bool was = connected;
    connected = false;
    writing = false;
    if (was && !t->closed_ && t->on_peer_down_) t->on_peer_down_(id);
  }
};

struct Transport::Inbound {
  Transport* t = nullptr;
  uv_tcp_t* sock = nullptr;
  uv_timer_t* timer = nullptr;  // the handshake deadline
  std::unique_ptr<TlsSession> tls;
  std::string addr;  // the dialing end's address, for logs
  std::string buf;
  size_t off = 0;
  bool handshaken = false;
  bool snapshot = false;  // an "OUTS" stream
  bool snapshot_done = false;
  uint64_t stream = 0;
  uint64_t from = 0;
  metrics::Counter* received_bytes = nullptr;  // {From=from}, once known
  ~Inbound() { close_handle(timer); }
};

struct WriteReq {
  uv_write_t req;
  std::vector<std::string> parts;
  uv_tcp_t* sock;  // its data is the Peer, or null once the peer is gone
};

Transport::Transport(uv_loop_t* loop, Options opts, OnMessage on_message)
    : loop_(loop), opts_(std::move(opts)), on_message_(std::move(on_message)) {
  if (opts_.min_backoff_ms == 0) opts_.min_backoff_ms = 1;
}

Transport::~Transport() { close(); }

bool Transport::listen(std::string* error) {
  sockaddr_storage addr;
  if (!resolve(opts_.listen_host, opts_.listen_port, &addr)) {
    *error = "cannot resolve peer listen host " + opts_.listen_host;
    return false;
  }
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, [](uv_stream_t* s, int status) {
      if (status == 0 && s->data) static_cast<Transport*>(s->data)->on_accept();
    });
  if (rc != 0) {
    *error = "cannot listen for peers on " + opts_.listen_host + ":" +
             std::to_string(opts_.listen_port) + ": " + uv_strerror(rc);
    close_handle(listener_);
    listener_ = nullptr;
    return false;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return true;
}

namespace {
// Writes msg (bytes as they go on the wire) to an inbound connection, then closes it; the
// connection is no longer read and belongs to the write from here on (closing it now would
// cancel the write). The caller still removes `in`. Nothing to write: the caller closes it.
template <class In>
void write_and_hang_up(In* in, std::string msg) {
  struct Pending {
    uv_write_t req;
    std::string msg;
    uv_tcp_t* sock;
  };
  if (msg.empty() || !in->sock) return;
  auto* w = new Pending{{}, std::move(msg), in->sock};
  w->req.data = w;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(in->sock));
  in->sock->data = nullptr;
  in->sock = nullptr;
  uv_buf_t b = uv_buf_init(w->msg.data(), unsigned(w->msg.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(w->sock), &b, 1, [](uv_write_t* req, int) {
        auto* w = static_cast<Pending*>(req->data);
        close_handle(w->sock);
        delete w;
      }) != 0) {
    close_handle(w->sock);
    delete w;
  }
}
}  // namespace

void Transport::on_accept() {
  auto in = std::make_unique<Inbound>();
  in->t = this;
  in->sock = new uv_tcp_t;
  uv_tcp_init(loop_, in->sock);
  in->sock->data = in.get();
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(in->sock)) != 0) {
    close_handle(in->sock);
    return;
  }
  uv_tcp_nodelay(in->sock, 1);
  in->addr = peer_address(in->sock);
  Inbound* raw = in.get();
  inbound_[raw] = std::move(in);
  if (opts_.handshake_timeout_ms > 0) {
    raw->timer = new uv_timer_t;
    uv_timer_init(loop_, raw->timer);
    raw->timer->data = raw;
    uv_timer_start(
        raw->timer,
        [](uv_timer_t* h) {
          auto* in = static_cast<Inbound*>(h->data);
          if (!in) return;
          const std::string why = "peer " + in->addr + ": no handshake within " +
                                  std::to_string(in->t->opts_.handshake_timeout_ms) + " ms";
          in->t->drop_inbound(in, why.c_str());
        },
        opts_.handshake_timeout_ms, 0);
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(raw->sock), alloc_cb,
                [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                  std::unique_ptr<char[]> owned(buf->base);
                  auto* in = static_cast<Inbound*>(s->data);
                  if (!in) return;
                  if (n < 0) {
                    in->t->drop_inbound(in, n == UV_EOF ? nullptr : uv_strerror(int(n)));
                    return;
                  }
                  in->t->on_inbound_read(in, buf->base, size_t(n));
                });
}

void Transport::on_inbound_read(Inbound* in, const char* data, size_t n) {
  using Step = TlsSession::Step;
  Step step = Step::kWant;
  if (opts_.listen_tls && opts_.tls) {
    if (!in->tls) {
      if (n == 0) return;
      if (!looks_like_tls(std::string_view(data, n))) {
        const std::string why =
            "peer " + in->addr + ": first record does not look like a TLS handshake";
        reject_inbound(in,
                       "rejected: this member's peer port speaks TLS only (give it an https "
                       "peer URL and peer certificates)",
                       why.c_str());
        return;
      }
      in->tls = std::make_unique<TlsSession>(*opts_.tls, TlsSession::Role::kServer);
    }
    in->tls->feed(data, n);
    if (!in->tls->handshake_done()) {
      step = in->tls->handshake();
      if (in->tls->handshake_done() && !opts_.tls->options().skip_client_san_verify) {
        const Status san = in->tls->check_client_san(host_of(in->addr));
        if (!san) {
          const std::string why = "peer " + in->addr + ": " + san.message();
          drop_inbound(in, why.c_str());
          return;
        }
      }
    }
    if (in->tls->handshake_done() && step != Step::kError) step = in->tls->read(&in->buf);
    if (step == Step::kError) {
      const std::string why = "peer " + in->addr + ": " + in->tls->error();
      std::string alert;
      in->tls->take_output(&alert);
      write_and_hang_up(in, std::move(alert));
      drop_inbound(in, why.c_str());
      return;
    }
    send_tls_output(in->sock, *in->tls);
  } else {
    in->buf.append(data, n);
  }
  uv_tcp_t* sock = in->sock;
  on_inbound_frames(in);
  // The handler may have closed the transport, or the connection been dropped.
  if (!sock->data) return;
  if (step == Step::kClosed) drop_inbound(in, nullptr);
}

void Transport::on_inbound_frames(Inbound* in) {
  Transport* t = this;
  uv_tcp_t* s = in->sock;
  if (!in->handshaken) {
    if (in->buf.size() < kHandshakeLen) return;
    const Handshake h = decode_handshake(in->buf);
    if (h.kind == ConnectionKind::kQuery && t->on_query_) {
      // A joining member's question: one frame back, then hang up.
      std::string answer = t->on_query_();
      reject_inbound(in, len_prefix(answer.size()) + answer, nullptr);
      return;
    }
    in->snapshot = h.kind == ConnectionKind::kSnapshot && t->on_snapshot_;
    if (!in->snapshot && h.kind != ConnectionKind::kMessages) {
      t->drop_inbound(in, "not an Outpost peer (bad handshake)");
      return;
    }
    if (h.version != kProtocolVersion) {
      t->drop_inbound(in, "unsupported peer protocol version");
      return;
    }
    if (h.cluster_id != t->opts_.cluster_id) {
      char why[160];
      std::snprintf(why, sizeof why,
                    "cluster id mismatch: this member is in cluster %llx, the "
                    "dialing member in %llx",
                    static_cast<unsigned long long>(t->opts_.cluster_id),
                    static_cast<unsigned long long>(h.cluster_id));
      // Tell the dialing member why before hanging up: it logs the reason.
      reject_inbound(in, std::string("rejected: ") + why, why);
      return;
    }
    in->from = h.from;
    in->handshaken = true;
    if (in->timer) uv_timer_stop(in->timer);
    if (in->snapshot) in->stream = ++t->next_stream_;
    in->off = kHandshakeLen;
  }
  for (;;) {
    Frame f;
    const FrameStatus st = next_frame(std::string_view(in->buf).substr(in->off),
                                      t->opts_.max_frame_bytes, in->snapshot, &f);
    if (st == FrameStatus::kNeedMore) break;
    if (st != FrameStatus::kFrame) {
      t->drop_inbound(in, frame_error(st));
      return;
    }
    std::string payload(f.payload);
    in->off += f.size;
    ++t->stats_.frames_received;
    if (!in->received_bytes)
      in->received_bytes = &peer_received_bytes().labels({metrics::id_label(in->from)});
    in->received_bytes->inc(f.size);
    if (in->snapshot) {
      const bool end = payload.empty();
      if (end) in->snapshot_done = true;
      t->on_snapshot_(in->stream, in->from, end ? SnapshotEvent::kEnd : SnapshotEvent::kData,
                      std::move(payload));
    } else {
      t->on_message_(in->from, f.kind, std::move(payload));
    }
    if (!s->data) return;  // the handler closed the transport
  }
  if (in->off > 0 && in->off == in->buf.size()) {
    in->buf.clear();
    in->off = 0;
  } else if (in->off > (1u << 20)) {
    in->buf.erase(0, in->off);
    in->off = 0;
  }
}

void Transport::reject_inbound(Inbound* in, std::string msg, const char* why) {
  if (in->tls && in->tls->handshake_done()) {
    std::string sealed;
    if (in->tls->write(msg.data(), msg.size())) {
      in->tls->shutdown();
      in->tls->take_output(&sealed);
    }
    msg = std::move(sealed);
  }
  write_and_hang_up(in, std::move(msg));
  drop_inbound(in, why);
}

void Transport::drop_inbound(Inbound* in, const char* why) {
  if (in->snapshot && !in->snapshot_done && on_snapshot_)
    on_snapshot_(in->stream, in->from, SnapshotEvent::kAbort, {});
  if (why) {
    ++stats_.rejected_connections;
    OUTPOST_LOG(kWarn, "closed peer connection", log::kv("reason", why),
                log::kv("remote-addr", in->addr), log::kv_hex("peer-id", in->from));
  }
  close_handle(in->sock);
  inbound_.erase(in);
}

void Transport::add_peer(uint64_t id, const std::string& host, int port, bool tls) {
  if (closed_ || peers_.count(id)) return;
  auto p = std::make_unique<Peer>();
  p->t = this;
  p->id = id;
  p->host = host;
  p->port = port;
  p->use_tls = tls;
  p->backoff_ms = opts_.min_backoff_ms;
  p->sent_bytes = &peer_sent_bytes().labels({metrics::id_label(id)});
  p->timer = new uv_timer_t;
  uv_timer_init(loop_, p->timer);
  p->timer->data = p.get();
  Peer* raw = p.get();
  peers_[id] = std::move(p);
  dial(raw);
}

void Transport::remove_peer(uint64_t id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  Peer* p = it->second.get();
  p->disconnect("removed");
  close_handle(p->timer);
  p->timer = nullptr;
  peers_.erase(it);
}

void Transport::dial(Peer* p) {
  sockaddr_storage addr;
  if (!resolve(p->host, p->port, &addr)) {
    schedule_redial(p);
    return;
  }
  p->sock = new uv_tcp_t;
  uv_tcp_init(loop_, p->sock);
  p->sock->data = p;
  auto* req = new uv_connect_t;
  req->data = p->sock;
  const int rc = uv_tcp_connect(
      req, p->sock, reinterpret_cast<sockaddr*>(&addr), [](uv_connect_t* req, int status) {
        auto* sock = static_cast<uv_tcp_t*>(req->data);
        delete req;
        auto* p = static_cast<Peer*>(sock->data);
        if (!p) return;  // peer removed or transport closed meanwhile
        if (status != 0) {
          close_handle(sock);
          p->sock = nullptr;
          p->t->schedule_redial(p);
          return;
        }
        uv_tcp_nodelay(sock, 1);
        // Nothing is expected back but TLS records and why a peer refuses us; reading also
        // tells us when the peer goes away.
        uv_read_start(reinterpret_cast<uv_stream_t*>(sock), alloc_cb,
                      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                        std::unique_ptr<char[]> owned(buf->base);
                        auto* p = static_cast<Peer*>(s->data);
                        if (!p) return;
                        if (n > 0) {
                          p->t->on_peer_read(p, buf->base, size_t(n));
                          return;
                        }
                        if (n == 0) return;
                        const char* why = n == UV_EOF ? "closed by peer" : uv_strerror(int(n));
                        if (p->tls && !p->connected) {
                          p->t->peer_failed(p, std::string(why) + " during the TLS handshake");
                          return;
                        }
                        p->disconnect(why);
                        p->t->schedule_redial(p);
                      });
        Transport* t = p->t;
        if (!p->use_tls) {
          t->peer_ready(p);
          return;
        }
        if (!t->opts_.tls) {
          auto ctx = TlsContext::create({});
          if (!ctx) {
            t->peer_failed(p, ctx.status().message());
            return;
          }
          t->opts_.tls = ctx.value();
        }
        p->tls = std::make_unique<TlsSession>(*t->opts_.tls, TlsSession::Role::kClient, p->host);
        if (p->tls->handshake() == TlsSession::Step::kError) {
          t->peer_failed(p, p->tls->error());
          return;
        }
        send_tls_output(sock, *p->tls);
        if (t->opts_.handshake_timeout_ms > 0)
          uv_timer_start(
              p->timer,
              [](uv_timer_t* h) {
                auto* p = static_cast<Peer*>(h->data);
                if (!p) return;
                if (!p->sock)
                  p->t->dial(p);
                else if (!p->connected)
                  p->t->peer_failed(p, "no TLS handshake within " +
                                           std::to_string(p->t->opts_.handshake_timeout_ms) +
                                           " ms");
              },
              t->opts_.handshake_timeout_ms, 0);
      });
  if (rc != 0) {
    delete req;
    close_handle(p->sock);
    p->sock = nullptr;
    schedule_redial(p);
  }
}

void Transport::on_peer_read(Peer* p, const char* data, size_t n) {
  std::string said;
  if (p->tls) {
    using Step = TlsSession::Step;
    p->tls->feed(data, n);
    Step st = Step::kDone;
    if (!p->tls->handshake_done()) {
      st = p->tls->handshake();
      send_tls_output(p->sock, *p->tls);
      if (st == Step::kError) {
        peer_failed(p, p->tls->error());
        return;
      }
      if (st != Step::kDone) return;
      peer_ready(p);
      if (!p->tls) return;
    }
    st = p->tls->read(&said);
    if (st == Step::kError || st == Step::kClosed) {
      if (!said.empty()) {
        ++stats_.refused_by_peers;
        OUTPOST_LOG(kError, "peer refused this member", log::kv_hex("peer-id", p->id),
                    log::kv("reason", said));
      }
      if (st == Step::kError) {
        peer_failed(p, p->tls->error());  // e.g. an alert: the peer refused our certificate
        return;
      }
      p->disconnect("closed by peer");
      schedule_redial(p);
      return;
    }
    if (said.empty()) return;
  } else {
    said.assign(data, n);
  }
  // The only thing a peer ever sends back: why it refuses us.
  ++stats_.refused_by_peers;
  OUTPOST_LOG(kError, "peer refused this member", log::kv_hex("peer-id", p->id),
              log::kv("reason", said));
}

void Transport::peer_ready(Peer* p) {
  p->connected = true;
  p->since = clock().now();
  p->backoff_ms = opts_.min_backoff_ms;
  if (p->timer) uv_timer_stop(p->timer);
  std::string hs(kMagic, 4);
  hs.push_back(char(kProtocolVersion));
  put_u64(hs, opts_.cluster_id);
  put_u64(hs, opts_.local_id);
  // The handshake goes first; it is not a frame and is not counted in the queue.
  p->queue.push_front(std::move(hs));
  p->queued_bytes += kHandshakeLen;
  flush(p);
}

void Transport::peer_failed(Peer* p, std::string why) {
  const std::string full = "peer " + host_port(p->host, p->port) + ": " + why;
  const auto now = std::chrono::steady_clock::now();
  if (full != p->last_error || now - p->last_error_at > std::chrono::seconds(30)) {
    // Logged once per cause (again after 30 s), not once per re-dial. (With TLS 1.3 a client
    // finishes its handshake before the server has checked its certificate, so a refused
    // connection may look established for a moment.)
    p->last_error_at = now;
    OUTPOST_LOG(kWarn, "cannot connect to peer", log::kv_hex("peer-id", p->id),
                log::kv("reason", full));
    p->last_error = full;
  }
  p->disconnect(why.c_str(), /*quiet=*/true);
  schedule_redial(p);
}

void Transport::schedule_redial(Peer* p) {
  if (closed_ || !p->timer) return;
  // Everything queued for a dead connection is stale by the time it comes back; Raft resends.
  p->queue.clear();
  p->queued_bytes = 0;
  uv_timer_start(
      p->timer,
      [](uv_timer_t* t) {
        auto* p = static_cast<Peer*>(t->data);
        if (p && !p->sock) p->t->dial(p);
      },
      p->backoff_ms, 0);
  p->backoff_ms = std::min(p->backoff_ms * 2, opts_.max_backoff_ms);
}

bool Transport::send(uint64_t to, MessageKind kind, std::string payload) {
  auto it = peers_.find(to);
  if (closed_ || it == peers_.end()) return false;
  Peer* p = it->second.get();
  if (!p->connected || p->queued_bytes + payload.size() + 5 > opts_.max_queue_bytes) {
    ++stats_.dropped;
    return false;
  }
  p->queued_bytes += payload.size() + 5;
  std::string header = len_prefix(payload.size() + 1);
  header.push_back(char(kind));
  p->queue.push_back(std::move(header));
  p->queue.push_back(std::move(payload));
  flush(p);
  return true;
}

void Transport::flush(Peer* p) {
  if (!p->connected || p->writing || p->queue.empty()) return;
  auto* w = new WriteReq;
  w->sock = p->sock;
  while (!p->queue.empty() && w->parts.size() < kMaxBatch * 2) {
    w->parts.push_back(std::move(p->queue.front()));
    p->queue.pop_front();
  }
  size_t bytes = 0;
  for (auto& s : w->parts) bytes += s.size();
  p->queued_bytes -= std::min(p->queued_bytes, bytes);
  stats_.frames_sent += w->parts.size() / 2;
  p->sent_bytes->inc(bytes);
  if (p->tls) {
    // Small parts (headers, heartbeats) are gathered into records of up to 16 KiB; a large
    // payload is encrypted straight from its string. The ciphertext goes out in buffers of
    // about 1 MiB, all of one size, so the allocator reuses them from batch to batch.
    constexpr size_t kRecord = 16 * 1024, kOut = 1 << 20, kPiece = 256 * 1024;
    std::vector<std::string> sealed(1);
    sealed.back().reserve(kOut + kPiece + kPiece / 512 + 1024);
    auto seal = [&](const char* d, size_t n) {
      while (n > 0) {
        const size_t k = std::min(n, kPiece);
        if (!p->tls->seal(d, k, &sealed.back())) return false;
        d += k;
        n -= k;
        if (sealed.back().size() >= kOut) {
          sealed.emplace_back();
          sealed.back().reserve(kOut + kPiece + kPiece / 512 + 1024);
        }
      }
      return true;
    };
    std::string small;
    bool ok = true;
    for (auto& s : w->parts) {
      if (s.size() >= kRecord) {
        if (!small.empty()) ok = ok && seal(small.data(), small.size());
        small.clear();
        ok = ok && seal(s.data(), s.size());
      } else {
        small += s;
        if (small.size() >= kRecord) {
          ok = ok && seal(small.data(), small.size());
          small.clear();
        }
      }
    }
    if (!small.empty()) ok = ok && seal(small.data(), small.size());
    if (sealed.back().empty()) sealed.pop_back();
    w->parts = std::move(sealed);
    if (!ok) {
      const std::string why = p->tls->error();
      delete w;
      p->disconnect(why.c_str());
      schedule_redial(p);
      return;
    }
  }
  std::vector<uv_buf_t> bufs;
  for (auto& s : w->parts) bufs.push_back(uv_buf_init(s.data(), unsigned(s.size())));
  p->writing = true;
  w->req.data = w;
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(p->sock), bufs.data(),
                          unsigned(bufs.size()), [](uv_write_t* req, int status) {
                            std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
                            auto* p = static_cast<Peer*>(w->sock->data);
                            if (!p) return;
                            p->writing = false;
                            if (status != 0) {
                              p->disconnect(uv_strerror(status));
                              p->t->schedule_redial(p);
                              return;
                            }
                            p->t->flush(p);
                          });
  if (rc != 0) {
    delete w;
    p->disconnect(uv_strerror(rc));
    schedule_redial(p);
  }
}

Status Transport::send_snapshot(const std::string& host, int port, uint64_t cluster_id,
                                uint64_t local_id,
                                const std::function<Status(const Emit&)>& produce,
                                uint64_t bytes_per_sec, const std::atomic<bool>& cancel,
                                const TlsContext* tls) {
  Fd conn;
  // A peer that stops reading (or never closes) for 30 s is given up on.
  if (Status d = dial_blocking(host, port, 30000, &conn); !d) return d;
  const int fd = conn.fd;
  std::unique_ptr<TlsSession> session;
  if (tls) {
    session = std::make_unique<TlsSession>(*tls, TlsSession::Role::kClient, host);
    session->attach(fd);
    if (session->handshake() != TlsSession::Step::kDone)
      return Status::io("snapshot stream to " + host_port(host, port) +
                        ": TLS handshake failed: " + session->error());
  }
  auto write_all = [&](const std::string& b) -> bool {
    if (session) return session->write(b.data(), b.size());
    size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += size_t(n);
    }
    return true;
  };
  std::string hs(kSnapMagic, 4);
  hs.push_back(char(kProtocolVersion));
  put_u64(hs, cluster_id);
  put_u64(hs, local_id);
  if (!write_all(hs)) return Status::io("snapshot stream broke during the handshake");
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  bool broken = false;
  Emit emit = [&](const std::string& chunk) {
    if (broken || cancel.load()) return false;
    if (chunk.empty()) return true;
    if (!write_all(len_prefix(chunk.size()) + chunk)) {
      broken = true;
      return false;
    }
    sent += chunk.size() + 4;
    if (bytes_per_sec > 0) {
      // Sleep until the average rate is back under the limit.
      std::this_thread::sleep_until(start +
                                    std::chrono::microseconds(sent * 1000000 / bytes_per_sec));
    }
    return true;
  };
  Status s = produce(emit);
  if (!s) return s;
  if (cancel.load()) return Status::io("snapshot stream cancelled");
  if (broken || !write_all(len_prefix(0)))
    return Status::io(std::string("snapshot stream broke: ") +
                      (session ? session->error() : std::strerror(errno)));
  if (session) session->shutdown();
  ::shutdown(fd, SHUT_WR);
  char c;
  while (::recv(fd, &c, 1, 0) > 0) {
  }  // the receiver closes once it has read the end marker
  return Status::ok();
}

Result<std::string> Transport::query_cluster(const std::string& host, int port, int timeout_ms,
                                             const TlsContext* tls) {
  const std::string where = host_port(host, port);
  Fd conn;
  if (Status d = dial_blocking(host, port, timeout_ms, &conn); !d) return d;
  const int fd = conn.fd;
  std::string hs(kQueryMagic, 4);
  hs.push_back(char(kProtocolVersion));
  put_u64(hs, 0);
  put_u64(hs, 0);
  std::string in;
  if (tls) {
    TlsSession session(*tls, TlsSession::Role::kClient, host);
    session.attach(fd);
    if (session.handshake() != TlsSession::Step::kDone || !session.write(hs.data(), hs.size()))
      return Status::io("cannot ask " + where + ": " + session.error());
    for (;;) {
      const auto st = session.read(&in);
      if (in.size() > (64u << 20)) return Status::io("answer from " + where + " is too large");
      if (st == TlsSession::Step::kDone) continue;
      if (st == TlsSession::Step::kError && in.size() < 4)
        return Status::io("no answer from " + where + ": " + session.error());
      break;  // closed (or broke off after the answer: checked below)
    }
  }
  if (!tls && ::send(fd, hs.data(), hs.size(), MSG_NOSIGNAL) != ssize_t(hs.size()))
    return Status::io("cannot ask " + where + ": " + std::strerror(errno));
  char buf[64 * 1024];
  for (; !tls;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) return Status::io("no answer from " + where + ": " + std::strerror(errno));
    if (n == 0) break;
    in.append(buf, size_t(n));
    if (in.size() > (64u << 20)) return Status::io("answer from " + where + " is too large");
  }
  if (in.size() < 4) return Status::io("no answer from " + where + " (not an Outpost member?)");
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t len = (size_t(p[0]) << 24) | (size_t(p[1]) << 16) | (size_t(p[2]) << 8) | p[3];
  if (in.size() != 4 + len) return Status::io("malformed answer from " + where);
  return in.substr(4);
}

Status Transport::probe(const std::string& host, int port, int timeout_ms) {
  Fd conn;
  return dial_blocking(host, port, timeout_ms, &conn);
}

Result<std::unique_ptr<Transport::PortHold>> Transport::PortHold::listen(const std::string& host,
                                                                         int port) {
  sockaddr_storage addr;
  if (!resolve(host, port, &addr)) return Status::io("cannot resolve " + host);
  std::unique_ptr<PortHold> h(new PortHold);
  h->fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (h->fd_ < 0) return Status::io(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(h->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(h->fd_, reinterpret_cast<sockaddr*>(&addr), alen) != 0 || ::listen(h->fd_, 16) != 0)
    return Status::io("cannot listen for peers on " + host + ":" + std::to_string(port) + ": " +
                      std::strerror(errno));
  return h;
}

Transport::PortHold::~PortHold() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<Clock::time_point> Transport::connected_since(uint64_t peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second->connected) return std::nullopt;
  return it->second->since;
}

bool Transport::connected(uint64_t peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second->connected;
}

void Transport::close() {
  if (closed_) return;
  closed_ = true;
  close_handle(listener_);
  listener_ = nullptr;
  for (auto& [_, p] : peers_) {
    p->disconnect("closing");
    close_handle(p->timer);
    p->timer = nullptr;
  }
  peers_.clear();
  for (auto& [raw, in] : inbound_) close_handle(in->sock);
  inbound_.clear();
}

}  // namespace outpost::transport
