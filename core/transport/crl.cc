#include "core/transport/crl.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

namespace outpost::transport {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};

}  // namespace

Status make_crl_directory(const std::string& crl_file, const std::string& dir) {
  std::unique_ptr<FILE, FileCloser> in(std::fopen(crl_file.c_str(), "r"));
  if (!in) return Status::io("cannot read CRL file " + crl_file);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io("cannot create " + dir + ": " + ec.message());

  std::map<unsigned long, int> per_issuer;  // issuer hash -> CRLs written so far
  for (;;) {
    std::unique_ptr<X509_CRL, CrlFree> crl(PEM_read_X509_CRL(in.get(), nullptr, nullptr, nullptr));
    if (!crl) break;
    const unsigned long hash =
        X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, nullptr);
    char name[32];
    std::snprintf(name, sizeof name, "%08lx.r%d", hash, per_issuer[hash]++);
    const std::string path = dir + "/" + name;
    std::unique_ptr<FILE, FileCloser> out(std::fopen(path.c_str(), "w"));
    if (!out || PEM_write_X509_CRL(out.get(), crl.get()) != 1)
      return Status::io("cannot write " + path);
  }
  ERR_clear_error();  // the read that ended the loop left "no start line" behind
  if (per_issuer.empty()) return Status::io("no PEM CRL in " + crl_file);
  return Status::ok();
}

}  // namespace outpost::transport
