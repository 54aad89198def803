#include "core/transport/tls.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace outpost::transport {
namespace {

// The first reason on OpenSSL's error queue (a system error as strerror: "No such file or
// directory"), and the queue emptied.
std::string openssl_reason() {
  std::string why;
  while (const unsigned long e = ERR_get_error()) {
    if (!why.empty()) continue;
    if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
      why = std::strerror(ERR_GET_REASON(e));
    } else if (const char* r = ERR_reason_error_string(e)) {
      why = r;
    }
  }
  return why.empty() ? "unknown OpenSSL error" : why;
}

bool is_ip(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i < 0) return {};
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     size_t(ASN1_STRING_length(s)));
}

}  // namespace

// Inbound client certificates, once their chain verified: allowed_cn (etcd: "CommonName
// authentication failed") and the CRL (revoked serial numbers), checked on the leaf only as etcd
// does.
int tls_verify_client(int ok, X509_STORE_CTX* x) {
  if (!ok || X509_STORE_CTX_get_error_depth(x) != 0) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* ctx = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  X509* cert = X509_STORE_CTX_get_current_cert(x);
  if (!ctx || !cert) return ok;
  if (!ctx->options().allowed_cn.empty() && common_name(cert) != ctx->options().allowed_cn) {
    X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  if (auto* crls = static_cast<STACK_OF(X509_CRL)*>(ctx->crls_)) {
    for (int i = 0; i < sk_X509_CRL_num(crls); ++i) {
      X509_REVOKED* rev = nullptr;
      if (X509_CRL_get0_by_serial(sk_X509_CRL_value(crls, i), &rev, X509_get_serialNumber(cert)) ==
          1) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
        return 0;
      }
    }
  }
  return 1;
}

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const TlsOptions& opts) {
  std::shared_ptr<TlsContext> c(new TlsContext);
  c->opts_ = opts;
  auto fail = [](const std::string& what) -> Status {
    return Status::io(what + ": " + openssl_reason());
  };
  for (bool server : {true, false}) {
    SSL_CTX* x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!x) return fail("cannot create a TLS context");
    (server ? c->server_ : c->client_) = x;
    SSL_CTX_set_app_data(x, c.get());
    SSL_CTX_set_min_proto_version(x, opts.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (!opts.cipher_list.empty() && SSL_CTX_set_cipher_list(x, opts.cipher_list.c_str()) != 1)
      return fail("--cipher-suites: OpenSSL accepts none of " + opts.cipher_list);
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION);
    if (!opts.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(x, opts.cert_file.c_str()) != 1)
        return fail("cannot load peer certificate " + opts.cert_file);
      if (SSL_CTX_use_PrivateKey_file(x, opts.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        return fail("cannot load peer key " + opts.key_file);
      if (SSL_CTX_check_private_key(x) != 1)
        return fail("peer key " + opts.key_file + " does not match " + opts.cert_file);
    }
    const bool verify = !opts.skip_verify && (!server || opts.client_cert_auth);
    if (verify) {
      if (!opts.trusted_ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(x, opts.trusted_ca_file.c_str(), nullptr) != 1)
          return fail("cannot load peer trusted CA file " + opts.trusted_ca_file);
      } else {
        SSL_CTX_set_default_verify_paths(x);
      }
    }
    if (server) {
      SSL_CTX_set_num_tickets(x, 0);  // members never resume sessions
      SSL_CTX_set_verify(x, verify ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0,
                         verify ? tls_verify_client : nullptr);
    } else {
      SSL_CTX_set_verify(x, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    }
  }
  if (!opts.crl_file.empty()) {
    FILE* f = std::fopen(opts.crl_file.c_str(), "r");
    if (!f)
      return Status::io("cannot open peer CRL file " + opts.crl_file + ": " + std::strerror(errno));
    auto* crls = sk_X509_CRL_new_null();
    c->crls_ = crls;
    while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr))
      sk_X509_CRL_push(crls, crl);
    std::fclose(f);
    ERR_clear_error();  // the read that ended the loop
    if (sk_X509_CRL_num(crls) == 0)
      return Status::io("peer CRL file " + opts.crl_file + " holds no PEM CRL");
  }
  return std::shared_ptr<const TlsContext>(std::move(c));
}

