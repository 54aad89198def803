// core/auth's AuthStore over a real engine: every applied change with etcd 3.4's errors and
// revision bumps, permission checks, tokens on a ManualClock, persistence across a reopen.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "core/auth/bcrypt.h"
#include "core/auth/request_check.h"
#include "core/auth/store.h"
#include "core/common/clock.h"
#include "core/mvcc/store.h"
#include "core/storage/engine.h"
#include "tests/common/temp_dir.h"

using namespace outpost;
using namespace outpost::auth;
using namespace std::chrono_literals;
namespace pb = etcdserverpb;

namespace {

struct Fixture {
  outpost::testing::TempDir dir;
  ManualClock clock;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<mvcc::Store> store;
  std::unique_ptr<AuthStore> as;

  Fixture() { open(); }
  void open() {
    store.reset();
    engine.reset();
    auto e = storage::Engine::open(dir.path());
    REQUIRE(e.is_ok());
    engine = std::move(e.value());
    auto s = mvcc::Store::open(engine.get());
    REQUIRE(s.is_ok());
    store = std::move(s.value());
    as = std::make_unique<AuthStore>(clock, 300s);
    REQUIRE(as->restore(*engine).is_ok());
  }
  // Runs one change in its own write transaction, as the applier does.
  template <class Fn>
  Status apply(Fn fn) {
    mvcc::WriteTxn txn(*store);
    Status s = fn(txn);
    REQUIRE(txn.end().is_ok());
    return s;
  }
  Status user_add(const std::string& name, const std::string& password = "pw") {
    outpostpb::AuthUserAdd r;
    r.set_name(name);
    auto h = bcrypt_hash(password, kBcryptMinCost);
    REQUIRE(h.is_ok());
    r.set_hashed_password(h.value());
    return apply([&](mvcc::WriteTxn& t) { return as->user_add(t, r); });
  }
  Status role_add(const std::string& name) {
    return apply([&](mvcc::WriteTxn& t) { return as->role_add(t, name); });
  }
  Status grant_role(const std::string& user, const std::string& role) {
    return apply([&](mvcc::WriteTxn& t) { return as->user_grant_role(t, user, role); });
  }
  Status revoke_role(const std::string& user, const std::string& role) {
    return apply([&](mvcc::WriteTxn& t) { return as->user_revoke_role(t, user, role); });
  }
  Status grant(const std::string& role, const std::string& key, const std::string& end,
               authpb::Permission::Type t) {
    pb::AuthRoleGrantPermissionRequest r;
    r.set_name(role);
    r.mutable_perm()->set_key(key);
    r.mutable_perm()->set_range_end(end);
    r.mutable_perm()->set_permtype(t);
    return apply([&](mvcc::WriteTxn& w) { return as->role_grant_permission(w, r); });
  }
  Status enable() {
    return apply([&](mvcc::WriteTxn& t) { return as->enable(t); });
  }
  Status disable() {
    return apply([&](mvcc::WriteTxn& t) { return as->disable(t); });
  }
  // root:root, alice with role "r" (read+write on prefix "a/"), auth enabled.
  void standard() {
    REQUIRE(user_add("root").is_ok());
    REQUIRE(role_add("root").is_ok());
    REQUIRE(grant_role("root", "root").is_ok());
    REQUIRE(user_add("alice", "alice-pw").is_ok());
    REQUIRE(role_add("r").is_ok());
    REQUIRE(grant("r", "a/", "a0", authpb::Permission::READWRITE).is_ok());
    REQUIRE(grant_role("alice", "r").is_ok());
    REQUIRE(enable().is_ok());
  }
  AuthInfo who(const std::string& user) { return {user, as->revision()}; }
};

}  // namespace

