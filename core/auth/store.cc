#include "core/auth/store.h"

#include <algorithm>
#include <charconv>
#include <random>

#include "core/auth/bcrypt.h"
#include "core/common/log.h"
#include "core/mvcc/store.h"
#include "core/storage/engine.h"

namespace outpost::auth {

namespace {

template <class T>
auto find_by_name(T& list, std::string_view name) {
  return std::lower_bound(list.begin(), list.end(), name,
                          [](const auto& x, std::string_view n) { return x.name() < n; });
}

}  // namespace

Status AuthStore::restore(const storage::Engine& engine) {
  std::unique_lock l(mu_);
  state_.Clear();
  std::string raw;
  if (engine.get_meta(kMetaKey, &raw) && !state_.ParseFromString(raw))
    return Status(ErrorCode::kCorrupt, "corrupt auth store record");
  rebuild_cache_locked();
  std::lock_guard t(tokens_mu_);
  tokens_.clear();
  return Status::ok();
}

// --- lookups (lock held) ---

authpb::User* AuthStore::find_user_locked(std::string_view name) {
  auto& us = *state_.mutable_users();
  auto it = find_by_name(us, name);
  return it != us.end() && it->name() == name ? &*it : nullptr;
}

const authpb::User* AuthStore::find_user_locked(std::string_view name) const {
  const auto& us = state_.users();
  auto it = find_by_name(us, name);
  return it != us.end() && it->name() == name ? &*it : nullptr;
}

authpb::Role* AuthStore::find_role_locked(std::string_view name) {
  auto& rs = *state_.mutable_roles();
  auto it = find_by_name(rs, name);
  return it != rs.end() && it->name() == name ? &*it : nullptr;
}

const authpb::Role* AuthStore::find_role_locked(std::string_view name) const {
  const auto& rs = state_.roles();
  auto it = find_by_name(rs, name);
  return it != rs.end() && it->name() == name ? &*it : nullptr;
}

bool AuthStore::has_root_role(const authpb::User& u) {
  return std::find(u.roles().begin(), u.roles().end(), kRootRole) != u.roles().end();
}

void AuthStore::rebuild_cache_locked() {
  perms_.clear();
  for (const auto& u : state_.users()) {
    RangePermissions& p = perms_[u.name()];
    for (const auto& rn : u.roles()) {
      const authpb::Role* r = find_role_locked(rn);
      if (!r) continue;
      for (const auto& perm : r->keypermission()) p.add(perm);
    }
  }
}

void AuthStore::commit_locked(mvcc::WriteTxn& txn, bool bump) {
  if (bump) state_.set_revision(state_.revision() + 1);
  rebuild_cache_locked();
  txn.put_meta(kMetaKey, state_.SerializeAsString());
}

void AuthStore::drop_user_tokens_locked(const std::string& user) {
  std::lock_guard t(tokens_mu_);
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.user == user; });
}

// --- applied changes ---

Status AuthStore::enable(mvcc::WriteTxn& txn) {
  std::unique_lock l(mu_);
  if (state_.enabled()) return Status::ok();  // etcd ignores a second enable
  const authpb::User* root = find_user_locked(kRootUser);
  if (!root) return Status::of(ErrorCode::kRootUserNotExist);
  if (!has_root_role(*root)) return Status::of(ErrorCode::kRootRoleNotExist);
  state_.set_enabled(true);
  commit_locked(txn, /*bump=*/false);
  OUTPOST_LOG(kInfo, "enabled authentication");
  return Status::ok();
}

Status AuthStore::disable(mvcc::WriteTxn& txn) {
  std::unique_lock l(mu_);
  if (!state_.enabled()) return Status::ok();
  state_.set_enabled(false);
  commit_locked(txn, /*bump=*/true);
  std::lock_guard t(tokens_mu_);
  tokens_.clear();
  OUTPOST_LOG(kInfo, "disabled authentication");
  return Status::ok();
}