TlsContext::~TlsContext() {
  SSL_CTX_free(server_);
  SSL_CTX_free(client_);
  if (crls_) sk_X509_CRL_pop_free(static_cast<STACK_OF(X509_CRL)*>(crls_), X509_CRL_free);
}

TlsSession::TlsSession(const TlsContext& ctx, Role role, const std::string& host) {
  ssl_ = SSL_new(role == Role::kServer ? ctx.server_ : ctx.client_);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty: "want more", not end of stream
  SSL_set_bio(ssl_, in_, out_);     // the SSL owns both
  if (role == Role::kServer) {
    SSL_set_accept_state(ssl_);
    return;
  }
  if (!host.empty()) {
    const bool ip = is_ip(host);
    if (!ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (!ctx.opts_.skip_verify) {
      if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
      else
        SSL_set1_host(ssl_, host.c_str());
    }
  }
  SSL_set_connect_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::attach(int fd) { fd_ = fd; }

void TlsSession::feed(const char* data, size_t n) {
  if (n > 0) BIO_write(in_, data, int(n));
}

bool TlsSession::take_output(std::string* out) {
  // Appended straight from the BIO's buffer, which is then emptied: one copy, no zero fill.
  char* data = nullptr;
  const long n = BIO_get_mem_data(out_, &data);
  if (n <= 0) return false;
  out->append(data, size_t(n));
  (void)BIO_reset(out_);
  return true;
}

TlsSession::Step TlsSession::fail(int rc, const char* what) {
  const int e = SSL_get_error(ssl_, rc);
  switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return Step::kWant;
    case SSL_ERROR_ZERO_RETURN: return Step::kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        error_ = std::string(what) + ": connection closed";
        return Step::kError;
      }
      [[fallthrough]];
    default: {
      error_ = openssl_reason();
      const long v = SSL_get_verify_result(ssl_);
      if (v == X509_V_ERR_APPLICATION_VERIFICATION)
        error_ += ": CommonName authentication failed";
      else if (v != X509_V_OK)
        error_ += std::string(": ") + X509_verify_cert_error_string(v);
      return Step::kError;
    }
  }
}

bool TlsSession::flush_fd() {
  std::string& o = scratch_;
  o.clear();
  if (!take_output(&o)) return true;
  size_t off = 0;
  while (off < o.size()) {
    const ssize_t n = ::send(fd_, o.data() + off, o.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      error_ = std::string("send: ") + (n < 0 ? std::strerror(errno) : "connection closed");
      return false;
    }
    off += size_t(n);
  }
  return true;
}

bool TlsSession::fill_fd() {
  char buf[16 * 1024];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n > 0) {
    feed(buf, size_t(n));
    return true;
  }
  if (n == 0)
    error_ = done_ ? "connection closed by peer" : "connection closed during the TLS handshake";
  else
    error_ = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : std::strerror(errno);
  return false;
}

TlsSession::Step TlsSession::handshake() {
  for (;;) {
    Step s = Step::kDone;
    if (!done_) {
      ERR_clear_error();
      const int rc = SSL_do_handshake(ssl_);
      if (rc == 1)
        done_ = true;
      else
        s = fail(rc, "TLS handshake");
    }
    if (fd_ < 0) return s;
    if (!flush_fd() && s != Step::kError) return Step::kError;
    if (s != Step::kWant) return s;
    if (!fill_fd()) return Step::kError;
  }
}