TEST_CASE("enable needs a root user holding the root role", "[auth][store]") {
  Fixture f;
  CHECK(f.enable().code() == ErrorCode::kRootUserNotExist);
  REQUIRE(f.user_add("root").is_ok());
  CHECK(f.enable().code() == ErrorCode::kRootRoleNotExist);
  // The root role may be granted before it is created, as etcd allows.
  REQUIRE(f.grant_role("root", "root").is_ok());
  const uint64_t rev = f.as->revision();
  REQUIRE(f.enable().is_ok());
  CHECK(f.as->enabled());
  CHECK(f.as->revision() == rev);  // enable does not bump the revision
  CHECK(f.enable().is_ok());       // a second enable is ignored
  REQUIRE(f.disable().is_ok());
  CHECK_FALSE(f.as->enabled());
  CHECK(f.as->revision() == rev + 1);  // disable does
}

TEST_CASE("user and role changes give etcd's errors and bump the revision", "[auth][store]") {
  Fixture f;
  CHECK(f.user_add("").code() == ErrorCode::kUserEmpty);
  REQUIRE(f.user_add("bob").is_ok());
  CHECK(f.as->revision() == 1);
  CHECK(f.user_add("bob").code() == ErrorCode::kUserAlreadyExist);
  CHECK(f.role_add("").code() == ErrorCode::kRoleEmpty);
  REQUIRE(f.role_add("w").is_ok());
  CHECK(f.role_add("w").code() == ErrorCode::kRoleAlreadyExist);
  CHECK(f.grant_role("nobody", "w").code() == ErrorCode::kUserNotFound);
  CHECK(f.grant_role("bob", "nope").code() == ErrorCode::kRoleNotFound);
  REQUIRE(f.grant_role("bob", "w").is_ok());
  const uint64_t rev = f.as->revision();
  REQUIRE(f.grant_role("bob", "w").is_ok());  // granted already: no change, no bump
  CHECK(f.as->revision() == rev);
  CHECK(f.revoke_role("bob", "x").code() == ErrorCode::kRoleNotGranted);
  CHECK(f.grant("nope", "k", "", authpb::Permission::READ).code() == ErrorCode::kRoleNotFound);
  REQUIRE(f.grant("w", "k", "", authpb::Permission::READ).is_ok());
  REQUIRE(f.grant("w", "k", "", authpb::Permission::WRITE).is_ok());  // updates in place
  REQUIRE(f.grant("w", "b", "c", authpb::Permission::READ).is_ok());
  auto perms = f.as->role_permissions("w");
  REQUIRE(perms.is_ok());
  REQUIRE(perms.value().size() == 2);
  CHECK(perms.value()[0].key() == "b");  // sorted by key
  CHECK(perms.value()[1].permtype() == authpb::Permission::WRITE);
  pb::AuthRoleRevokePermissionRequest rv;
  rv.set_role("w");
  rv.set_key("zz");
  CHECK(f.apply([&](mvcc::WriteTxn& t) { return f.as->role_revoke_permission(t, rv); }).code() ==
        ErrorCode::kPermissionNotGranted);
  rv.set_key("k");
  REQUIRE(f.apply([&](mvcc::WriteTxn& t) { return f.as->role_revoke_permission(t, rv); }).is_ok());
  // Deleting a role takes it from every user.
  REQUIRE(f.apply([&](mvcc::WriteTxn& t) { return f.as->role_delete(t, "w"); }).is_ok());
  CHECK(f.as->user_roles("bob").value().empty());
  CHECK(f.apply([&](mvcc::WriteTxn& t) { return f.as->role_delete(t, "w"); }).code() ==
        ErrorCode::kRoleNotFound);
  REQUIRE(f.apply([&](mvcc::WriteTxn& t) { return f.as->user_delete(t, "bob"); }).is_ok());
  CHECK(f.as->user_roles("bob").status().code() == ErrorCode::kUserNotFound);
  CHECK(f.apply([&](mvcc::WriteTxn& t) { return f.as->user_delete(t, "bob"); }).code() ==
        ErrorCode::kUserNotFound);
}

