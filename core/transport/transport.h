#pragma once
// Transport: peer connections between members over libuv TCP, and the only code in Outpost that
// opens peer sockets.
//
// Wire format, per connection:
//   handshake  magic (4) | version (1 byte) | cluster id (8, big-endian) | sender member id (8)
//   frames     length (4, big-endian) | payload
// Magic "OUTP": a message connection. Each frame is an envelope: one MessageKind byte, then the
// message (a raftpb.Message, or an application message: a call to the leader outside the log,
// its answer, a proposal the leader refused), so raftpb stays Raft's alone.
// Magic "OUTS": one snapshot stream on a connection of its own, so heartbeats and appends never
// wait behind it: frames are chunks handed to on_snapshot as they arrive, an empty frame ends
// the stream. send_snapshot() sends one, blocking, under a rate limit.
// Magic "OUTQ": a member that is joining asks what the cluster looks like (its id is not known
// yet, so the cluster id is not checked): the accepting member answers with one frame, the
// payload on_query returns, and closes. query_cluster() asks, blocking.
// A connection is one-way: the dialing member sends, the accepting member receives. Each member
// dials every peer it sends to, so two members talk over two connections.
//
// TLS (etcd's https peer URLs, tls.h): with Options::listen_tls every inbound connection must
// open with a TLS handshake (anything else is answered "rejected: ..." in plain text and
// closed), and everything above -- handshake, frames, streams, queries -- travels inside it. A
// peer added with tls, and the blocking send_snapshot / query_cluster given a TlsContext, dial
// with TLS. Libuv streams run OpenSSL over memory BIOs: ciphertext from the read callback is
// fed in, records to send are flushed through uv_write; the frame and queue logic is unchanged.
// A connection whose TLS (or Outpost) handshake fails is closed and logged with the peer's
// address and the reason; one that has not finished its handshakes within handshake_timeout_ms
// is closed too.
//
// Guarantees:
//   - A peer that sends a wrong magic or cluster id, an unknown version, or a frame larger than
//     max_frame_bytes is disconnected and logged; nothing it sent is delivered.
//   - Outbound queues are bounded (max_queue_bytes per peer): send() past that drops the message
//     and returns false (Raft retransmits; the caller may report the peer unreachable).
//   - A lost connection is re-dialled with exponential back-off (min_backoff .. max_backoff).
// Threading: everything runs on the libuv loop passed in; call every method from that loop's
// thread. Handlers are called on it too.

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/transport/frame.h"
#include "core/transport/tls.h"

namespace outpost::transport {

enum class SnapshotEvent { kData, kEnd, kAbort };

struct Options {
  uint64_t local_id = 0;
  uint64_t cluster_id = 0;
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;  // 0: pick a free port (see port())
  size_t max_queue_bytes = 64u << 20;
  size_t max_frame_bytes = 128u << 20;
  uint64_t min_backoff_ms = 50;
  uint64_t max_backoff_ms = 2000;
  // Inbound connections must finish their handshakes (TLS, then Outpost's) within this; an
  // outbound TLS handshake too, else it is closed and re-dialled. 0: no limit.
  uint64_t handshake_timeout_ms = 10000;
  // Peer TLS: what dialling with TLS uses, and (with listen_tls) the listener. nullptr: no TLS
  // (a peer added with tls is then dialled with system roots and no client certificate).
  std::shared_ptr<const TlsContext> tls;
  bool listen_tls = false;  // the listener accepts TLS connections only (an https listen URL)
  // Where connected_since() times come from; nullptr: Clock::real(). Must outlive the transport.
  const Clock* clock = nullptr;
};

class Transport {
 public:
  using OnMessage = std::function<void(uint64_t from, MessageKind kind, std::string payload)>;

  // stream: an id for one inbound snapshot stream; kAbort when it broke before its end.
  using OnSnapshot =
      std::function<void(uint64_t stream, uint64_t from, SnapshotEvent ev, std::string payload)>;

  Transport(uv_loop_t* loop, Options opts, OnMessage on_message);
  void set_on_snapshot(OnSnapshot fn) { on_snapshot_ = std::move(fn); }
  // Called (on the loop thread) as soon as an established connection to a peer is lost.
  void set_on_peer_down(std::function<void(uint64_t peer)> fn) { on_peer_down_ = std::move(fn); }
  // What an "OUTQ" query is answered with (called on the loop thread).
  using OnQuery = std::function<std::string()>;
  void set_on_query(OnQuery fn) { on_query_ = std::move(fn); }

