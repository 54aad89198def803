#include "core/api/client_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include "core/common/log.h"

namespace outpost::api {

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// "PRI " begins no HTTP/1 request we serve, so this much of the preface settles it.
constexpr size_t kPrefaceDecisive = 4;
// Bytes of a preface split across segments: look again this soon (the peeked bytes stay readable,
// so waiting for POLLIN would spin).
constexpr auto kRecheck = std::chrono::milliseconds(2);
constexpr size_t kReadChunk = 16 * 1024;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

std::string http_date() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

bool split_host_port(const std::string& addr, std::string* host, std::string* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  *host = addr.substr(0, colon);
  *port = addr.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  return !port->empty();
}

int bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// Binds every address host:port resolves to (port 0: the first picks, the rest follow). Appends
// the sockets to *fds and returns the port; 0 with nothing appended when one cannot be bound.
int bind_all(const std::string& host, const std::string& port, std::vector<int>* fds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0) return 0;
  const bool several = res && res->ai_next;
  std::vector<int> bound;
  int chosen = 0;
  bool failed = false;
  for (addrinfo* ai = res; ai && !failed; ai = ai->ai_next) {
    if (chosen != 0 && ai->ai_family == AF_INET)
      reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_port = htons(uint16_t(chosen));
    if (chosen != 0 && ai->ai_family == AF_INET6)
      reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_port = htons(uint16_t(chosen));
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Both wildcards from one name: the IPv6 socket must leave IPv4 to the other.
    if (several && ai->ai_family == AF_INET6)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      const int err = errno;
      ::close(fd);
      // A family the host lacks (no IPv6 in a container) is no failure; a taken port is.
      failed = err != EADDRNOTAVAIL && err != EAFNOSUPPORT;
      continue;
    }
    if (chosen == 0) chosen = bound_port(fd);
    bound.push_back(fd);
  }
  freeaddrinfo(res);
  if (failed || bound.empty()) {
    for (int fd : bound) ::close(fd);
    return 0;
  }
  fds->insert(fds->end(), bound.begin(), bound.end());
  return chosen;
}

using HeaderLines = std::vector<std::pair<std::string, std::string>>;

// The status line and the header lines every answer has; a handler's own lines around
// Content-Type in name order, as Go's net/http sorts its header map.
std::string render_head(int status, const std::string& content_type, const HeaderLines& extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  for (const auto& [name, value] : extra)
    if (name < "Content-Type") out += name + ": " + value + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  for (const auto& [name, value] : extra)
    if (!(name < "Content-Type")) out += name + ": " + value + "\r\n";
  if (content_type.starts_with("text/plain")) out += "X-Content-Type-Options: nosniff\r\n";
  out += "Date: " + http_date() + "\r\n";
  return out;
}

std::string render(int status, const std::string& content_type, const std::string& body,
                   bool keep_alive, bool http10, bool head_only, const HeaderLines& extra = {}) {
  std::string out = render_head(status, content_type, extra);
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive)
    out += "Connection: close\r\n";
  else if (http10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

std::string render_error(int status) {
  return render(status, "text/plain; charset=utf-8", std::to_string(status) + " " + reason(status),
                false, false, false);
}

}  // namespace

struct ClientListener::Conn {
  int fd = -1;
  bool http = false;           // classified as HTTP/1 (else still sniffing)
  bool continue_sent = false;  // "100 Continue" already sent for the request being read
  std::string in;              // read, not yet taken as a request
  size_t scanned = 0;          // in[0, scanned) holds no end of head
  Clock::time_point deadline;
  Clock::time_point recheck{};  // a partial preface: peek again then, without POLLIN

  explicit Conn(int f) : fd(f) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return &v;
  return nullptr;
}

struct ClientListener::Request : HttpRequest {
  bool http10 = false;
  bool keep_alive = true;
};

// A streamed answer in progress: the thread that runs the producer.
struct ClientListener::StreamSlot {
  std::thread thread;
  std::atomic<bool> done{false};
};