Status AuthStore::user_add(mvcc::WriteTxn& txn, const outpostpb::AuthUserAdd& r) {
  if (r.name().empty()) return Status::of(ErrorCode::kUserEmpty);
  std::unique_lock l(mu_);
  if (find_user_locked(r.name())) return Status::of(ErrorCode::kUserAlreadyExist);
  auto& us = *state_.mutable_users();
  authpb::User u;
  u.set_name(r.name());
  if (!r.options().no_password()) u.set_password(r.hashed_password());
  *u.mutable_options() = r.options();
  *us.Add() = std::move(u);
  // Keep the list sorted by name: move the new entry into place.
  for (int i = us.size() - 1; i > 0 && us[i - 1].name() > us[i].name(); --i)
    us.SwapElements(i, i - 1);
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "added a user", log::kv("user-name", r.name()));
  return Status::ok();
}

Status AuthStore::user_delete(mvcc::WriteTxn& txn, const std::string& name) {
  std::unique_lock l(mu_);
  if (state_.enabled() && name == kRootUser) return Status::of(ErrorCode::kInvalidAuthMgmt);
  auto& us = *state_.mutable_users();
  auto it = find_by_name(us, name);
  if (it == us.end() || it->name() != name) return Status::of(ErrorCode::kUserNotFound);
  us.erase(it);
  commit_locked(txn, true);
  drop_user_tokens_locked(name);
  OUTPOST_LOG(kInfo, "deleted a user", log::kv("user-name", name));
  return Status::ok();
}

Status AuthStore::user_change_password(mvcc::WriteTxn& txn,
                                       const outpostpb::AuthUserChangePassword& r) {
  std::unique_lock l(mu_);
  authpb::User* u = find_user_locked(r.name());
  if (!u) return Status::of(ErrorCode::kUserNotFound);
  u->set_password(r.hashed_password());
  commit_locked(txn, true);
  drop_user_tokens_locked(r.name());
  OUTPOST_LOG(kInfo, "changed a password of a user", log::kv("user-name", r.name()));
  return Status::ok();
}

Status AuthStore::user_grant_role(mvcc::WriteTxn& txn, const std::string& user,
                                  const std::string& role) {
  std::unique_lock l(mu_);
  authpb::User* u = find_user_locked(user);
  if (!u) return Status::of(ErrorCode::kUserNotFound);
  // The root role may be granted before it is created, as etcd allows.
  if (role != kRootRole && !find_role_locked(role)) return Status::of(ErrorCode::kRoleNotFound);
  auto& roles = *u->mutable_roles();
  auto pos = std::lower_bound(roles.begin(), roles.end(), role);
  if (pos != roles.end() && *pos == role) return Status::ok();  // granted already: no change
  roles.Add(std::string(role));
  std::sort(roles.begin(), roles.end());
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "granted a role to a user", log::kv("user-name", user),
              log::kv("role-name", role));
  return Status::ok();
}

Status AuthStore::user_revoke_role(mvcc::WriteTxn& txn, const std::string& user,
                                   const std::string& role) {
  std::unique_lock l(mu_);
  if (state_.enabled() && user == kRootUser && role == kRootRole)
    return Status::of(ErrorCode::kInvalidAuthMgmt);
  authpb::User* u = find_user_locked(user);
  if (!u) return Status::of(ErrorCode::kUserNotFound);
  auto& roles = *u->mutable_roles();
  auto it = std::find(roles.begin(), roles.end(), role);
  if (it == roles.end()) return Status::of(ErrorCode::kRoleNotGranted);
  roles.erase(it);
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "revoked a role from a user", log::kv("user-name", user),
              log::kv("role-name", role));
  return Status::ok();
}

Status AuthStore::role_add(mvcc::WriteTxn& txn, const std::string& name) {
  if (name.empty()) return Status::of(ErrorCode::kRoleEmpty);
  std::unique_lock l(mu_);
  if (find_role_locked(name)) return Status::of(ErrorCode::kRoleAlreadyExist);
  auto& rs = *state_.mutable_roles();
  authpb::Role r;
  r.set_name(name);
  *rs.Add() = std::move(r);
  for (int i = rs.size() - 1; i > 0 && rs[i - 1].name() > rs[i].name(); --i)
    rs.SwapElements(i, i - 1);
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "created a role", log::kv("role-name", name));
  return Status::ok();
}