TEST_CASE("root cannot lose root while auth is enabled", "[auth][store]") {
  Fixture f;
  f.standard();
  CHECK(f.revoke_role("root", "root").code() == ErrorCode::kInvalidAuthMgmt);
  CHECK(f.apply([&](mvcc::WriteTxn& t) { return f.as->user_delete(t, "root"); }).code() ==
        ErrorCode::kInvalidAuthMgmt);
  CHECK(f.apply([&](mvcc::WriteTxn& t) { return f.as->role_delete(t, "root"); }).code() ==
        ErrorCode::kInvalidAuthMgmt);
  REQUIRE(f.disable().is_ok());
  CHECK(f.revoke_role("root", "root").is_ok());
}

TEST_CASE("permission checks follow the user's roles; root may do anything", "[auth][store]") {
  Fixture f;
  f.standard();
  const AuthInfo alice = f.who("alice");
  CHECK(f.as->check_range(alice, "a/x", "").is_ok());
  CHECK(f.as->check_put(alice, "a/x").is_ok());
  CHECK(f.as->check_range(alice, "a/", "a0").is_ok());
  CHECK(f.as->check_range(alice, "b", "").code() == ErrorCode::kPermissionDenied);
  CHECK(f.as->check_delete(alice, "a/", std::string(1, '\0')).code() ==
        ErrorCode::kPermissionDenied);
  CHECK(f.as->check_put(f.who("root"), "anything").is_ok());
  CHECK(f.as->check_admin(f.who("root")).is_ok());
  CHECK(f.as->check_admin(alice).code() == ErrorCode::kPermissionDenied);
  CHECK(f.as->check_admin({}).code() == ErrorCode::kUserEmpty);
  CHECK(f.as->check_admin(f.who("ghost")).code() == ErrorCode::kUserNotFound);
  CHECK(f.as->check_range({}, "a/x", "").code() == ErrorCode::kUserEmpty);
  CHECK(f.as->check_range(f.who("ghost"), "a/x", "").code() == ErrorCode::kPermissionDenied);
  // A request resolved before the store changed is refused as stale.
  REQUIRE(f.role_add("other").is_ok());
  CHECK(f.as->check_range(alice, "a/x", "").code() == ErrorCode::kAuthOldRevision);
  // Everything passes while auth is disabled.
  REQUIRE(f.disable().is_ok());
  CHECK(f.as->check_range({}, "b", "").is_ok());
}

TEST_CASE("requests are checked op by op, nested txns included", "[auth][store]") {
  Fixture f;
  f.standard();
  const AuthInfo alice = f.who("alice");
  pb::TxnRequest t;
  auto* c = t.add_compare();
  c->set_key("a/1");
  t.add_success()->mutable_request_put()->set_key("a/2");
  CHECK(check_txn_request(*f.as, alice, t, {}).is_ok());
  auto* nested = t.add_failure()->mutable_request_txn();
  nested->add_success()->mutable_request_range()->set_key("secret");
  CHECK(check_txn_request(*f.as, alice, t, {}).code() == ErrorCode::kPermissionDenied);
  pb::TxnRequest cmp;
  cmp.add_compare()->set_key("secret");
  CHECK(check_txn_request(*f.as, alice, cmp, {}).code() == ErrorCode::kPermissionDenied);
  // A put may attach a lease only when the caller may write every key already on it.
  pb::PutRequest p;
  p.set_key("a/3");
  p.set_lease(7);
  auto keys = [](int64_t id) {
    return id == 7 ? std::vector<std::string>{"a/1", "secret"} : std::vector<std::string>{};
  };
  CHECK(check_put_request(*f.as, alice, p, keys).code() == ErrorCode::kPermissionDenied);
  p.set_lease(8);
  CHECK(check_put_request(*f.as, alice, p, keys).is_ok());
  CHECK(check_lease_revoke(*f.as, alice, 7, keys).code() == ErrorCode::kPermissionDenied);
  outpostpb::Request admin;
  admin.mutable_auth_role_add()->set_name("x");
  CHECK(check_request(*f.as, alice, admin, keys).code() == ErrorCode::kPermissionDenied);
  CHECK(check_request(*f.as, f.who("root"), admin, keys).is_ok());
}

