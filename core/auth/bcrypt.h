#pragma once
// bcrypt password hashes through libxcrypt (crypt_gensalt_rn / crypt_r with the "$2b$" prefix):
// no hand-written crypto (STYLE.md). Hashes made by Go's bcrypt ("$2a$") verify too, so an auth
// store carried over from etcd keeps working.
#include <string>
#include <string_view>

#include "core/common/status.h"

namespace outpost::auth {

inline constexpr int kBcryptMinCost = 4;   // as Go's bcrypt.MinCost
inline constexpr int kBcryptMaxCost = 31;  // as Go's bcrypt.MaxCost
inline constexpr int kBcryptDefaultCost = 10;

// A fresh salted hash of password at cost (4..31). Slow on purpose: about 2^cost rounds.
Result<std::string> bcrypt_hash(std::string_view password, int cost);
// Whether password matches hash (compared in constant time). False for a malformed hash.
bool bcrypt_verify(std::string_view password, std::string_view hash);

}  // namespace outpost::auth