struct ClientListener::Job {
  std::unique_ptr<Conn> conn;
  Request req;
  int error = 0;  // nonzero: answer this status and close
};

ClientListener::ClientListener(HttpRoutes routes, std::function<void(int fd)> on_grpc,
                               ClientListenerOptions opts)
    : routes_(std::move(routes)), on_grpc_(std::move(on_grpc)), opts_(opts) {}

ClientListener::~ClientListener() {
  stop();
  for (int fd : listen_fds_) ::close(fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool ClientListener::listen(const std::vector<std::string>& addrs, std::string* error) {
  for (const auto& a : addrs) {
    std::string host, port;
    const int p = split_host_port(a, &host, &port) ? bind_all(host, port, &listen_fds_) : 0;
    if (p == 0) {
      *error = "cannot listen for clients on " + a + " (address in use?)";
      for (int fd : listen_fds_) ::close(fd);
      listen_fds_.clear();
      ports_.clear();
      return false;
    }
    ports_.push_back(p);
  }
  return true;
}

void ClientListener::start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  poll_thread_ = std::thread([this] { poll_loop(); });
  for (int i = 0; i < std::max(1, opts_.http_threads); ++i)
    http_threads_.emplace_back([this] { http_loop(); });
}

void ClientListener::stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  if (wake_fd_ >= 0) wake();
  if (poll_thread_.joinable()) poll_thread_.join();
  for (auto& t : http_threads_) t.join();
  http_threads_.clear();
  // Producers see gone() and end; no stream starts once stopping_ is set.
  for (auto& s : streams_) s->thread.join();
  streams_.clear();
  // The threads are gone: what is left in the queues is closed here.
  jobs_.clear();
  returned_.clear();
  waiting_.clear();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
}

void ClientListener::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void ClientListener::poll_loop() {
  pthread_setname_np(pthread_self(), "client-listen");
  std::vector<pollfd> pfds;
  while (!stopping_) {
    {
      std::lock_guard l(mu_);
      for (auto& c : returned_) waiting_.push_back(std::move(c));
      returned_.clear();
    }
    auto now = Clock::now();
    std::erase_if(waiting_, [&](const std::unique_ptr<Conn>& c) { return c->deadline <= now; });

    pfds.clear();
    pfds.push_back({wake_fd_, POLLIN, 0});
    for (int fd : listen_fds_) pfds.push_back({fd, POLLIN, 0});
    auto next = now + std::chrono::seconds(1);
    for (const auto& c : waiting_) {
      const bool rechecking = c->recheck > now;
      pfds.push_back({c->fd, short(rechecking ? 0 : POLLIN), 0});
      next = std::min(next, rechecking ? std::min(c->recheck, c->deadline) : c->deadline);
    }
    const auto timeout = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    if (::poll(pfds.data(), pfds.size(), int(std::max<int64_t>(0, timeout))) < 0 &&
        errno != EINTR) {
      OUTPOST_LOG(kError, "client listener poll failed", log::kv("error", strerror(errno)));
      return;
    }
    if (pfds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    now = Clock::now();
    const size_t first_conn = 1 + listen_fds_.size();
    // The waiting set only grows below (accepts append), so pfds[first_conn + i] is waiting_[i].
    const size_t polled = waiting_.size();
    for (size_t i = 1; i < first_conn; ++i)
      if (pfds[i].revents & POLLIN) accept_all(pfds[i].fd, now);
    for (size_t i = 0; i < polled; ++i) {
      auto& c = waiting_[i];
      const bool due = c->recheck != Clock::time_point{} && c->recheck <= now;
      const short ev = pfds[first_conn + i].revents;
      if ((ev != 0 || due) && !on_readable(c, ev, now)) c.reset();
    }
    std::erase(waiting_, nullptr);
  }
}

void ClientListener::accept_all(int listen_fd, Clock::time_point now) {
  while (true) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        OUTPOST_LOG(kWarn, "cannot accept client connection", log::kv("error", strerror(errno)));
      return;
    }
    if (waiting_.size() >= opts_.max_waiting_connections) {
      ::close(fd);
      continue;
    }
    const int one = 1;  // as gRPC sets on the sockets it accepts itself
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>(fd);
    c->deadline = now + std::chrono::milliseconds(opts_.sniff_timeout_ms);
    waiting_.push_back(std::move(c));
  }
}