TlsSession::Step TlsSession::read(std::string* out, size_t max) {
  const size_t start = out->size();
  for (;;) {
    const size_t old = out->size();
    const size_t room = fd_ < 0 ? size_t(16 * 1024) : max - (old - start);
    out->resize(old + room);
    size_t got = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_, out->data() + old, room, &got);
    out->resize(old + got);
    if (rc == 1) {
      if (fd_ >= 0 && out->size() - start >= max) return Step::kDone;
      continue;
    }
    const Step s = fail(rc, "TLS read");
    if (fd_ < 0) return s;
    if (!flush_fd()) return Step::kError;
    if (s != Step::kWant) return s;
    if (out->size() > start) return Step::kDone;
    if (!fill_fd()) return Step::kError;
  }
}

bool TlsSession::write(const char* data, size_t n) {
  while (n > 0) {
    size_t wrote = 0;
    ERR_clear_error();
    // Blocking mode sends as it goes: the memory BIO holds one piece at a time.
    const size_t piece = fd_ >= 0 && n > 64 * 1024 ? 64 * 1024 : n;
    const int rc = SSL_write_ex(ssl_, data, piece, &wrote);
    if (rc != 1) {
      fail(rc, "TLS write");
      if (error_.empty()) error_ = "TLS write failed";
      return false;
    }
    data += wrote;
    n -= wrote;
    if (fd_ >= 0 && !flush_fd()) return false;
  }
  return true;
}

bool TlsSession::seal(const char* data, size_t n, std::string* out) {
  constexpr size_t kPiece = 64 * 1024;
  while (n > 0) {
    const size_t k = n < kPiece ? n : kPiece;
    if (!write(data, k)) return false;
    take_output(out);
    data += k;
    n -= k;
  }
  return true;
}

Status TlsSession::check_client_san(const std::string& remote_ip) const {
  X509* cert = SSL_get_peer_certificate(ssl_);
  if (!cert) return Status::ok();
  std::vector<std::string> ips, dns;
  bool ip_match = false;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                       size_t(ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      const int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "";
      inet_ntop(len == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(n->d.iPAddress), text,
                sizeof text);
      ips.emplace_back(text);
    }
  }
  if (names) GENERAL_NAMES_free(names);
  if (!ips.empty()) ip_match = X509_check_ip_asc(cert, remote_ip.c_str(), 0) == 1;
  X509_free(cert);
  if ((ips.empty() && dns.empty()) || ip_match) return Status::ok();
  if (dns.empty()) {
    std::string valid;
    for (const auto& ip : ips) valid += (valid.empty() ? "" : ", ") + ip;
    return Status::io("x509: certificate is valid for " + valid + ", not " + remote_ip);
  }
  // The names the address reverse-resolves to, against the DNS SANs.
  sockaddr_storage sa{};
  socklen_t len = 0;
  if (inet_pton(AF_INET, remote_ip.c_str(), &reinterpret_cast<sockaddr_in*>(&sa)->sin_addr) == 1) {
    sa.ss_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, remote_ip.c_str(),
                       &reinterpret_cast<sockaddr_in6*>(&sa)->sin6_addr) == 1) {
    sa.ss_family = AF_INET6;
    len = sizeof(sockaddr_in6);
  }
  char host[NI_MAXHOST] = "";
  std::string lookup_error;
  if (len == 0 || getnameinfo(reinterpret_cast<sockaddr*>(&sa), len, host, sizeof host, nullptr, 0,
                              NI_NAMEREQD) != 0) {
    lookup_error = " (lookup " + remote_ip + ": no name)";
  } else {
    std::string name = host;
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (const auto& d : dns) {
      if (d == name) return Status::ok();
      if (d.rfind("*.", 0) == 0 && name.size() > d.size() - 1 &&
          name.compare(name.size() - (d.size() - 1), d.size() - 1, d, 1) == 0)
        return Status::ok();
    }
  }
  std::string list;
  for (const auto& d : dns) list += (list.empty() ? "" : " ") + ("\"" + d + "\"");
  return Status::io("tls: \"" + remote_ip + "\" does not match any of DNSNames [" + list + "]" +
                    lookup_error);
}

void TlsSession::shutdown() {
  ERR_clear_error();
  if (done_) SSL_shutdown(ssl_);
  ERR_clear_error();
  if (fd_ >= 0) (void)flush_fd();
}

}  // namespace outpost::transport
