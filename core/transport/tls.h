#pragma once
// TLS for peer connections (etcd's --peer-* security flags), through OpenSSL; OpenSSL stays
// inside core/transport (DESIGN.md): callers see TlsOptions and an opaque TlsContext.
//
// TlsContext holds the two OpenSSL contexts of a member: the server side (the peer listener)
// and the client side (dialling peers). Built once from TlsOptions, immutable afterwards, shared
// by the transport and the blocking streams (snapshots, join queries) on any thread.
//
// TlsSession is one connection's TLS state. Two ways to move its bytes:
//   - memory BIOs (libuv streams): feed() what the socket delivered, call handshake() / read(),
//     write() plaintext, and send what take_output() returns. No I/O of its own.
//   - a blocking socket (send_snapshot, query_cluster): attach(fd), then handshake(), read(),
//     write() do the I/O themselves and honour the socket's SO_RCVTIMEO / SO_SNDTIMEO.
// Verification as Go's crypto/tls does it for etcd: the client checks the server's chain against
// trusted_ca_file (system roots when empty) and the peer URL's host (IP SAN for an IP literal,
// DNS SAN otherwise); the server asks for and verifies a client certificate only with
// client_cert_auth, then checks allowed_cn and crl_file against it. skip_verify (auto TLS):
// neither side verifies anything (etcd's behaviour with --peer-auto-tls).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/common/status.h"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;
struct x509_store_ctx_st;

namespace outpost::transport {

struct TlsOptions {
  std::string cert_file;          // PEM certificate this member presents (both directions)
  std::string key_file;           // its PEM private key
  std::string trusted_ca_file;    // PEM CA bundle peers are verified against; "": system roots
  std::string crl_file;           // PEM CRL: inbound client certificates it lists are refused
  std::string allowed_cn;         // inbound client certificates must have this CN; "": any
  bool client_cert_auth = false;  // inbound: require and verify a client certificate
  bool skip_verify = false;       // auto TLS: verify no peer certificate at all
  // Inbound: a client certificate with IP or DNS SANs must name the connecting address (etcd's
  // checkSAN) unless this is set (--experimental-peer-skip-client-san-verification).
  bool skip_client_san_verify = false;
  // --cipher-suites: OpenSSL's names of the TLS 1.2 suites allowed, ':'-separated; "": OpenSSL's
  // defaults. (TLS 1.3 suites are not restricted, as in Go.)
  std::string cipher_list;
  bool tls13_only = false;  // --tls-min-version TLS1.3
};

class TlsContext {
 public:
  // Loads the files; an error names the file and OpenSSL's reason.
  static Result<std::shared_ptr<const TlsContext>> create(const TlsOptions& opts);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsOptions& options() const { return opts_; }

 private:
  friend class TlsSession;
  friend int tls_verify_client(int ok, x509_store_ctx_st* x);
  TlsContext() = default;
  TlsOptions opts_;
  ssl_ctx_st* server_ = nullptr;
  ssl_ctx_st* client_ = nullptr;
  void* crls_ = nullptr;  // STACK_OF(X509_CRL) from crl_file
};

class TlsSession {
 public:
  enum class Role { kClient, kServer };
  enum class Step {
    kDone,    // handshake complete / the call did all it could
    kWant,    // needs more bytes from the peer (memory BIOs), nothing wrong
    kClosed,  // the peer closed the TLS session cleanly
    kError,   // see error()
  };

  // host: the peer URL's host a client verifies the server's certificate against (unused by a
  // server).
  TlsSession(const TlsContext& ctx, Role role, const std::string& host = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Blocking mode: the session reads and writes fd itself (call before anything else).
  void attach(int fd);

  // Memory mode: bytes received from the socket.
  void feed(const char* data, size_t n);
  // Memory mode: moves the bytes to send to the peer into *out (appending); false when none.
  bool take_output(std::string* out);

  Step handshake();
  bool handshake_done() const { return done_; }
  // Appends all plaintext available to *out (memory mode) or up to max bytes (blocking mode,
  // waits for at least one).
  Step read(std::string* out, size_t max = 1 << 16);
  // Encrypts data; memory mode: the records wait in take_output(); blocking: sent. False when it
  // failed (see error()).
  bool write(const char* data, size_t n);
  // Memory mode: write() then take_output(out), in pieces, so the memory BIO never holds more
  // than one piece (it grows by copying). False when it failed (see error()).
  bool seal(const char* data, size_t n, std::string* out);
  // Sends a close_notify (queued in memory mode).
  void shutdown();

  // Server side, after the handshake: whether the client's certificate (if it sent one) is valid
  // for remote_ip, the address the connection comes from, as etcd checks an inbound TLS
  // connection: a certificate without IP or DNS SANs passes; else remote_ip must match an IP SAN,
  // or a name it reverse-resolves to must match a DNS SAN ("*." wildcards). The error is Go's
  // wording. The reverse lookup blocks: it happens only for certificates with DNS SANs and no
  // matching IP SAN.
  Status check_client_san(const std::string& remote_ip) const;

  // Why the last step failed, e.g. "certificate verify failed: unable to get local issuer
  // certificate".
  const std::string& error() const { return error_; }

 private:
  Step fail(int rc, const char* what);
  bool flush_fd();  // blocking mode: sends take_output()
  bool fill_fd();   // blocking mode: receives once and feeds
  ssl_st* ssl_ = nullptr;
  int fd_ = -1;
  std::string scratch_;    // blocking mode: the ciphertext being sent
  bio_st* in_ = nullptr;   // memory mode: ciphertext from the peer
  bio_st* out_ = nullptr;  // memory mode: ciphertext to the peer
  bool done_ = false;
  std::string error_;
};

// Whether the first bytes of a connection can be a TLS record (a handshake record: 0x16).
inline bool looks_like_tls(std::string_view first) {
  return !first.empty() && static_cast<unsigned char>(first[0]) == 0x16;
}

}  // namespace outpost::transport