bool ClientListener::on_readable(std::unique_ptr<Conn>& c, short revents, Clock::time_point now) {
  if (c->http) return read_http(c, now);
  // Gone before it was classified (polled without POLLIN, a hangup would otherwise spin).
  if (revents & (POLLHUP | POLLERR)) return false;
  char buf[kPreface.size()];
  const ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  c->recheck = {};
  if (on_tls_ && static_cast<unsigned char>(buf[0]) == 0x16) {
    on_tls_(c->fd);
    c->fd = -1;
    return false;
  }
  if (kPreface.starts_with(std::string_view(buf, size_t(n)))) {
    if (size_t(n) < kPrefaceDecisive) {
      c->recheck = now + kRecheck;
      return true;
    }
    on_grpc_(c->fd);
    c->fd = -1;
    return false;
  }
  c->http = true;
  c->deadline = now + std::chrono::milliseconds(opts_.http_idle_timeout_ms);
  return read_http(c, now);
}

bool ClientListener::read_http(std::unique_ptr<Conn>& c, Clock::time_point now) {
  // Bounded: a whole request fits in max_header_bytes + max_body_bytes; past that take_request
  // answers an error anyway.
  const size_t cap = opts_.max_header_bytes + opts_.max_body_bytes + kReadChunk;
  char buf[kReadChunk];
  while (c->in.size() < cap) {
    const ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c->in.append(buf, size_t(n));
    c->deadline = now + std::chrono::milliseconds(opts_.http_idle_timeout_ms);
  }
  auto job = std::make_unique<Job>();
  bool send_continue = false;
  const int st = take_request(*c, &job->req, &send_continue);
  if (st == 0) {
    if (send_continue) {
      constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      [[maybe_unused]] const ssize_t n =
          send(c->fd, k100.data(), k100.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      c->continue_sent = true;
    }
    return true;
  }
  job->error = st == 200 ? 0 : st;
  job->conn = std::move(c);
  {
    std::lock_guard l(mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
  return false;
}

int ClientListener::take_request(Conn& c, Request* r, bool* send_continue) const {
  *send_continue = false;
  // Empty lines before a request are ignored (RFC 9112 2.2): some clients send CRLF after a body.
  const size_t start = c.in.find_first_not_of("\r\n");
  if (start == std::string::npos) {
    c.in.clear();
    return 0;
  }
  if (start > 0) {
    c.in.erase(0, start);
    c.scanned = 0;
  }
  const std::string_view buf(c.in);

  // The head ends at the first empty line; lines end in CRLF or a bare LF. The search resumes
  // where the last one stopped, so a head trickling in costs linear time.
  size_t head_end = std::string_view::npos;
  for (size_t i = std::max<size_t>(c.scanned, 1); i < buf.size(); ++i) {
    if (buf[i] == '\n' &&
        (buf[i - 1] == '\n' || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n'))) {
      head_end = i + 1;
      break;
    }
  }
  if (head_end == std::string_view::npos) {
    c.scanned = buf.size();
    return buf.size() > opts_.max_header_bytes ? 431 : 0;
  }
  c.scanned = head_end - 1;
  if (head_end > opts_.max_header_bytes) return 431;
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < head_end;) {
    const size_t nl = buf.find('\n', pos);
    std::string_view line = buf.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (!line.empty()) lines.push_back(line);
  }

  // Request line: METHOD SP target SP HTTP/1.x
  const std::string_view rl = lines[0];
  const size_t sp1 = rl.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos) return 400;
  const std::string_view method = rl.substr(0, sp1);
  std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = rl.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return 400;
  for (char ch : target)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return 400;
  if (version == "HTTP/1.1")
    r->http10 = false;
  else if (version == "HTTP/1.0")
    r->http10 = true;
  else if (version.size() == 8 && version.starts_with("HTTP/") && std::isdigit(version[5]) &&
           version[6] == '.' && std::isdigit(version[7]))
    return 505;
  else
    return 400;
  if (target.starts_with("http://") || target.starts_with("https://")) {  // absolute form
    const size_t slash = target.find('/', target.find("://") + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  } else if (target != "*" && target.front() != '/') {
    return 400;
  }
  target = target.substr(0, target.find_first_of("?#"));

  bool close = false, keep_alive = false, expect_continue = false, have_length = false;
  uint64_t length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') return 400;  // obsolete line folding
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return 400;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    for (char ch : value)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) return 400;
    r->headers.emplace_back(name, value);
    if (iequals(name, "Content-Length")) {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char d) { return d >= '0' && d <= '9'; }))
        return 400;
      const uint64_t v = std::stoull(std::string(value));
      if (have_length && v != length) return 400;
      have_length = true;
      length = v;
    } else if (iequals(name, "Transfer-Encoding")) {
      return 501;
    } else if (iequals(name, "Connection")) {
      for (size_t p = 0; p <= value.size();) {
        const size_t comma = std::min(value.find(',', p), value.size());
        const std::string_view tok = trim(value.substr(p, comma - p));
        if (iequals(tok, "close")) close = true;
        if (iequals(tok, "keep-alive")) keep_alive = true;
        p = comma + 1;
      }
    } else if (iequals(name, "Expect")) {
      expect_continue = iequals(value, "100-continue");
    }
  }
  if (length > opts_.max_body_bytes) return 413;
  if (buf.size() - head_end < length) {
    *send_continue = expect_continue && !c.continue_sent && !r->http10;
    return 0;
  }
  r->method = std::string(method);
  r->path = std::string(target);
  r->body = std::string(buf.substr(head_end, length));
  r->keep_alive = r->http10 ? keep_alive && !close : !close;
  c.in.erase(0, head_end + length);
  c.scanned = 0;
  c.continue_sent = false;
  return 200;
}

