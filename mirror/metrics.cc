#include "mirror/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace outpost::mirror {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Metrics::update_lag() {
  if (lag_revisions() > 0) {
    int64_t zero = 0;
    lag_since_ms.compare_exchange_strong(zero, steady_ms());
  } else {
    lag_since_ms.store(0);
  }
}

int64_t Metrics::lag_revisions() const {
  const int64_t d = source_revision.load() - mirrored_revision.load();
  return d > 0 ? d : 0;
}

double Metrics::lag_seconds() const {
  const int64_t since = lag_since_ms.load();
  return since == 0 ? 0.0 : static_cast<double>(steady_ms() - since) / 1000.0;
}

std::string Metrics::prometheus() const {
  std::string out;
  auto add = [&](const char* name, const char* type, const char* help, const std::string& v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + v + "\n";
  };
  add("outpost_mirror_source_revision", "gauge", "Latest revision seen at the source.",
      std::to_string(source_revision.load()));
  add("outpost_mirror_mirrored_revision", "gauge",
      "Last source revision written to the destination (the checkpoint).",
      std::to_string(mirrored_revision.load()));
  add("outpost_mirror_lag_revisions", "gauge", "source_revision - mirrored_revision.",
      std::to_string(lag_revisions()));
  add("outpost_mirror_lag_seconds", "gauge", "How long the destination has been behind.",
      std::to_string(lag_seconds()));
  add("outpost_mirror_events_total", "counter", "Source events written to the destination.",
      std::to_string(events_total.load()));
  add("outpost_mirror_reconnects_total", "counter", "Reconnects to the source or destination.",
      std::to_string(reconnects_total.load()));
  return out;
}

MetricsServer::~MetricsServer() { stop(); }

std::string MetricsServer::start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return "metrics_listen: expected host:port, got \"" + listen + "\"";
  std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.substr(colon + 1).c_str());
  if (port <= 0 || port > 65535) return "metrics_listen: invalid port in \"" + listen + "\"";
  if (host.empty() || host == "localhost") host = host.empty() ? "0.0.0.0" : "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return "metrics_listen: expected an IPv4 address, got \"" + host + "\"";
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) {
    std::string err = "metrics_listen: cannot listen on " + listen + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return err;
  }
  thread_ = std::thread([this] { serve(); });
  return "";
}

void MetricsServer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void MetricsServer::serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req;
    char buf[1024];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    std::string status = "200 OK", body;
    if (req.rfind("GET /metrics", 0) == 0) {
      body = metrics_.prometheus();
    } else {
      status = "404 Not Found";
      body = "only GET /metrics is served here\n";
    }
    const std::string resp = "HTTP/1.1 " + status +
                             "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    size_t off = 0;
    while (off < resp.size()) {
      const ssize_t n = ::send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(c);
  }
}

}  // namespace outpost::mirror
