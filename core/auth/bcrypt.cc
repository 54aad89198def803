#include "core/auth/bcrypt.h"

#include <crypt.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace outpost::auth {

Result<std::string> bcrypt_hash(std::string_view password, int cost) {
  if (cost < kBcryptMinCost || cost > kBcryptMaxCost)
    return Status::internal("bcrypt cost " + std::to_string(cost) + " is out of range 4..31");
  if (password.find('\0') != std::string_view::npos)
    return Status::internal("a password may not contain a NUL byte");
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // rbytes null: libxcrypt takes the salt's random bytes from the operating system.
  if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                        sizeof setting))
    return Status::internal("cannot make a bcrypt salt: " + std::string(std::strerror(errno)));
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string pw(password);
  const char* out = crypt_r(pw.c_str(), setting, data.get());
  if (!out || out[0] == '*') return Status::internal("bcrypt hashing failed");
  std::string hash(out);
  std::memset(data.get(), 0, sizeof(crypt_data));  // the clear password passed through it
  return hash;
}

bool bcrypt_verify(std::string_view password, std::string_view hash) {
  if (hash.size() < 7 || hash[0] != '$' || hash[1] != '2') return false;
  if (password.find('\0') != std::string_view::npos) return false;
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string pw(password), h(hash);
  const char* out = crypt_r(pw.c_str(), h.c_str(), data.get());
  bool match = false;
  if (out && out[0] != '*' && std::strlen(out) == h.size()) {
    unsigned char diff = 0;
    for (size_t i = 0; i < h.size(); ++i) diff |= static_cast<unsigned char>(out[i] ^ h[i]);
    match = diff == 0;
  }
  std::memset(data.get(), 0, sizeof(crypt_data));
  return match;
}

}  // namespace outpost::auth