void ClientListener::http_loop() {
  pthread_setname_np(pthread_self(), "client-http");
  while (true) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock l(mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    serve(std::move(job));
  }
}

void ClientListener::serve(std::unique_ptr<Job> job) {
  Conn& c = *job->conn;
  int st = job->error != 0 ? job->error : 200;
  Request& r = job->req;
  while (st == 200) {
    HttpResponse resp = dispatch(r);
    if (resp.stream) {
      if (start_stream(job->conn, r, std::move(resp))) return;
      st = 503;
      break;
    }
    const bool head_only = r.method == "HEAD";
    if (!write_all(c.fd, render(resp.status, resp.content_type, resp.body, r.keep_alive, r.http10,
                                head_only, resp.headers)) ||
        !r.keep_alive)
      return;
    // A pipelined request may already be here; else the poll thread waits for the next one.
    bool send_continue = false;
    r = Request{};
    st = take_request(c, &r, &send_continue);
    if (st == 0) {
      c.deadline = Clock::now() + std::chrono::milliseconds(opts_.http_idle_timeout_ms);
      {
        std::lock_guard l(mu_);
        if (stopping_) return;
        returned_.push_back(std::move(job->conn));
      }
      wake();
      return;
    }
  }
  write_all(c.fd, render_error(st));
}

HttpResponse ClientListener::dispatch(const Request& r) const {
  auto it = routes_.find(r.path);
  // No exact route: the longest route ending in "/" that begins the path (a subtree).
  for (size_t slash = r.path.rfind('/'); it == routes_.end() && slash != std::string::npos;
       slash = slash == 0 ? std::string::npos : r.path.rfind('/', slash - 1))
    it = routes_.find(r.path.substr(0, slash + 1));
  if (it == routes_.end()) return {404, "text/plain; charset=utf-8", "404 page not found\n"};
  try {
    return it->second.handler(r);
  } catch (const std::exception& e) {
    OUTPOST_LOG(kError, "HTTP handler failed", log::kv("path", r.path), log::kv("error", e.what()));
    return {500, "text/plain; charset=utf-8", "500 Internal Server Error"};
  }
}

