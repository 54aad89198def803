// etcd 3.4's range-permission rules (auth/range_perm_cache.go) and bcrypt through libxcrypt.
#include "core/auth/permissions.h"

#include <catch2/catch.hpp>
#include <string>

#include "core/auth/bcrypt.h"

using namespace outpost::auth;
using T = authpb::Permission;

namespace {

authpb::Permission perm(const std::string& key, const std::string& end, T::Type t) {
  authpb::Permission p;
  p.set_key(key);
  p.set_range_end(end);
  p.set_permtype(t);
  return p;
}

const std::string kFromKey(1, '\0');

}  // namespace

TEST_CASE("a single-key permission allows that key only", "[auth][perm]") {
  RangePermissions p;
  p.add(perm("foo", "", T::READ));
  CHECK(p.permitted("foo", "", T::READ));
  CHECK_FALSE(p.permitted("foo", "", T::WRITE));
  CHECK_FALSE(p.permitted("foo0", "", T::READ));
  CHECK_FALSE(p.permitted("fo", "", T::READ));
  // The range holding only foo is covered; anything wider is not.
  CHECK(p.permitted("foo", std::string("foo") + '\0', T::READ));
  CHECK_FALSE(p.permitted("foo", "fop", T::READ));
}

TEST_CASE("a prefix permission covers the keys and sub-ranges under it", "[auth][perm]") {
  RangePermissions p;
  p.add(perm("dir/", "dir0", T::READWRITE));  // etcdctl --prefix dir/
  CHECK(p.permitted("dir/a", "", T::READ));
  CHECK(p.permitted("dir/a", "", T::WRITE));
  CHECK(p.permitted("dir/", "dir0", T::READ));
  CHECK(p.permitted("dir/a", "dir/b", T::WRITE));
  CHECK_FALSE(p.permitted("dir", "", T::READ));
  CHECK_FALSE(p.permitted("dir/", "dir1", T::READ));  // wider than the grant
  CHECK_FALSE(p.permitted("dir/", kFromKey, T::READ));
}

TEST_CASE("an open-ended permission covers everything from its key on", "[auth][perm]") {
  RangePermissions p;
  p.add(perm("m", kFromKey, T::WRITE));  // etcdctl --from-key m
  CHECK(p.permitted("m", "", T::WRITE));
  CHECK(p.permitted("zzz", "", T::WRITE));
  CHECK(p.permitted("m", kFromKey, T::WRITE));
  CHECK(p.permitted("n", "q", T::WRITE));
  CHECK_FALSE(p.permitted("a", "", T::WRITE));
  CHECK_FALSE(p.permitted("a", kFromKey, T::WRITE));
  CHECK_FALSE(p.permitted("m", "", T::READ));
}

TEST_CASE("adjacent and overlapping grants cover a range together", "[auth][perm]") {
  RangePermissions p;
  p.add(perm("a", "c", T::READ));
  p.add(perm("c", "e", T::READ));
  p.add(perm("d", "g", T::READ));
  CHECK(p.permitted("a", "g", T::READ));
  CHECK(p.permitted("b", "f", T::READ));
  CHECK_FALSE(p.permitted("a", "h", T::READ));
  RangePermissions gap;
  gap.add(perm("a", "c", T::READ));
  gap.add(perm("d", "g", T::READ));
  CHECK_FALSE(gap.permitted("a", "e", T::READ));
  CHECK(gap.permitted("d", "e", T::READ));
}

TEST_CASE("an empty or inverted range is refused", "[auth][perm]") {
  RangePermissions p;
  p.add(perm("", kFromKey, T::READ));
  CHECK(p.permitted("", kFromKey, T::READ));
  CHECK_FALSE(p.permitted("b", "a", T::READ));
}

TEST_CASE("bcrypt hashes verify and differ per salt", "[auth][bcrypt]") {
  auto h1 = bcrypt_hash("s3cret", kBcryptMinCost);
  auto h2 = bcrypt_hash("s3cret", kBcryptMinCost);
  REQUIRE(h1.is_ok());
  REQUIRE(h2.is_ok());
  CHECK(h1.value().rfind("$2b$04$", 0) == 0);
  CHECK(h1.value() != h2.value());
  CHECK(h1.value().find("s3cret") == std::string::npos);
  CHECK(bcrypt_verify("s3cret", h1.value()));
  CHECK_FALSE(bcrypt_verify("s3cret!", h1.value()));
  CHECK_FALSE(bcrypt_verify("", h1.value()));
  CHECK_FALSE(bcrypt_verify("s3cret", "not a hash"));
  CHECK_FALSE(bcrypt_hash("x", 3).is_ok());
}

TEST_CASE("a $2a$ hash (Go's bcrypt, etcd's) verifies", "[auth][bcrypt]") {
  // $2a$ and $2b$ differ only for passwords over 255 bytes: the same hash under either prefix
  // verifies the same password.
  auto mine = bcrypt_hash("password", kBcryptMinCost);
  REQUIRE(mine.is_ok());
  std::string as_2a = mine.value();
  as_2a[2] = 'a';
  CHECK(bcrypt_verify("password", as_2a));
  CHECK_FALSE(bcrypt_verify("passwore", as_2a));
}