  // Asks the member listening at host:port for its answer to a query (see "OUTQ" above).
  // Blocking; gives up after timeout_ms.
  // tls: dial with TLS (an https peer URL); nullptr: plain TCP.
  static Result<std::string> query_cluster(const std::string& host, int port, int timeout_ms,
                                           const TlsContext* tls = nullptr);

  // Whether something accepts TCP connections at host:port (a self-joining member's peer URL is
  // dialled before the member is added). Blocking; gives up after timeout_ms.
  static Status probe(const std::string& host, int port, int timeout_ms);

  // A listening socket that accepts nothing: connections wait in its backlog until it closes.
  // A self-joining member holds its peer address with one while it asks to be added, so the
  // probe above reaches it before the member's own transport listens there.
  class PortHold {
   public:
    static Result<std::unique_ptr<PortHold>> listen(const std::string& host, int port);
    ~PortHold();
    PortHold(const PortHold&) = delete;
    PortHold& operator=(const PortHold&) = delete;

   private:
    PortHold() = default;
    int fd_ = -1;
  };

  // Sends one snapshot stream to host:port: produce(emit) calls emit(chunk) for every chunk (not
  // empty) in order; emit returns false once the stream broke or was cancelled, and produce
  // should stop then. At most bytes_per_sec (0: unlimited). Blocking: call it from a thread of
  // its own. Returns once the receiver has everything (or with what went wrong). tls: dial with
  // TLS; nullptr: plain TCP.
  using Emit = std::function<bool(const std::string& chunk)>;
  static Status send_snapshot(const std::string& host, int port, uint64_t cluster_id,
                              uint64_t local_id, const std::function<Status(const Emit&)>& produce,
                              uint64_t bytes_per_sec, const std::atomic<bool>& cancel,
                              const TlsContext* tls = nullptr);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Starts accepting peers; false with *error when the address cannot be bound.
  bool listen(std::string* error);
  int port() const { return port_; }

  // Peers to send to (host is an IP literal or name resolved at dial time); tls: dial with TLS
  // and verify the peer's certificate against host (an https peer URL).
  void add_peer(uint64_t id, const std::string& host, int port, bool tls = false);
  void remove_peer(uint64_t id);

  // Queues payload (of the given kind) for peer `to`; false when the peer is unknown or its
  // queue is full.
  bool send(uint64_t to, MessageKind kind, std::string payload);

  // Closes every socket; handles are released on the loop's next iterations.
  void close();

  // Counters for tests and logs.
  struct Stats {
    uint64_t frames_sent = 0, frames_received = 0, dropped = 0, rejected_connections = 0;
    uint64_t refused_by_peers = 0;  // a peer told us why it hung up (e.g. another cluster)
  };
  const Stats& stats() const { return stats_; }
  bool connected(uint64_t peer) const;
  // Since when the connection to peer has been up; nullopt while it is down.
  std::optional<Clock::time_point> connected_since(uint64_t peer) const;

 private:
  struct Peer;
  struct Inbound;
  friend struct Peer;
  friend struct Inbound;

  void dial(Peer* p);
  void schedule_redial(Peer* p);
  void flush(Peer* p);
  void on_accept();
  void on_inbound_read(Inbound* in, const char* data, size_t n);
  void on_inbound_frames(Inbound* in);
  void on_peer_read(Peer* p, const char* data, size_t n);
  void peer_ready(Peer* p);
  void peer_failed(Peer* p, std::string why);
  void drop_inbound(Inbound* in, const char* why);
  // Writes msg to an inbound connection (through its TLS session, if any) and closes it.
  void reject_inbound(Inbound* in, std::string msg, const char* why);
  const Clock& clock() const { return opts_.clock ? *opts_.clock : Clock::real(); }

  uv_loop_t* loop_;
  Options opts_;
  OnMessage on_message_;
  OnSnapshot on_snapshot_;
  OnQuery on_query_;
  std::function<void(uint64_t)> on_peer_down_;
  uint64_t next_stream_ = 0;
  uv_tcp_t* listener_ = nullptr;
  int port_ = 0;
  bool closed_ = false;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;
  std::map<Inbound*, std::unique_ptr<Inbound>> inbound_;
  Stats stats_;
};

}  // namespace outpost::transport