TEST_CASE("passwords are checked against the bcrypt hash", "[auth][store]") {
  Fixture f;
  f.standard();
  auto rev = f.as->check_password("alice", "alice-pw");
  REQUIRE(rev.is_ok());
  CHECK(rev.value() == f.as->revision());
  CHECK(f.as->check_password("alice", "wrong").status().code() == ErrorCode::kAuthFailed);
  CHECK(f.as->check_password("nobody", "x").status().code() == ErrorCode::kAuthFailed);
  outpostpb::AuthUserAdd np;
  np.set_name("svc");
  np.mutable_options()->set_no_password(true);
  REQUIRE(f.apply([&](mvcc::WriteTxn& t) { return f.as->user_add(t, np); }).is_ok());
  CHECK(f.as->check_password("svc", "").status().code() == ErrorCode::kNoPasswordUser);
  REQUIRE(f.disable().is_ok());
  CHECK(f.as->check_password("alice", "alice-pw").status().code() == ErrorCode::kAuthNotEnabled);
}

TEST_CASE("simple tokens: assigned at an index, refreshed on use, expire, dropped",
          "[auth][token]") {
  Fixture f;
  f.standard();
  auto tok = f.as->authenticate("alice", "AbCdEfGhIjKlMnOp", 42);
  REQUIRE(tok.is_ok());
  CHECK(tok.value() == "AbCdEfGhIjKlMnOp.42");
  CHECK(AuthStore::token_index(tok.value()) == 42);
  CHECK(AuthStore::token_index("nodot") == 0);
  CHECK(AuthStore::new_token_prefix().size() == 16);
  auto ai = f.as->token_info(tok.value());
  REQUIRE(ai);
  CHECK(ai->user == "alice");
  CHECK(ai->revision == f.as->revision());
  f.clock.advance(299s);
  REQUIRE(f.as->token_info(tok.value()));  // used: lives another 300 s
  f.clock.advance(299s);
  REQUIRE(f.as->token_info(tok.value()));
  f.clock.advance(301s);
  CHECK_FALSE(f.as->token_info(tok.value()));
  CHECK_FALSE(f.as->token_info("made.up"));
  // A password change drops the user's tokens.
  tok = f.as->authenticate("alice", "x", 43);
  REQUIRE(tok.is_ok());
  outpostpb::AuthUserChangePassword cp;
  cp.set_name("alice");
  cp.set_hashed_password(bcrypt_hash("new", kBcryptMinCost).value());
  REQUIRE(f.apply([&](mvcc::WriteTxn& t) { return f.as->user_change_password(t, cp); }).is_ok());
  CHECK_FALSE(f.as->token_info(tok.value()));
  CHECK(f.as->check_password("alice", "new").is_ok());
  CHECK(f.as->authenticate("ghost", "x", 44).status().code() == ErrorCode::kAuthFailed);
  // Disabling drops every token.
  tok = f.as->authenticate("root", "y", 45);
  REQUIRE(f.disable().is_ok());
  CHECK_FALSE(f.as->token_info(tok.value()));
  CHECK(f.as->authenticate("root", "y", 46).status().code() == ErrorCode::kAuthNotEnabled);
}

TEST_CASE("the auth store survives a reopen, hashes only", "[auth][store]") {
  Fixture f;
  f.standard();
  const uint64_t rev = f.as->revision();
  REQUIRE(f.engine->flush().is_ok());
  f.open();
  CHECK(f.as->enabled());
  CHECK(f.as->revision() == rev);
  CHECK(f.as->users() == std::vector<std::string>{"alice", "root"});
  CHECK(f.as->roles() == std::vector<std::string>{"r", "root"});
  CHECK(f.as->check_password("alice", "alice-pw").is_ok());
  CHECK(f.as->check_range(f.who("alice"), "a/x", "").is_ok());
  std::string raw;
  REQUIRE(f.engine->get_meta(AuthStore::kMetaKey, &raw));
  CHECK(raw.find("alice-pw") == std::string::npos);
}