bool ClientListener::write_all(int fd, const std::string& data) const {
  const auto deadline = Clock::now() + std::chrono::milliseconds(opts_.write_timeout_ms);
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    // Full socket buffer: wait in slices so that stop() is not held up by a client that never
    // reads.
    if (stopping_ || Clock::now() >= deadline) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 100);
  }
  return true;
}

}  // namespace outpost::api

namespace outpost::api {

class ClientListener::Stream final : public HttpStream {
 public:
  Stream(const ClientListener& l, std::unique_ptr<Conn> conn, bool http10, HeaderLines headers,
         std::string content_type)
      : l_(l),
        conn_(std::move(conn)),
        http10_(http10),
        headers_(std::move(headers)),
        content_type_(std::move(content_type)) {}

  bool write(std::string_view data, int status) override {
    if (broken_ || gone()) return false;
    std::string out;
    if (!head_sent_) out = head(status);
    if (!data.empty()) {
      if (http10_) {
        out.append(data);
      } else {
        char len[32];
        snprintf(len, sizeof len, "%zx\r\n", data.size());
        out += len;
        out.append(data);
        out += "\r\n";
      }
    }
    if (out.empty()) return true;
    broken_ = !l_.write_all(conn_->fd, out);
    return !broken_;
  }

  bool gone() override {
    if (broken_ || l_.stopping_) return true;
    // A client that hung up (or reset): readable end-of-file, or an error. Bytes it sends meanwhile
    // (a pipelined request) are not read, so POLLIN is not asked for.
    pollfd p{conn_->fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
      broken_ = true;
    return broken_;
  }

  // The end of the answer (a head first if the producer wrote nothing); the connection is closed.
  void finish() {
    if (broken_) return;
    std::string out = head_sent_ ? std::string() : head(200);
    if (!http10_) out += "0\r\n\r\n";
    [[maybe_unused]] const bool ok = l_.write_all(conn_->fd, out);
  }

 private:
  std::string head(int status) {
    head_sent_ = true;
    std::string out = render_head(status, content_type_, headers_);
    // HTTP/1.0 has no chunks: the body ends when the connection closes, as Go's net/http does.
    out += http10_ ? "Connection: close\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n";
    return out;
  }

  const ClientListener& l_;
  std::unique_ptr<Conn> conn_;
  const bool http10_;
  const HeaderLines headers_;
  const std::string content_type_;
  bool head_sent_ = false;
  bool broken_ = false;
};

bool ClientListener::start_stream(std::unique_ptr<Conn>& conn, const Request& r,
                                  HttpResponse resp) {
  std::lock_guard l(mu_);
  std::erase_if(streams_, [](const std::unique_ptr<StreamSlot>& s) {
    if (!s->done) return false;
    s->thread.join();
    return true;
  });
  if (stopping_ || streams_.size() >= opts_.max_streams) return false;
  auto slot = std::make_unique<StreamSlot>();
  StreamSlot* raw = slot.get();
  auto stream = std::make_shared<Stream>(*this, std::move(conn), r.http10, std::move(resp.headers),
                                         std::move(resp.content_type));
  raw->thread = std::thread([this, raw, stream, produce = std::move(resp.stream)] {
    pthread_setname_np(pthread_self(), "client-stream");
    try {
      produce(*stream);
    } catch (const std::exception& e) {
      OUTPOST_LOG(kError, "HTTP stream failed", log::kv("error", e.what()));
    }
    stream->finish();
    raw->done = true;
  });
  streams_.push_back(std::move(slot));
  return true;
}

}  // namespace outpost::api
