#include "core/lease/lessor.h"

#include <algorithm>

#include "outpostpb/internal.pb.h"

namespace outpost::lease {

std::string Lessor::meta_key(int64_t id) { return "lease/" + storage::encode_u64(uint64_t(id)); }

Status Lessor::restore(const storage::Engine& engine, const mvcc::Store& store) {
  std::lock_guard l(mu_);
  leases_.clear();
  key_lease_.clear();
  // The ids of all leases are kept in one record ("lease-ids"), so no scan is needed.
  std::string raw;
  if (engine.get_meta(kIdsKey, &raw)) {
    for (size_t off = 0; off + 8 <= raw.size(); off += 8) {
      const int64_t id = int64_t(storage::decode_u64(std::string_view(raw).substr(off, 8)));
      std::string rec;
      outpostpb::LeaseRecord lr;
      if (!engine.get_meta(meta_key(id), &rec)) continue;
      if (!lr.ParseFromString(rec))
        return Status(ErrorCode::kCorrupt, "corrupt lease record " + std::to_string(id));
      Lease& le = leases_[lr.id()];
      le.id = lr.id();
      le.ttl = lr.ttl();
    }
  }
  return store.for_each_live([this](const mvccpb::KeyValue& kv) {
    if (kv.lease() == 0) return;
    auto it = leases_.find(kv.lease());
    if (it == leases_.end()) return;  // revoked lease: its keys were deleted with it
    it->second.keys.insert(kv.key());
    key_lease_[kv.key()] = kv.lease();
  });
}

std::string Lessor::ids_record_locked() const {
  std::string out;
  for (const auto& [id, _] : leases_) out += storage::encode_u64(uint64_t(id));
  return out;
}

Result<int64_t> Lessor::grant(mvcc::WriteTxn& txn, int64_t id, int64_t ttl) {
  if (id == 0) return Status::of(ErrorCode::kLeaseNotFound);
  if (ttl > kMaxLeaseTtl) return Status::of(ErrorCode::kLeaseTtlTooLarge);
  std::lock_guard l(mu_);
  if (leases_.count(id)) return Status::of(ErrorCode::kLeaseExists);
  Lease le;
  le.id = id;
  le.ttl = std::max(ttl, min_ttl_);
  if (primary_) le.expiry = clock_.now() + std::chrono::seconds(le.ttl);
  outpostpb::LeaseRecord rec;
  rec.set_id(id);
  rec.set_ttl(le.ttl);
  leases_[id] = std::move(le);
  txn.put_meta(meta_key(id), rec.SerializeAsString());
  txn.put_meta(kIdsKey, ids_record_locked());
  return leases_[id].ttl;
}

Status Lessor::revoke(mvcc::WriteTxn& txn, int64_t id) {
  std::vector<std::string> keys;
  {
    std::lock_guard l(mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return Status::of(ErrorCode::kLeaseNotFound);
    keys.assign(it->second.keys.begin(), it->second.keys.end());
  }
  // Deleting calls on_delete (which takes mu_): the lock must not be held here.
  for (const auto& k : keys) {
    int64_t rev = 0;
    txn.delete_range(k, "", &rev);
  }
  std::lock_guard l(mu_);
  leases_.erase(id);
  txn.delete_meta(meta_key(id));
  txn.put_meta(kIdsKey, ids_record_locked());
  return Status::ok();
}

bool Lessor::exists(int64_t id) const {
  std::lock_guard l(mu_);
  return leases_.count(id) > 0;
}

Result<int64_t> Lessor::renew(int64_t id) {
  std::lock_guard l(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::of(ErrorCode::kLeaseNotFound);
  Lease& le = it->second;
  // A lease past its deadline is as good as revoked: its revocation is on its way.
  if (primary_ && le.expiry != Clock::time_point{} && le.expiry <= clock_.now())
    return Status::of(ErrorCode::kLeaseNotFound);
  if (primary_) le.expiry = clock_.now() + std::chrono::seconds(le.ttl);
  return le.ttl;
}

Result<LeaseInfo> Lessor::lookup(int64_t id, bool with_keys) const {
  std::lock_guard l(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::of(ErrorCode::kLeaseNotFound);
  const Lease& le = it->second;
  LeaseInfo info;
  info.id = id;
  info.granted_ttl = le.ttl;
  if (le.expiry == Clock::time_point{}) {
    info.remaining_ttl = le.ttl;
  } else {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(le.expiry - clock_.now());
    info.remaining_ttl = std::max<int64_t>(0, left.count());
  }
  if (with_keys) info.keys.assign(le.keys.begin(), le.keys.end());
  return info;
}

std::vector<int64_t> Lessor::leases() const {
  std::lock_guard l(mu_);
  std::vector<const Lease*> ls;
  for (const auto& [_, le] : leases_) ls.push_back(&le);
  std::stable_sort(ls.begin(), ls.end(), [](auto* a, auto* b) { return a->expiry < b->expiry; });
  std::vector<int64_t> out;
  for (auto* le : ls) out.push_back(le->id);
  return out;
}

void Lessor::promote(std::chrono::milliseconds extend) {
  std::lock_guard l(mu_);
  primary_ = true;
  const auto now = clock_.now();
  for (auto& [_, le] : leases_) le.expiry = now + extend + std::chrono::seconds(le.ttl);
}

void Lessor::demote() {
  std::lock_guard l(mu_);
  primary_ = false;
  for (auto& [_, le] : leases_) le.expiry = Clock::time_point{};
}

bool Lessor::primary() const {
  std::lock_guard l(mu_);
  return primary_;
}

std::vector<int64_t> Lessor::expired(size_t limit) const {
  std::lock_guard l(mu_);
  std::vector<int64_t> out;
  if (!primary_) return out;
  const auto now = clock_.now();
  for (const auto& [id, le] : leases_) {
    if (out.size() >= limit) break;
    if (le.expiry != Clock::time_point{} && le.expiry <= now) out.push_back(id);
  }
  return out;
}

void Lessor::detach_locked(const std::string& key) {
  auto it = key_lease_.find(key);
  if (it == key_lease_.end()) return;
  auto le = leases_.find(it->second);
  if (le != leases_.end()) le->second.keys.erase(key);
  key_lease_.erase(it);
}

void Lessor::on_put(std::string_view key, int64_t lease) {
  std::lock_guard l(mu_);
  std::string k(key);
  detach_locked(k);
  if (lease == 0) return;
  auto it = leases_.find(lease);
  if (it == leases_.end()) return;
  it->second.keys.insert(k);
  key_lease_[k] = lease;
}

void Lessor::on_delete(std::string_view key) {
  std::lock_guard l(mu_);
  detach_locked(std::string(key));
}

}  // namespace outpost::lease
