#pragma once
// ClientListener: one client port for both gRPC and HTTP/1.1, as etcd shares it with cmux.
//
// Design. The listener owns the listening sockets; gRPC's server has no port of its own. Each
// accepted connection is classified by its first bytes, read with MSG_PEEK so that nothing is
// consumed. A connection whose bytes so far match the HTTP/2 client preface
// ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", which every gRPC client sends first; "PRI " settles it) is
// handed whole to gRPC by `on_grpc(fd)` (grpc::AddInsecureChannelFromFd): from then on gRPC's own
// poller reads the socket, with no copy and no proxy, so gRPC runs as fast as on a port of its
// own. On a port shared by http:// and https:// URLs, a connection opening with a TLS handshake
// record goes to `on_tls(fd)` (client_relay.h). Anything else is HTTP/1.1, served from an
// exact-path route table fixed at construction.
//
// Threads. One poll thread ("client-listen") owns the listening sockets and every connection that
// waits for bytes: accepted ones not yet classified, and HTTP connections between or inside
// requests. It never blocks on a client: accept, peek and read are non-blocking, and each waiting
// connection has a deadline (sniff_timeout_ms for its first bytes, http_idle_timeout_ms for HTTP)
// after which it is closed, so a silent client costs a descriptor, never a thread or a delay to
// others. Once a whole request has been read, the connection moves to a pool of http_threads
// threads ("client-http") that runs the handler and writes the answer, then hands a keep-alive
// connection back to the poll thread. A pool rather than a thread per connection: idle keep-alive
// connections and clients trickling a request in then hold no thread, and handlers are cheap, so
// two threads suffice; they are apart from the poll thread so that a handler which waits (the JSON
// gateway's writes will wait for Raft) never delays accepting and sniffing.
//
// The HTTP subset: HTTP/1.0 and 1.1, keep-alive (1.1 by default, 1.0 with "Connection:
// keep-alive"), pipelining, "Connection: close", Content-Length bodies up to max_body_bytes (413
// beyond), "Expect: 100-continue". Transfer-Encoding gets 501. The path is matched exactly as sent
// (no percent-decoding), query string stripped, else by the longest route ending in "/" that
// begins it. Malformed requests get 400 and the connection is closed; unknown paths get Go
// net/http's 404. Streamed answers (HttpResponse::stream, the gateway's Watch) are chunked, as
// Go's; each runs on a thread of its own ("client-stream", at most max_streams), so a stream
// that lasts hours holds none of the http_threads; it polls its connection for a hang-up (the
// producer asks gone()) and ends when stop() is called. Written by hand: gRPC has no hook before
// its HTTP/2 handshake, and the HTTP servers packaged in Debian want the listening socket
// themselves.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace outpost::api {

// A streamed answer's writer, given to HttpResponse::stream on a thread of its own.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Writes data as one chunk (the head goes out before the first, with this status); false once
  // the client is gone, a write timed out or the listener stops. Empty data writes nothing.
  virtual bool write(std::string_view data, int status = 200) = 0;
  // True once the client has hung up or the listener is stopping: the producer should end.
  virtual bool gone() = 0;
};

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int status_, std::string content_type_, std::string body_,  // NOLINT: implicit
               std::vector<std::pair<std::string, std::string>> headers_ = {})
      : status(status_),
        content_type(std::move(content_type_)),
        body(std::move(body_)),
        headers(std::move(headers_)) {}

  int status = 200;
  std::string content_type = "application/json";  // "": no Content-Type line
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // more header lines (name, value)
  // Set: a streamed answer, as Go's net/http sends one (Transfer-Encoding: chunked; body and
  // status ignored). It runs on a thread of its own (at most max_streams at once, beyond them 503)
  // so that a long stream never holds one of the http_threads; when it returns the chunked body
  // is ended and the connection closed.
  std::function<void(HttpStream&)> stream;
};

