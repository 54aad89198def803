#pragma once
// AuthStore: etcd v3's users, roles and permissions, the enabled flag, the auth revision, and the
// simple tokens handed out by Authenticate, with etcd 3.4's semantics (server/auth/store.go).
//
// Replicated state like leases: every change comes from an applied log entry (the applier calls
// the mutators inside its write transaction), so every member, learners included, holds the same
// store. The whole store is one record in the meta column family (key "auth", an
// outpostpb.AuthState) rewritten by each change in the same write as the consistent index, so
// it survives restarts and travels with the state a member receives by snapshot. Passwords are
// bcrypt hashes, made by the member that received the request before proposing it: the log and
// the data dir never hold a clear password.
//
// The auth revision counts changes as etcd counts them: every successful user or role change
// and AuthDisable bump it; AuthEnable, Authenticate and no-op grants do not.
//
// Tokens (simple tokens, etcd's default) are not persisted: every member assigns the same token
// when it applies an Authenticate entry (prefix from the proposer + "." + entry index), keeps it
// for token_ttl after its last use, and forgets a user's tokens when the user is deleted or its
// password changes, and all tokens when auth is disabled (and on restart, as etcd).
//
// Thread-safety: every method may be called from any thread (a reader/writer lock inside);
// mutators are called by the applier only, in log order.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "authpb/auth.pb.h"
#include "core/auth/permissions.h"
#include "core/common/clock.h"
#include "core/common/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "outpostpb/internal.pb.h"

namespace outpost::storage {
class Engine;
}
namespace outpost::mvcc {
class WriteTxn;
}

namespace outpost::auth {

inline constexpr std::string_view kRootUser = "root";
inline constexpr std::string_view kRootRole = "root";

// Who makes a request (etcd's AuthInfo): the user and the auth revision at which its
// credentials were resolved. Empty user and revision 0: no credentials.
struct AuthInfo {
  std::string user;
  uint64_t revision = 0;
};

class AuthStore {
 public:
  static constexpr std::string_view kMetaKey = "auth";
  using Clock = outpost::Clock;

  explicit AuthStore(const Clock& clock = Clock::real(),
                     Clock::duration token_ttl = std::chrono::minutes(5))
      : clock_(clock), token_ttl_(token_ttl) {}

  // Loads the store from its meta record (none: empty, disabled, revision 0). Forgets tokens.
  Status restore(const storage::Engine& engine);

  // --- applied from the log, inside the applier's write transaction ---
  Status enable(mvcc::WriteTxn& txn);
  Status disable(mvcc::WriteTxn& txn);
  Status user_add(mvcc::WriteTxn& txn, const outpostpb::AuthUserAdd& r);
  Status user_delete(mvcc::WriteTxn& txn, const std::string& name);
  Status user_change_password(mvcc::WriteTxn& txn, const outpostpb::AuthUserChangePassword& r);
  Status user_grant_role(mvcc::WriteTxn& txn, const std::string& user, const std::string& role);
  Status user_revoke_role(mvcc::WriteTxn& txn, const std::string& user, const std::string& role);
  Status role_add(mvcc::WriteTxn& txn, const std::string& name);
  Status role_delete(mvcc::WriteTxn& txn, const std::string& name);
  Status role_grant_permission(mvcc::WriteTxn& txn,
                               const etcdserverpb::AuthRoleGrantPermissionRequest& r);
  Status role_revoke_permission(mvcc::WriteTxn& txn,
                                const etcdserverpb::AuthRoleRevokePermissionRequest& r);
  // Assigns the token simple_token + "." + index to name and returns it.
  Result<std::string> authenticate(const std::string& name, const std::string& simple_token,
                                   uint64_t index);

  // --- reads ---
  bool enabled() const;
  uint64_t revision() const;
  Result<std::vector<std::string>> user_roles(const std::string& name) const;
  std::vector<std::string> users() const;
  std::vector<std::string> roles() const;
  Result<std::vector<authpb::Permission>> role_permissions(const std::string& role) const;
  bool has_role(const std::string& user, const std::string& role) const;
  // Checks name's password (bcrypt, outside the lock) and returns the auth revision it was
  // checked at: Authenticate proposes only once the password is known to be right.
  Result<uint64_t> check_password(const std::string& name, std::string_view password) const;

  // A token's user, at the current auth revision; nullopt when the token is unknown or expired.
  // Using a token extends its life by token_ttl.
  std::optional<AuthInfo> token_info(const std::string& token);
  // The log index a simple token was assigned at (0 when it is not one of ours): a member that
  // has not applied as far yet may not know it yet.
  static uint64_t token_index(std::string_view token);
  // 16 random letters, as etcd's simple token prefix.
  static std::string new_token_prefix();

  // --- permission checks (all pass while auth is disabled) ---
  Status check_range(const AuthInfo& ai, std::string_view key, std::string_view range_end) const;
  Status check_put(const AuthInfo& ai, std::string_view key) const;
  Status check_delete(const AuthInfo& ai, std::string_view key, std::string_view range_end) const;
  // Root only: user and role management, auth enable/disable, membership, HashKV.
  Status check_admin(const AuthInfo& ai) const;

 private:
  struct Token {
    std::string user;
    Clock::time_point expiry;
  };
  Status check_op(const AuthInfo& ai, std::string_view key, std::string_view range_end,
                  authpb::Permission::Type t) const;
  authpb::User* find_user_locked(std::string_view name);
  const authpb::User* find_user_locked(std::string_view name) const;
  authpb::Role* find_role_locked(std::string_view name);
  const authpb::Role* find_role_locked(std::string_view name) const;
  static bool has_root_role(const authpb::User& u);
  // Bumps the revision, rebuilds the permission cache and writes the record into txn.
  void commit_locked(mvcc::WriteTxn& txn, bool bump);
  void rebuild_cache_locked();
  void drop_user_tokens_locked(const std::string& user);

  const Clock& clock_;
  const Clock::duration token_ttl_;
  mutable std::shared_mutex mu_;
  outpostpb::AuthState state_;                     // users and roles sorted by name
  std::map<std::string, RangePermissions> perms_;  // user -> merged permissions
  std::mutex tokens_mu_;                           // taken after mu_ when both are held
  std::map<std::string, Token> tokens_;
};

}  // namespace outpost::auth
