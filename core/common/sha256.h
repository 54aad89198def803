#pragma once
// SHA-256 (OpenSSL's), incrementally: the digest etcdctl checks at the end of a snapshot file.
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace outpost {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // The 32-byte digest of everything given so far; call once.
  std::string digest();

 private:
  evp_md_ctx_st* ctx_;
};

}  // namespace outpost