Status AuthStore::role_delete(mvcc::WriteTxn& txn, const std::string& name) {
  std::unique_lock l(mu_);
  if (state_.enabled() && name == kRootRole) return Status::of(ErrorCode::kInvalidAuthMgmt);
  auto& rs = *state_.mutable_roles();
  auto it = find_by_name(rs, name);
  if (it == rs.end() || it->name() != name) return Status::of(ErrorCode::kRoleNotFound);
  rs.erase(it);
  // The role goes from every user that had it.
  for (auto& u : *state_.mutable_users()) {
    auto& roles = *u.mutable_roles();
    auto r = std::find(roles.begin(), roles.end(), name);
    if (r != roles.end()) roles.erase(r);
  }
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "deleted a role", log::kv("role-name", name));
  return Status::ok();
}

Status AuthStore::role_grant_permission(mvcc::WriteTxn& txn,
                                        const etcdserverpb::AuthRoleGrantPermissionRequest& r) {
  std::unique_lock l(mu_);
  authpb::Role* role = find_role_locked(r.name());
  if (!role) return Status::of(ErrorCode::kRoleNotFound);
  auto& ps = *role->mutable_keypermission();
  bool updated = false;
  for (auto& p : ps) {
    if (p.key() == r.perm().key() && p.range_end() == r.perm().range_end()) {
      p.set_permtype(r.perm().permtype());
      updated = true;
      break;
    }
  }
  if (!updated) {
    authpb::Permission p;
    p.set_key(r.perm().key());
    p.set_range_end(r.perm().range_end());
    p.set_permtype(r.perm().permtype());
    *ps.Add() = std::move(p);
    // Kept sorted by key, as etcd keeps them.
    std::stable_sort(
        ps.begin(), ps.end(),
        [](const authpb::Permission& a, const authpb::Permission& b) { return a.key() < b.key(); });
  }
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "granted/updated a permission to a role", log::kv("role-name", r.name()),
              log::kv("permission-name", authpb::Permission::Type_Name(r.perm().permtype())));
  return Status::ok();
}

Status AuthStore::role_revoke_permission(mvcc::WriteTxn& txn,
                                         const etcdserverpb::AuthRoleRevokePermissionRequest& r) {
  std::unique_lock l(mu_);
  authpb::Role* role = find_role_locked(r.role());
  if (!role) return Status::of(ErrorCode::kRoleNotFound);
  auto& ps = *role->mutable_keypermission();
  const int before = ps.size();
  for (int i = ps.size() - 1; i >= 0; --i) {
    if (ps[i].key() == r.key() && ps[i].range_end() == r.range_end()) ps.erase(ps.begin() + i);
  }
  if (ps.size() == before) return Status::of(ErrorCode::kPermissionNotGranted);
  commit_locked(txn, true);
  OUTPOST_LOG(kInfo, "revoked a permission on range", log::kv("role-name", r.role()));
  return Status::ok();
}

Result<std::string> AuthStore::authenticate(const std::string& name,
                                            const std::string& simple_token, uint64_t index) {
  std::shared_lock l(mu_);
  if (!state_.enabled()) return Status::of(ErrorCode::kAuthNotEnabled);
  const authpb::User* u = find_user_locked(name);
  if (!u || u->options().no_password()) return Status::of(ErrorCode::kAuthFailed);
  std::string token = simple_token + "." + std::to_string(index);
  std::lock_guard t(tokens_mu_);
  const auto now = clock_.now();
  // Forget expired tokens while here (etcd sweeps them every second).
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.expiry <= now; });
  tokens_[token] = Token{name, now + token_ttl_};
  return token;
}

// --- reads ---

bool AuthStore::enabled() const {
  std::shared_lock l(mu_);
  return state_.enabled();
}

uint64_t AuthStore::revision() const {
  std::shared_lock l(mu_);
  return state_.revision();
}

Result<std::vector<std::string>> AuthStore::user_roles(const std::string& name) const {
  std::shared_lock l(mu_);
  const authpb::User* u = find_user_locked(name);
  if (!u) return Status::of(ErrorCode::kUserNotFound);
  return std::vector<std::string>(u->roles().begin(), u->roles().end());
}

std::vector<std::string> AuthStore::users() const {
  std::shared_lock l(mu_);
  std::vector<std::string> out;
  for (const auto& u : state_.users()) out.push_back(u.name());
  return out;
}

std::vector<std::string> AuthStore::roles() const {
  std::shared_lock l(mu_);
  std::vector<std::string> out;
  for (const auto& r : state_.roles()) out.push_back(r.name());
  return out;
}

