#pragma once
// Lessor: the member's leases, with etcd 3.4's semantics.
//
// Grant and revoke are replicated: they come from applied log entries (grant() / revoke()
// inside the applier's write transaction), so every member holds the same leases, persisted in
// the meta column family with the kv changes. Attachments (which keys hang off which lease) are
// not stored separately: they follow the keys' own lease field, kept in step through the
// mvcc::LeaseHook calls and rebuilt from the live keys on start.
//
// Expiry is not replicated: only the primary (the leader) keeps deadlines. It refreshes every
// lease when it becomes primary (promote()), extends one on renew(), and reports expired ones
// (expired()) so the server proposes their revocation through the log. Others keep leases
// "forever" until told otherwise.
//
// Thread-safety: all methods are safe to call from any thread. Lock order: the store's write
// lock, then the lessor's own mutex (hook calls arrive under the store lock); the lessor never
// takes the store lock while holding its own.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/mvcc/store.h"

namespace outpost::lease {

inline constexpr int64_t kMaxLeaseTtl = 9000000000;  // etcd's MaxLeaseTTL, seconds

struct LeaseInfo {
  int64_t id = 0;
  int64_t granted_ttl = 0;     // seconds
  int64_t remaining_ttl = -1;  // seconds left (on the primary), truncated like etcd
  std::vector<std::string> keys;
};

class Lessor final : public mvcc::LeaseHook {
 public:
  using Clock = outpost::Clock;

  // min_ttl: the smallest TTL granted (etcd: ceil(1.5 x election timeout) seconds). Deadlines
  // are read from clock (a ManualClock in tests); it must outlive the lessor.
  explicit Lessor(int64_t min_ttl, const Clock& clock = Clock::real())
      : min_ttl_(min_ttl), clock_(clock) {}

  // Loads leases from meta records and attachments from the store's live keys.
  Status restore(const storage::Engine& engine, const mvcc::Store& store);

  // --- applied from the log (inside the applier's write transaction) ---
  // Returns the granted TTL (clamped up to min_ttl).
  Result<int64_t> grant(mvcc::WriteTxn& txn, int64_t id, int64_t ttl);
  // Deletes every attached key (one revision) and the lease.
  Status revoke(mvcc::WriteTxn& txn, int64_t id);

  // --- reads and the primary's clock ---
  bool exists(int64_t id) const;
  // Renews on the primary: the lease's deadline becomes now + TTL. Returns the TTL, or
  // kLeaseNotFound.
  Result<int64_t> renew(int64_t id);
  Result<LeaseInfo> lookup(int64_t id, bool with_keys) const;
  // Lease ids, soonest deadline first.
  std::vector<int64_t> leases() const;
  // Makes this member the primary: every lease gets a full TTL from now (etcd refreshes all
  // leases on a leader change, so no lease expires because the leader changed).
  // extend: added to every lease's TTL (etcd gives one election timeout, so a lease whose
  // keep-alives were in flight during the election is not lost to it).
  void promote(std::chrono::milliseconds extend = std::chrono::milliseconds(0));
  void demote();
  bool primary() const;
  // Leases whose deadline has passed (primary only), at most `limit`.
  std::vector<int64_t> expired(size_t limit) const;

  // mvcc::LeaseHook
  void on_put(std::string_view key, int64_t lease) override;
  void on_delete(std::string_view key) override;

  static std::string meta_key(int64_t id);

 private:
  struct Lease {
    int64_t id = 0;
    int64_t ttl = 0;
    Clock::time_point expiry{};  // epoch: no deadline (not primary)
    std::set<std::string> keys;
  };
  void detach_locked(const std::string& key);
  std::string ids_record_locked() const;
  static constexpr const char* kIdsKey = "lease-ids";

  const int64_t min_ttl_;
  const Clock& clock_;
  mutable std::mutex mu_;
  bool primary_ = false;
  std::map<int64_t, Lease> leases_;
  std::unordered_map<std::string, int64_t> key_lease_;
};

}  // namespace outpost::lease
