#include "core/api/client_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/common/log.h"

namespace outpost::api {

namespace {

constexpr size_t kBufferCap = 256 * 1024;  // per direction; full: stop reading that side
constexpr size_t kChunk = 64 * 1024;

// One direction of a pair: bytes read from one side, not yet written to the other.
struct Flow {
  std::string buf;
  size_t off = 0;  // buf[0, off) already written
  bool eof = false;
  bool shut = false;  // SHUT_WR passed on to the receiving side
  size_t pending() const { return buf.size() - off; }
};

// Reads what is there; false when the side failed.
bool pull(int fd, Flow& f) {
  char chunk[kChunk];
  while (!f.eof && f.pending() < kBufferCap) {
    const ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      if (f.off == f.buf.size()) f.buf.clear(), f.off = 0;
      f.buf.append(chunk, size_t(n));
      continue;
    }
    if (n == 0) {
      f.eof = true;
      break;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

// Writes what it can, then passes a half-close on once drained; false when the side failed.
bool push(int fd, Flow& f) {
  while (f.pending() > 0) {
    const ssize_t n = send(fd, f.buf.data() + f.off, f.pending(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      f.off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  f.buf.clear();
  f.off = 0;
  if (f.eof && !f.shut) {
    ::shutdown(fd, SHUT_WR);
    f.shut = true;
  }
  return true;
}

}  // namespace

struct ClientRelay::Pair {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  Flow up;    // client → upstream
  Flow down;  // upstream → client
  ~Pair() {
    if (client >= 0) ::close(client);
    if (upstream >= 0) ::close(upstream);
  }
  bool finished() const { return up.shut && down.shut; }
};

ClientRelay::ClientRelay(int target_port) : target_port_(target_port) {}

ClientRelay::~ClientRelay() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ClientRelay::start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { loop(); });
}

void ClientRelay::add(int client_fd) {
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      incoming_.push_back(client_fd);
      client_fd = -1;
    }
  }
  if (client_fd >= 0) ::close(client_fd);
  wake();
}

void ClientRelay::stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (wake_fd_ >= 0) wake();
  if (thread_.joinable()) thread_.join();
  for (int fd : incoming_) ::close(fd);
  incoming_.clear();
}

void ClientRelay::wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void ClientRelay::loop() {
  pthread_setname_np(pthread_self(), "client-relay");
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<pollfd> pfds;
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(uint16_t(target_port_));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (true) {
    std::vector<int> fresh;
    {
      std::lock_guard l(mu_);
      if (stopping_) break;
      fresh.swap(incoming_);
    }
    for (int fd : fresh) {
      auto p = std::make_unique<Pair>();
      p->client = fd;
      p->upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const int one = 1;
      if (p->upstream >= 0) setsockopt(p->upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (p->upstream < 0 ||
          (connect(p->upstream, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0 &&
           errno != EINPROGRESS)) {
        OUTPOST_LOG(kWarn, "cannot relay a TLS client connection to the TLS server",
                    log::kv("port", target_port_), log::kv("error", strerror(errno)));
        continue;  // p closes both
      }
      pairs.push_back(std::move(p));
    }
    open_ = pairs.size();

    pfds.clear();
    pfds.push_back({wake_fd_, POLLIN, 0});
    for (const auto& p : pairs) {
      short c = 0, u = 0;
      if (!p->up.eof && p->up.pending() < kBufferCap) c |= POLLIN;
      if (p->down.pending() > 0) c |= POLLOUT;
      if (p->connecting) {
        u = POLLOUT;
      } else {
        if (!p->down.eof && p->down.pending() < kBufferCap) u |= POLLIN;
        if (p->up.pending() > 0) u |= POLLOUT;
      }
      pfds.push_back({p->client, c, 0});
      pfds.push_back({p->upstream, u, 0});
    }
    if (::poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR) {
      OUTPOST_LOG(kError, "client relay poll failed", log::kv("error", strerror(errno)));
      break;
    }
    if (pfds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      Pair& p = *pairs[i];
      const short cev = pfds[1 + 2 * i].revents, uev = pfds[2 + 2 * i].revents;
      bool ok = true;
      if (p.connecting && uev != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
        p.connecting = !ok;
        if (!ok)
          OUTPOST_LOG(kWarn, "cannot relay a TLS client connection to the TLS server",
                      log::kv("port", target_port_), log::kv("error", strerror(err)));
      }
      if (ok && cev != 0) ok = pull(p.client, p.up);
      if (ok && !p.connecting && uev != 0) ok = pull(p.upstream, p.down);
      if (ok && !p.connecting) ok = push(p.upstream, p.up);
      if (ok) ok = push(p.client, p.down);
      if (!ok || p.finished()) pairs[i].reset();
    }
    std::erase(pairs, nullptr);
  }
  open_ = 0;
}

}  // namespace outpost::api
