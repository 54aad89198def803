#pragma once
// Snapshot streaming: the whole state machine sent to a member that is too far behind for the
// log (Raft's MsgSnap), on a connection of its own (transport's "OUTS" stream), so heartbeats
// and appends never wait behind it.
//
// Stream contents: the MsgSnap itself as the first chunk, then chunks of about 1 MiB of state
// records (core/storage/state_records.h).
//
// SnapshotSender runs one thread per peer ("snap-send"), at most one stream per peer at a
// time, under the rate limit (bytes/s, 0: none), and reports the outcome through report (on the
// sender's thread), which Raft must hear (RawNode::report_snapshot). SnapshotReceiver stages
// the records of an incoming stream in the engine's staging instance and hands the staged
// state over when the stream ends whole; a stream for a state this member has committed
// already, a malformed one or one that broke off is dropped. Receiver: raft thread only.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/storage/engine.h"
#include "core/transport/transport.h"
#include "raftpb/raft.pb.h"

namespace outpost::server {

class SnapshotSender {
 public:
  using Report = std::function<void(uint64_t peer, bool ok)>;

  // tls: for peers with https peer URLs (null: the system roots, no client certificate).
  SnapshotSender(const storage::Engine& engine, uint64_t cluster_id, uint64_t self,
                 uint64_t bytes_per_sec, std::shared_ptr<const transport::TlsContext> tls,
                 Report report)
      : engine_(engine),
        cluster_id_(cluster_id),
        self_(self),
        rate_(bytes_per_sec),
        tls_(std::move(tls)),
        report_(std::move(report)) {}
  ~SnapshotSender() { stop(); }
  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // Starts streaming the state with m (a MsgSnap) to m.to() at host:port; false when a stream
  // to that peer is still under way (Raft waits for its report before sending another).
  bool send(raftpb::Message m, const std::string& host, int port, bool tls = false);
  // The stream to peer has reported: releases its thread.
  void reap(uint64_t peer);
  // Cancels every stream and waits for the threads.
  void stop();

 private:
  Status stream(const raftpb::Message& m, const std::string& host, int port, bool tls);

  const storage::Engine& engine_;
  const uint64_t cluster_id_, self_, rate_;
  std::shared_ptr<const transport::TlsContext> tls_;
  const Report report_;
  std::mutex mu_;
  std::map<uint64_t, std::thread> senders_;
  std::atomic<bool> cancel_{false};
};

class SnapshotReceiver {
 public:
  // self: this member's id. The sender's cluster record names the sender as the local member,
  // and a member learns its own id from that record when it starts: the record is staged naming
  // self instead, so that the state is this member's from the moment it is swapped in (a crash
  // right after Engine::install_staged once restarted the member under the leader's id).
  SnapshotReceiver(storage::Engine& engine, uint64_t self) : engine_(engine), self_(self) {}

  struct Received {
    uint64_t from = 0;
    raftpb::Message msg;  // the MsgSnap
    std::unique_ptr<storage::Engine::Staging> staged;
    uint64_t bytes = 0;
  };
  // One event of inbound stream `stream`; committed: Raft's commit index here. Returns the
  // received state when the stream ended whole.
  std::optional<Received> on_event(uint64_t stream, uint64_t from, transport::SnapshotEvent ev,
                                   std::string payload, uint64_t committed);
  void clear() { incoming_.clear(); }

 private:
  struct Incoming {
    Received r;
    bool ignore = false;
  };
  storage::Engine& engine_;
  const uint64_t self_;
  std::map<uint64_t, Incoming> incoming_;
};

}  // namespace outpost::server