// What a handler sees of a request: method ("GET", "POST", ...), path without its query string,
// header lines as sent (name case kept), body.
struct HttpRequest {
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of the first header line named so (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

// Called with the method, the path without its query string, and the body. Runs on one of the
// listener's HTTP threads; may run concurrently with itself.
using HttpHandler = std::function<HttpResponse(const std::string& method, const std::string& path,
                                               const std::string& body)>;
// The same with the whole request (headers too).
using HttpRequestHandler = std::function<HttpResponse(const HttpRequest& request)>;

// A route's handler: either kind converts to it.
struct HttpRoute {
  HttpRoute() = default;
  template <class F>
  requires std::is_invocable_r_v<HttpResponse, F&, const HttpRequest&> HttpRoute(F f)
      : handler(std::move(f)) {}  // NOLINT: implicit on purpose
  template <class F>
  requires(!std::is_invocable_r_v<HttpResponse, F&, const HttpRequest&> &&
           std::is_invocable_r_v<HttpResponse, F&, const std::string&, const std::string&,
                                 const std::string&>) HttpRoute(F f)  // NOLINT: implicit on purpose
      : handler([f = std::move(f)](const HttpRequest& r) mutable {
          return f(r.method, r.path, r.body);
        }) {}
  HttpRequestHandler handler;
};
// Path → handler. A path ending in "/" also serves the paths under it that have no route of
// their own (the longest such prefix wins), as Go's http.ServeMux does.
using HttpRoutes = std::unordered_map<std::string, HttpRoute>;

struct ClientListenerOptions {
  int sniff_timeout_ms = 5000;        // a new connection silent this long is closed
  int http_idle_timeout_ms = 120000;  // an HTTP connection idle (or mid-request) this long: closed
  int write_timeout_ms = 10000;       // an answer not written within this: connection closed
  size_t max_header_bytes = 64 * 1024;      // request line and headers; beyond: 431
  size_t max_body_bytes = 4 * 1024 * 1024;  // Content-Length beyond this: 413
  int http_threads = 2;                     // handler threads; at least 1
  size_t max_waiting_connections = 4096;    // new connections beyond this many waiting: closed
  size_t max_streams = 128;  // streamed answers (one thread each) at once; beyond: 503
};

class ClientListener {
 public:
  // on_grpc takes ownership of a connected, non-blocking socket; it runs on the poll thread.
  ClientListener(HttpRoutes routes, std::function<void(int fd)> on_grpc,
                 ClientListenerOptions opts = {});
  ~ClientListener();  // stop()
  ClientListener(const ClientListener&) = delete;
  ClientListener& operator=(const ClientListener&) = delete;

  // A shared http:// and https:// port: connections that open with a TLS handshake record (0x16)
  // are handed whole to on_tls (on the poll thread), which takes ownership of the socket. Without
  // one, such a connection is answered as malformed HTTP. Call before start().
  void set_tls_handler(std::function<void(int fd)> on_tls) { on_tls_ = std::move(on_tls); }
  // Binds and listens on every "host:port" ("[v6]:port" too; a name binds each address it
  // resolves to; port 0 picks one). False with *error naming the first address that cannot be
  // bound; nothing is left open then. Call once, before start().
  bool listen(const std::vector<std::string>& addrs, std::string* error);
  // The bound port of each address given to listen(), in order (useful with port 0).
  const std::vector<int>& ports() const { return ports_; }
  // Starts the poll thread and the HTTP threads.
  void start();
  // Stops accepting, closes every HTTP and not yet classified connection, joins the threads.
  // Connections already handed to gRPC are gRPC's. Idempotent.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Conn;
  struct Request;
  struct Job;
  class Stream;
  struct StreamSlot;

  void poll_loop();
  void accept_all(int listen_fd, Clock::time_point now);
  // Reads what arrived on a waiting connection; false when it left the waiting set (closed,
  // handed to gRPC or queued for an HTTP thread).
  bool on_readable(std::unique_ptr<Conn>& c, short revents, Clock::time_point now);
  bool read_http(std::unique_ptr<Conn>& c, Clock::time_point now);
  void http_loop();
  void serve(std::unique_ptr<Job> job);
  // Takes one request off the front of c.in: 0 while incomplete, 200 when *r holds one, else the
  // error status to answer before closing. *send_continue: answer "100 Continue" now.
  int take_request(Conn& c, Request* r, bool* send_continue) const;
  HttpResponse dispatch(const Request& r) const;
  // Hands a streamed answer and its connection to a thread of its own; false (conn kept, nothing
  // started) at max_streams or when stopping.
  bool start_stream(std::unique_ptr<Conn>& conn, const Request& r, HttpResponse resp);
  bool write_all(int fd, const std::string& data) const;
  void wake();

  const HttpRoutes routes_;
  const std::function<void(int fd)> on_grpc_;
  std::function<void(int fd)> on_tls_;
  const ClientListenerOptions opts_;
  std::vector<int> listen_fds_;
  std::vector<int> ports_;
  int wake_fd_ = -1;  // eventfd: stop, or a connection handed back

  std::vector<std::unique_ptr<Conn>> waiting_;  // poll thread only

  std::mutex mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Job>> jobs_;        // to the HTTP threads
  std::vector<std::unique_ptr<Conn>> returned_;  // keep-alive connections back to the poll thread
  std::atomic<bool> stopping_{false};

  std::thread poll_thread_;
  std::vector<std::thread> http_threads_;
  std::list<std::unique_ptr<StreamSlot>> streams_;  // under mu_; finished ones reaped lazily
};

}  // namespace outpost::api
