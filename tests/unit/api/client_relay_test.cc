// ClientRelay: bytes both ways, half-closes passed on, a refused upstream closes the client.
#include "core/api/client_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

using outpost::api::ClientRelay;

namespace {

// A loopback listener on a free port.
int listen_loopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 8) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Reads until EOF (or 10 s without a byte).
std::string read_to_eof(int fd) {
  std::string out;
  char buf[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) break;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

}  // namespace

TEST_CASE("the relay carries bytes both ways and passes half-closes on", "[api][relay]") {
  int port = 0;
  const int lfd = listen_loopback(&port);
  // Upstream: reads everything to EOF, then answers with what it read, reversed, and closes.
  std::string upstream_got;
  std::thread upstream([&] {
    const int c = accept(lfd, nullptr, nullptr);
    upstream_got = read_to_eof(c);
    const std::string answer(upstream_got.rbegin(), upstream_got.rend());
    write_all(c, answer);
    close(c);
  });
  ClientRelay relay(port);
  relay.start();
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  relay.add(sv[1]);
  // More than the relay buffers (256 KiB a direction): back-pressure must not lose bytes.
  std::string sent(3 * 1024 * 1024 + 7, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = char('a' + i % 23);
  sent[0] = '\x16';  // what a TLS client sends first; the relay does not look
  std::thread writer([&] {
    CHECK(write_all(sv[0], sent));
    shutdown(sv[0], SHUT_WR);
  });
  const std::string back = read_to_eof(sv[0]);
  writer.join();
  upstream.join();
  CHECK(upstream_got == sent);
  CHECK(back == std::string(sent.rbegin(), sent.rend()));
  close(sv[0]);
  close(lfd);
  relay.stop();
  CHECK(relay.open_pairs() == 0);
}

TEST_CASE("a refused upstream closes the client connection", "[api][relay]") {
  int port = 0;
  close(listen_loopback(&port));  // nothing listens there now
  ClientRelay relay(port);
  relay.start();
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  relay.add(sv[1]);
  pollfd p{sv[0], POLLIN, 0};
  REQUIRE(poll(&p, 1, 10000) == 1);  // closed, not left hanging
  char b;
  CHECK(read(sv[0], &b, 1) == 0);
  close(sv[0]);
  relay.stop();
}

TEST_CASE("stop closes relayed connections", "[api][relay]") {
  int port = 0;
  const int lfd = listen_loopback(&port);
  ClientRelay relay(port);
  relay.start();
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  relay.add(sv[1]);
  const int up = accept(lfd, nullptr, nullptr);
  REQUIRE(up >= 0);
  relay.stop();
  char b;
  CHECK(read(sv[0], &b, 1) == 0);  // the relay's end is closed
  CHECK(read(up, &b, 1) == 0);
  close(up);
  close(sv[0]);
  close(lfd);
}
