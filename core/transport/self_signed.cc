#include "core/transport/self_signed.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace outpost::transport {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;

void close_file(FILE* f) { std::fclose(f); }
using File = std::unique_ptr<FILE, Deleter<FILE, close_file>>;

bool is_ip(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

// True when cert and key at the paths load, belong together and the certificate is still valid
// for at least a day.
bool usable(const CertFiles& f) {
  File cf(std::fopen(f.cert_file.c_str(), "r"));
  File kf(std::fopen(f.key_file.c_str(), "r"));
  if (!cf || !kf) return false;
  Cert cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
  Key key(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
  if (!cert || !key || X509_check_private_key(cert.get(), key.get()) != 1) return false;
  time_t tomorrow = time(nullptr) + 86400;
  return X509_cmp_time(X509_get0_notAfter(cert.get()), &tomorrow) > 0;
}

Status write_pem(const std::string& path, const std::function<int(FILE*)>& write) {
  File f(std::fopen(path.c_str(), "w"));
  if (!f) return Status::io("cannot create " + path);
  if (chmod(path.c_str(), 0600) != 0) return Status::io("cannot chmod " + path);
  if (write(f.get()) != 1) return Status::io("cannot write " + path);
  if (std::fflush(f.get()) != 0) return Status::io("cannot write " + path);
  return Status::ok();
}

}  // namespace

Result<CertFiles> make_self_signed(const std::string& dir, const std::vector<std::string>& hosts,
                                   int valid_days) {
  CertFiles files{dir + "/cert.pem", dir + "/key.pem"};
  if (usable(files)) return files;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io("cannot create " + dir + ": " + ec.message());

  Key key(EVP_EC_gen("P-256"));
  if (!key) return Status::internal("cannot generate a P-256 key");
  Cert cert(X509_new());
  if (!cert) return Status::internal("cannot allocate a certificate");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Status::internal("no random bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(valid_days) * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("outpost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);

  std::string san;
  for (const auto& h : hosts) {
    if (h.empty()) continue;
    san += (san.empty() ? "" : ",") + std::string(is_ip(h) ? "IP:" : "DNS:") + h;
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, "serverAuth,clientAuth"}};
  if (!san.empty()) exts.push_back({NID_subject_alt_name, san});
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return Status::internal("bad certificate extension " + value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return Status::internal("cannot sign the certificate");

  Status st = write_pem(files.key_file, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!st.is_ok()) return st;
  st = write_pem(files.cert_file, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
  if (!st.is_ok()) return st;
  return files;
}

}  // namespace outpost::transport