Result<std::vector<authpb::Permission>> AuthStore::role_permissions(const std::string& role) const {
  std::shared_lock l(mu_);
  const authpb::Role* r = find_role_locked(role);
  if (!r) return Status::of(ErrorCode::kRoleNotFound);
  return std::vector<authpb::Permission>(r->keypermission().begin(), r->keypermission().end());
}

bool AuthStore::has_role(const std::string& user, const std::string& role) const {
  std::shared_lock l(mu_);
  const authpb::User* u = find_user_locked(user);
  return u && std::find(u->roles().begin(), u->roles().end(), role) != u->roles().end();
}

Result<uint64_t> AuthStore::check_password(const std::string& name,
                                           std::string_view password) const {
  std::string hash;
  uint64_t rev = 0;
  {
    std::shared_lock l(mu_);
    if (!state_.enabled()) return Status::of(ErrorCode::kAuthNotEnabled);
    const authpb::User* u = find_user_locked(name);
    if (!u) return Status::of(ErrorCode::kAuthFailed);
    if (u->options().no_password()) return Status::of(ErrorCode::kNoPasswordUser);
    hash = u->password();
    rev = state_.revision();
  }
  // bcrypt is slow on purpose: never under the lock.
  if (!bcrypt_verify(password, hash)) {
    OUTPOST_LOG(kInfo, "invalid password", log::kv("user-name", name));
    return Status::of(ErrorCode::kAuthFailed);
  }
  return rev;
}

std::optional<AuthInfo> AuthStore::token_info(const std::string& token) {
  std::shared_lock l(mu_);
  std::lock_guard t(tokens_mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  const auto now = clock_.now();
  if (it->second.expiry <= now) {
    tokens_.erase(it);
    return std::nullopt;
  }
  it->second.expiry = now + token_ttl_;
  return AuthInfo{it->second.user, state_.revision()};
}

uint64_t AuthStore::token_index(std::string_view token) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) return 0;
  uint64_t index = 0;
  auto digits = token.substr(dot + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || p != digits.data() + digits.size()) return 0;
  return index;
}

std::string AuthStore::new_token_prefix() {
  static constexpr std::string_view kLetters =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  thread_local std::mt19937_64 gen{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, kLetters.size() - 1);
  std::string out(16, ' ');
  for (auto& c : out) c = kLetters[pick(gen)];
  return out;
}

// --- permission checks ---

Status AuthStore::check_op(const AuthInfo& ai, std::string_view key, std::string_view range_end,
                           authpb::Permission::Type t) const {
  std::shared_lock l(mu_);
  if (!state_.enabled()) return Status::ok();
  if (ai.revision == 0) return Status::of(ErrorCode::kUserEmpty);  // no credentials given
  if (ai.revision < state_.revision()) return Status::of(ErrorCode::kAuthOldRevision);
  const authpb::User* u = find_user_locked(ai.user);
  if (!u) return Status::of(ErrorCode::kPermissionDenied);
  if (has_root_role(*u)) return Status::ok();
  auto p = perms_.find(ai.user);
  if (p != perms_.end() && p->second.permitted(key, range_end, t)) return Status::ok();
  return Status::of(ErrorCode::kPermissionDenied);
}

Status AuthStore::check_range(const AuthInfo& ai, std::string_view key,
                              std::string_view range_end) const {
  return check_op(ai, key, range_end, authpb::Permission::READ);
}

Status AuthStore::check_put(const AuthInfo& ai, std::string_view key) const {
  return check_op(ai, key, {}, authpb::Permission::WRITE);
}

Status AuthStore::check_delete(const AuthInfo& ai, std::string_view key,
                               std::string_view range_end) const {
  return check_op(ai, key, range_end, authpb::Permission::WRITE);
}

Status AuthStore::check_admin(const AuthInfo& ai) const {
  std::shared_lock l(mu_);
  if (!state_.enabled()) return Status::ok();
  if (ai.user.empty()) return Status::of(ErrorCode::kUserEmpty);
  const authpb::User* u = find_user_locked(ai.user);
  if (!u) return Status::of(ErrorCode::kUserNotFound);
  if (!has_root_role(*u)) return Status::of(ErrorCode::kPermissionDenied);
  return Status::ok();
}

}  // namespace outpost::auth
