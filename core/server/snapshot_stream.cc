#include "core/server/snapshot_stream.h"

#include <pthread.h>

#include <chrono>

#include "core/common/clock.h"
#include "core/common/log.h"
#include "core/common/metrics.h"
#include "core/server/cluster_record.h"
#include "core/storage/state_records.h"

namespace outpost::server {

namespace {

constexpr int kMetaCf = 1;  // state records: column family 0 kv, 1 meta
// Outpost's snapshot stream metrics (the state streamed to a member too far behind for the log).
metrics::Family<metrics::Counter>& snapshot_sent_bytes() {
  static auto& f = metrics::default_registry().counter(
      "outpost_snapshot_sent_bytes_total", "Snapshot stream bytes sent to each member.", {"To"});
  return f;
}
metrics::Family<metrics::Counter>& snapshot_received_bytes() {
  static auto& f = metrics::default_registry().counter(
      "outpost_snapshot_received_bytes_total", "Snapshot stream bytes received from each member.",
      {"From"});
  return f;
}
metrics::Family<metrics::Gauge>& snapshot_send_rate() {
  static auto& f = metrics::default_registry().gauge(
      "outpost_snapshot_send_rate_bytes_per_second",
      "Average rate of the last snapshot stream sent to each member, in bytes per second.", {"To"});
  return f;
}
metrics::Family<metrics::Counter>& snapshot_sends() {
  static auto& f = metrics::default_registry().counter(
      "outpost_snapshot_sends_total", "Snapshot streams sent to each member, by outcome.",
      {"To", "result"});
  return f;
}

constexpr size_t kChunkBytes = 1 << 20;
}  // namespace

bool SnapshotSender::send(raftpb::Message m, const std::string& host, int port, bool tls) {
  const uint64_t to = m.to();
  std::lock_guard l(mu_);
  if (senders_.count(to)) return false;
  senders_[to] = std::thread([this, m = std::move(m), host, port, to, tls] {
    pthread_setname_np(pthread_self(), "snap-send");
    Status s = stream(m, host, port, tls);
    report_(to, s.is_ok());
  });
  return true;
}

Status SnapshotSender::stream(const raftpb::Message& m, const std::string& host, int port,
                              bool tls) {
  std::shared_ptr<const transport::TlsContext> ctx = tls_;
  if (tls && !ctx) {
    auto def = transport::TlsContext::create({});
    if (!def) return def.status();
    ctx = def.value();
  }
  const uint64_t to = m.to();
  const auto started = Clock::real().now();
  uint64_t bytes = 0, records = 0, next_log = 64ull << 20;
  metrics::Counter& sent = snapshot_sent_bytes().labels({metrics::id_label(to)});
  if (rate_) {
    static auto& limit = metrics::default_registry()
                             .gauge("outpost_snapshot_rate_limit_bytes_per_second",
                                    "The rate limit of snapshot streams, in bytes per second.")
                             .get();
    limit.set(double(rate_));
  }
  OUTPOST_LOG(kInfo, "sending snapshot", log::kv_hex("to", to),
              log::kv("snapshot-index", m.snapshot().metadata().index()));
  Status s = transport::Transport::send_snapshot(
      host, port, cluster_id_, self_,
      [&](const transport::Transport::Emit& emit) -> Status {
        if (!emit(m.SerializeAsString())) return Status::io("snapshot stream broke");
        std::string chunk;
        bool ok = true;
        Status scan = engine_.scan_state([&](int cf, std::string_view k, std::string_view v) {
          storage::append_state_record(chunk, cf, k, v);
          ++records;
          if (chunk.size() < kChunkBytes) return true;
          bytes += chunk.size();
          sent.inc(chunk.size());
          ok = emit(chunk);
          chunk.clear();
          if (bytes >= next_log) {
            OUTPOST_LOG(kInfo, "sending snapshot: progress", log::kv_hex("to", to),
                        log::kv("sent-bytes", bytes), log::kv("records", records));
            next_log += 64ull << 20;
          }
          return ok;
        });
        if (!scan) return scan;
        bytes += chunk.size();
        sent.inc(chunk.size());
        if (ok && !chunk.empty()) ok = emit(chunk);
        return ok ? Status::ok() : Status::io("snapshot stream broke");
      },
      rate_, cancel_, tls ? ctx.get() : nullptr);
  const double secs = std::chrono::duration<double>(Clock::real().now() - started).count();
  snapshot_sends().labels({metrics::id_label(to), s ? "ok" : "failed"}).inc();
  if (s && secs > 0) snapshot_send_rate().labels({metrics::id_label(to)}).set(double(bytes) / secs);
  if (s) {
    OUTPOST_LOG(kInfo, "sent snapshot", log::kv_hex("to", to), log::kv("bytes", bytes),
                log::kv("records", records), log::kv("seconds", secs));
  } else {
    OUTPOST_LOG(kWarn, "failed to send snapshot", log::kv_hex("to", to),
                log::kv("error", s.message()));
  }
  return s;
}

void SnapshotSender::reap(uint64_t peer) {
  std::thread t;
  {
    std::lock_guard l(mu_);
    auto it = senders_.find(peer);
    if (it == senders_.end()) return;
    t = std::move(it->second);
    senders_.erase(it);
  }
  if (t.joinable()) t.join();
}

void SnapshotSender::stop() {
  cancel_ = true;
  std::map<uint64_t, std::thread> left;
  {
    std::lock_guard l(mu_);
    left.swap(senders_);
  }
  for (auto& [_, t] : left)
    if (t.joinable()) t.join();
}

std::optional<SnapshotReceiver::Received> SnapshotReceiver::on_event(uint64_t stream, uint64_t from,
                                                                     transport::SnapshotEvent ev,
                                                                     std::string payload,
                                                                     uint64_t committed) {
  using transport::SnapshotEvent;
  if (ev == SnapshotEvent::kAbort) {
    if (incoming_.erase(stream))
      OUTPOST_LOG(kWarn, "snapshot stream broke off", log::kv_hex("from", from));
    return std::nullopt;
  }
  auto it = incoming_.find(stream);
  if (it == incoming_.end()) {
    // The first chunk is the MsgSnap itself.
    Incoming in;
    in.r.from = from;
    if (ev != SnapshotEvent::kData || !in.r.msg.ParseFromString(payload) ||
        in.r.msg.type() != raftpb::MsgSnap) {
      OUTPOST_LOG(kWarn, "dropped a malformed snapshot stream", log::kv_hex("from", from));
      in.ignore = true;
    } else if (in.r.msg.snapshot().metadata().index() <= committed) {
      in.ignore = true;  // nothing we do not have already
    } else {
      auto staged = engine_.begin_staging();
      if (!staged) {
        OUTPOST_LOG(kError, "cannot stage a snapshot", log::kv("error", staged.status().message()));
        in.ignore = true;
      } else {
        in.r.staged = std::move(staged.value());
        OUTPOST_LOG(kInfo, "receiving snapshot", log::kv_hex("from", from),
                    log::kv("snapshot-index", in.r.msg.snapshot().metadata().index()));
      }
    }
    incoming_[stream] = std::move(in);
    return std::nullopt;
  }
  Incoming& in = it->second;
  if (ev == SnapshotEvent::kData) {
    if (in.ignore) return std::nullopt;
    in.r.bytes += payload.size();
    snapshot_received_bytes().labels({metrics::id_label(from)}).inc(payload.size());
    auto put = [&](int cf, std::string_view k, std::string_view v) {
      std::string own;
      if (cf == kMetaCf && k == ClusterRecord::kMetaKey) {
        // The sender's membership with this member as the local one (see the constructor).
        outpostpb::ClusterInfo info;
        if (info.ParseFromArray(v.data(), int(v.size()))) {
          info.set_local_id(self_);
          own = info.SerializeAsString();
          v = own;
        }
      }
      return bool(in.r.staged->put(cf, k, v));
    };
    if (!storage::for_each_state_record(payload, put)) {
      OUTPOST_LOG(kWarn, "dropped a corrupt snapshot stream", log::kv_hex("from", from));
      in.ignore = true;
      in.r.staged.reset();
    }
    return std::nullopt;
  }
  // kEnd: the whole state is staged.
  Incoming done = std::move(in);
  incoming_.erase(it);
  if (done.ignore) return std::nullopt;
  return std::move(done.r);
}

}  // namespace outpost::server
