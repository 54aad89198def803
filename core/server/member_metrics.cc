#include "core/server/member_metrics.h"

#include <cmath>

#include "core/server/member.h"

namespace outpost::server {

using metrics::Type;

metrics::Gauge& proposals_pending() {
  static auto& g = metrics::default_registry()
                       .gauge("etcd_server_proposals_pending",
                              "Proposals made on this member that are not applied yet.")
                       .get();
  return g;
}

metrics::Counter& proposals_failed() {
  static auto& c = metrics::default_registry()
                       .counter("etcd_server_proposals_failed_total",
                                "Proposals that timed out or were dropped before being applied.")
                       .get();
  return c;
}

metrics::Counter& leader_changes_seen() {
  static auto& c = metrics::default_registry()
                       .counter("etcd_server_leader_changes_seen_total",
                                "Times this member has seen a new leader.")
                       .get();
  return c;
}

MemberMetrics::MemberMetrics(Member& m) {
  auto& r = metrics::default_registry();
  // Made now, so that they are scraped as 0 before anything happens, as etcd's are.
  proposals_pending();
  proposals_failed();
  leader_changes_seen();
  regs_.push_back(r.callback("etcd_server_has_leader", "1 when this member knows a leader, else 0.",
                             Type::kGauge, [&m] { return m.leader_id() != 0 ? 1.0 : 0.0; }));
  regs_.push_back(r.callback("etcd_server_is_leader", "1 when this member is the leader, else 0.",
                             Type::kGauge, [&m] { return m.is_leader() ? 1.0 : 0.0; }));
  regs_.push_back(r.callback("etcd_server_is_learner", "1 when this member is a learner, else 0.",
                             Type::kGauge, [&m] { return m.is_learner() ? 1.0 : 0.0; }));
  // etcd reports the commit and applied indexes under these names, as gauges.
  regs_.push_back(r.callback("etcd_server_proposals_committed_total",
                             "The Raft commit index known to this member.", Type::kGauge,
                             [&m] { return double(m.commit_index()); }));
  regs_.push_back(r.callback("etcd_server_proposals_applied_total",
                             "The Raft index this member has applied.", Type::kGauge,
                             [&m] { return double(m.applied_index()); }));
  regs_.push_back(r.callback(
      "etcd_server_id", "This member's id, in hexadecimal as the server_id label; always 1.",
      Type::kGauge, {"server_id"}, [&m] {
        return std::vector<metrics::Sample>{{{metrics::id_label(m.member_id())}, 1}};
      }));
  regs_.push_back(r.callback("etcd_mvcc_db_total_size_in_bytes",
                             "Size of the state machine's RocksDB files and memtables, in bytes.",
                             Type::kGauge, [&m] { return double(m.db_size()); }));
  regs_.push_back(r.callback("etcd_debugging_mvcc_keys_total", "Live keys in the store.",
                             Type::kGauge, [&m] { return double(m.store().key_count()); }));
  // Outpost's replica lag (replica_lag.h): reported once the leader's progress has been heard,
  // which learners hear every heartbeat.
  auto lag = [&m](double (*pick)(const ReplicaLag::Figures&)) {
    return [&m, pick] {
      const ReplicaLag::Figures f = m.replica_lag();
      return f.heard ? std::vector<metrics::Sample>{{{}, pick(f)}} : std::vector<metrics::Sample>{};
    };
  };
  regs_.push_back(r.callback("outpost_replica_lag_entries",
                             "Log entries the leader has committed that this member has not "
                             "applied yet (learners).",
                             Type::kGauge, {},
                             lag([](const ReplicaLag::Figures& f) { return double(f.entries); })));
  regs_.push_back(r.callback(
      "outpost_replica_lag_revisions",
      "Store revisions the leader has that this member has not applied yet (learners).",
      Type::kGauge, {}, lag([](const ReplicaLag::Figures& f) { return double(f.revisions); })));
  regs_.push_back(r.callback(
      "outpost_replica_lag_seconds",
      "Seconds since this member was last known to be caught up with the leader (learners; "
      "+Inf before it first was).",
      Type::kGauge, {}, lag([](const ReplicaLag::Figures& f) {
        return f.time == Clock::duration::max() ? INFINITY
                                                : std::chrono::duration<double>(f.time).count();
      })));
}

}  // namespace outpost::server
