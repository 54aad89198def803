#pragma once
// ClientRelay: carries client connections, byte for byte, to a loopback port of this process.
//
// Why. etcd serves http:// and https:// on one port when both URLs name it (cmux). Here the
// ClientListener (client_listener.h) owns such a port and classifies each connection by its
// first bytes; a TLS connection (a handshake record, 0x16) must reach gRPC's TLS server, and gRPC
// 1.51 takes a connected socket with insecure credentials only (tls.h). So gRPC listens with its
// TLS credentials on an internal 127.0.0.1 port of its own and the relay joins each TLS
// connection to it. TLS stays gRPC's end to end (client certificates, the CN of
// --client-cert-auth), the relay sees ciphertext only. Ports that are TLS only keep gRPC's own
// listener and no relay: the relay costs a copy each way and is paid only on a shared port.
//
// Threads. One thread ("client-relay") polls every relayed pair; sockets are non-blocking, each
// direction has a bounded buffer (a full buffer stops reading that side: back-pressure, not
// memory), half-closes are passed on (shutdown(SHUT_WR) once the buffer is drained) and a pair is
// closed when both directions ended or either side failed.
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace outpost::api {

class ClientRelay {
 public:
  // Connections are joined to 127.0.0.1:target_port.
  explicit ClientRelay(int target_port);
  ~ClientRelay();  // stop()
  ClientRelay(const ClientRelay&) = delete;
  ClientRelay& operator=(const ClientRelay&) = delete;

  void start();
  // Takes ownership of a connected client socket (any thread). Bytes the client has sent and
  // nobody consumed yet (MSG_PEEK only) are carried too.
  void add(int client_fd);
  // Closes every relayed connection and joins the thread. Idempotent.
  void stop();
  // Pairs open now (tests).
  size_t open_pairs() const { return open_.load(); }

 private:
  struct Pair;
  void loop();
  void wake();

  const int target_port_;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::vector<int> incoming_;  // client sockets not yet joined
  bool stopping_ = false;
  std::atomic<size_t> open_{0};
  std::thread thread_;
};

}  // namespace outpost::api
