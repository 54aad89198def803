#include "core/api/gateway.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>

#include "etcdserverpb/rpc.pb.h"

namespace outpost::api {

namespace gp = google::protobuf;

struct Gateway::Rpc {
  std::string method;  // "/etcdserverpb.KV/Range"
  const gp::Message* request = nullptr;
  const gp::Message* response = nullptr;
  bool streaming = false;
  bool half_close = true;  // streams: close the request side once the body's requests are sent
};

namespace {

// etcd's generated gateway (etcdserverpb/gw/rpc.pb.gw.go): path under /v3/, service, method.
// Where two share a path (maintenance/hash: Hash and HashKV) the first registered serves it.
struct RouteSpec {
  const char* path;
  const char* service;
  const char* method;
};
constexpr RouteSpec kRoutes[] = {
    {"kv/range", "KV", "Range"},
    {"kv/put", "KV", "Put"},
    {"kv/deleterange", "KV", "DeleteRange"},
    {"kv/txn", "KV", "Txn"},
    {"kv/compaction", "KV", "Compact"},
    {"watch", "Watch", "Watch"},
    {"lease/grant", "Lease", "LeaseGrant"},
    {"lease/revoke", "Lease", "LeaseRevoke"},
    {"kv/lease/revoke", "Lease", "LeaseRevoke"},
    {"lease/keepalive", "Lease", "LeaseKeepAlive"},
    {"lease/timetolive", "Lease", "LeaseTimeToLive"},
    {"kv/lease/timetolive", "Lease", "LeaseTimeToLive"},
    {"lease/leases", "Lease", "LeaseLeases"},
    {"kv/lease/leases", "Lease", "LeaseLeases"},
    {"cluster/member/add", "Cluster", "MemberAdd"},
    {"cluster/member/remove", "Cluster", "MemberRemove"},
    {"cluster/member/update", "Cluster", "MemberUpdate"},
    {"cluster/member/list", "Cluster", "MemberList"},
    {"cluster/member/promote", "Cluster", "MemberPromote"},
    {"maintenance/alarm", "Maintenance", "Alarm"},
    {"maintenance/status", "Maintenance", "Status"},
    {"maintenance/defragment", "Maintenance", "Defragment"},
    {"maintenance/hash", "Maintenance", "Hash"},
    {"maintenance/snapshot", "Maintenance", "Snapshot"},
    {"maintenance/transfer-leadership", "Maintenance", "MoveLeader"},
    {"auth/enable", "Auth", "AuthEnable"},
    {"auth/disable", "Auth", "AuthDisable"},
    {"auth/authenticate", "Auth", "Authenticate"},
    {"auth/user/add", "Auth", "UserAdd"},
    {"auth/user/get", "Auth", "UserGet"},
    {"auth/user/list", "Auth", "UserList"},
    {"auth/user/delete", "Auth", "UserDelete"},
    {"auth/user/changepw", "Auth", "UserChangePassword"},
    {"auth/user/grant", "Auth", "UserGrantRole"},
    {"auth/user/revoke", "Auth", "UserRevokeRole"},
    {"auth/role/add", "Auth", "RoleAdd"},
    {"auth/role/get", "Auth", "RoleGet"},
    {"auth/role/list", "Auth", "RoleList"},
    {"auth/role/delete", "Auth", "RoleDelete"},
    {"auth/role/grant", "Auth", "RoleGrantPermission"},
    {"auth/role/revoke", "Auth", "RoleRevokePermission"},
};

const char* const kPrefixes[] = {"/v3/", "/v3beta/"};

// How often a stream looks at its HTTP client and the end of its call.
constexpr auto kStreamPoll = std::chrono::milliseconds(100);

using Headers = std::vector<std::pair<std::string, std::string>>;

// etcd answers every HTTP request with these under its default --cors ("*").
Headers cors_headers() {
  return {{"Access-Control-Allow-Headers", "accept, content-type, authorization"},
          {"Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"},
          {"Access-Control-Allow-Origin", "*"}};
}

// A successful gRPC answer's content type, which grpc-gateway passes on as header metadata.
Headers ok_headers() {
  Headers h = cors_headers();
  h.emplace_back("Grpc-Metadata-Content-Type", "application/grpc");
  return h;
}

HttpResponse plain(int status, std::string text) {
  return {status, "text/plain; charset=utf-8", std::move(text), cors_headers()};
}

// etcd's answer to a CORS preflight: 200, no body, no content type.
HttpResponse preflight() { return {200, "", "", cors_headers()}; }

// grpc-gateway's HTTPStatusFromCode.
int http_status(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::CANCELLED: return 408;
    case grpc::StatusCode::UNKNOWN: return 500;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS: return 409;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::FAILED_PRECONDITION: return 412;
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::INTERNAL: return 500;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DATA_LOSS: return 500;
    default: return 500;
  }
}

// Go's http.StatusText for the statuses above.
const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}

// A JSON string literal of s, escaped by protobuf's JSON util (a StringValue maps to one).
std::string json_string(const std::string& s) {
  gp::StringValue v;
  v.set_value(s);
  std::string out;
  if (!gp::util::MessageToJsonString(v, &out).ok()) return "\"\"";
  return out;
}

std::string to_json(const gp::Message& m) {
  gp::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;  // grpc-gateway's JSONPb{OrigName: true}
  std::string out;
  if (!gp::util::MessageToJsonString(m, &out, o).ok()) return "{}";
  return out;
}

// grpc-gateway's decoder ignores unknown fields (AllowUnknownFields) but refuses an unknown enum
// name; protobuf's ignore_unknown_fields ignores both. So: strictly first, and leniently again
// only when the strict parse failed on a field name.
bool from_json(std::string_view json, gp::Message* m, std::string* error) {
  const gp::StringPiece in(json.data(), json.size());
  gp::util::JsonParseOptions o;
  auto st = gp::util::JsonStringToMessage(in, m, o);
  if (st.ok()) return true;
  *error = std::string(st.message());
  if (error->find("Cannot find field") == std::string::npos) return false;
  m->Clear();
  o.ignore_unknown_fields = true;
  st = gp::util::JsonStringToMessage(in, m, o);
  if (st.ok()) return true;
  *error = std::string(st.message());
  return false;
}

// grpc-gateway's DefaultHTTPError body.
HttpResponse error_answer(grpc::StatusCode code, const std::string& message) {
  const std::string msg = json_string(message);
  return {
      http_status(code), "application/json",
      "{\"error\":" + msg + ",\"message\":" + msg + ",\"code\":" + std::to_string(int(code)) + "}",
      cors_headers()};
}

// grpc-gateway's streamChunk for an error (internal.StreamError).
std::string stream_error(const grpc::Status& s) {
  const int http = http_status(s.error_code());
  return "{\"error\":{\"grpc_code\":" + std::to_string(int(s.error_code())) +
         ",\"http_code\":" + std::to_string(http) +
         ",\"message\":" + json_string(s.error_message()) +
         ",\"http_status\":" + json_string(status_text(http)) + "}}";
}

grpc::ByteBuffer to_buffer(const gp::Message& m) {
  const std::string bytes = m.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool from_buffer(const grpc::ByteBuffer& b, gp::Message* m) {
  std::vector<grpc::Slice> slices;
  if (!b.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return m->ParseFromString(bytes);
}

// One gateway stream's gRPC call: writes the requests, turns each answer into a {"result":...}
// line for the HTTP side to take.
class StreamCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCall(std::vector<grpc::ByteBuffer> requests, bool half_close, const gp::Message* response)
      : requests_(std::move(requests)), half_close_(half_close), response_(response) {}

  void start(grpc::GenericStub& stub, const std::string& method) {
    stub.PrepareBidiStreamingCall(&ctx, method, {}, this);
    StartRead(&in_);
    write_next();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok) write_next();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    std::unique_ptr<gp::Message> m(response_->New());
    std::string line = from_buffer(in_, m.get()) ? "{\"result\":" + to_json(*m) + "}\n" : "";
    {
      std::lock_guard l(mu_);
      lines_.push_back(std::move(line));
    }
    cv_.notify_all();
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& s) override {
    // Notified under the lock: the taker may destroy this object as soon as it sees done_.
    std::lock_guard l(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  // Waits up to `wait` for lines or the end; moves the lines out. True once the call has ended
  // and every line is taken (*status is then its status).
  bool take(std::chrono::milliseconds wait, std::deque<std::string>* lines, grpc::Status* status) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, wait, [&] { return done_ || !lines_.empty(); });
    lines->swap(lines_);
    lines_.clear();
    *status = status_;
    return done_;
  }

  grpc::ClientContext ctx;

 private:
  void write_next() {
    if (next_ < requests_.size())
      StartWrite(&requests_[next_++]);
    else if (half_close_ && !closed_) {
      closed_ = true;
      StartWritesDone();
    }
  }

  std::vector<grpc::ByteBuffer> requests_;
  const bool half_close_;
  const gp::Message* response_;
  size_t next_ = 0;  // reactor callbacks are serialised for writes
  bool closed_ = false;
  grpc::ByteBuffer in_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  grpc::Status status_;
  bool done_ = false;
};

}  // namespace

bool next_json_value(std::string_view body, size_t* pos, std::string_view* value,
                     std::string* error) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t i = *pos;
  while (i < body.size() && blank(body[i])) ++i;
  *value = {};
  if (i == body.size()) {
    *pos = i;
    return true;
  }
  const size_t start = i;
  const char first = body[i];
  if (first == '{' || first == '[' || first == '"') {
    int depth = 0;
    bool in_string = false;
    for (; i < body.size(); ++i) {
      const char c = body[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
        if (!in_string && depth == 0) break;  // a lone string ends here
        continue;
      }
      if (c == '"') in_string = true;
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) break;
    }
    if (i >= body.size()) {
      *error = "unexpected EOF";
      return false;
    }
    ++i;
  } else if (first == '-' || (first >= '0' && first <= '9') || first == 't' || first == 'f' ||
             first == 'n') {
    while (i < body.size() && !blank(body[i]) && body[i] != '{' && body[i] != '[' && body[i] != '"')
      ++i;
  } else {
    const std::string shown = first == '\'' ? "'\\''" : std::string("'") + first + "'";
    *error = "invalid character " + shown + " looking for beginning of value";
    return false;
  }
  *value = body.substr(start, i - start);
  *pos = i;
  return true;
}

Gateway::Gateway() = default;
Gateway::~Gateway() = default;

void Gateway::attach(grpc::Server* server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT32_MAX);  // as etcd dials its gateway
  auto channel = server->InProcessChannel(args);
  std::lock_guard l(mu_);
  channel_ = channel;
  stub_ = std::make_shared<grpc::GenericStub>(channel);
}

std::vector<std::pair<std::string, HttpRoute>> Gateway::routes() {
  std::vector<std::pair<std::string, HttpRoute>> out;
  const auto* pool = gp::DescriptorPool::generated_pool();
  auto* factory = gp::MessageFactory::generated_factory();
  etcdserverpb::RangeRequest::descriptor();  // the generated file is linked and registered
  for (const auto& spec : kRoutes) {
    const auto* svc = pool->FindServiceByName(std::string("etcdserverpb.") + spec.service);
    const auto* md = svc ? svc->FindMethodByName(spec.method) : nullptr;
    if (!md) continue;
    auto rpc = std::make_shared<Rpc>();
    rpc->method = std::string("/etcdserverpb.") + spec.service + "/" + spec.method;
    rpc->request = factory->GetPrototype(md->input_type());
    rpc->response = factory->GetPrototype(md->output_type());
    rpc->streaming = md->client_streaming() || md->server_streaming();
    rpc->half_close = spec.method != std::string("Watch");
    for (const char* prefix : kPrefixes)
      out.emplace_back(std::string(prefix) + spec.path,
                       [this, rpc](const HttpRequest& r) { return serve(*rpc, r); });
  }
  // Any other path: net/http's 404, with etcd's CORS headers (etcd wraps its whole mux).
  out.emplace_back("/", [](const HttpRequest& r) {
    if (r.method == "OPTIONS") return preflight();
    return plain(404, "404 page not found\n");
  });
  for (const char* prefix : kPrefixes)
    out.emplace_back(prefix, [](const HttpRequest& r) {
      if (r.method == "OPTIONS") return preflight();
      return plain(404, "Not Found\n");  // grpc-gateway's, not net/http's "404 page not found"
    });
  return out;
}

HttpResponse Gateway::serve(const Rpc& rpc, const HttpRequest& r) {
  if (r.method == "OPTIONS") return preflight();
  if (r.method != "POST") return plain(405, "Method Not Allowed\n");
  {
    std::lock_guard l(mu_);
    if (!stub_) return error_answer(grpc::StatusCode::UNAVAILABLE, "etcdserver: not capable");
  }
  if (rpc.streaming) return stream(rpc, r);
  size_t pos = 0;
  std::string_view json;
  std::string error;
  if (!next_json_value(r.body, &pos, &json, &error))
    return error_answer(grpc::StatusCode::INVALID_ARGUMENT, error);
  return unary(rpc, r, std::string(json));
}

HttpResponse Gateway::unary(const Rpc& rpc, const HttpRequest& r, const std::string& json) {
  std::unique_ptr<gp::Message> req(rpc.request->New());
  std::string error;
  if (!json.empty() && !from_json(json, req.get(), &error))
    return error_answer(grpc::StatusCode::INVALID_ARGUMENT, error);
  std::shared_ptr<grpc::GenericStub> stub;
  {
    std::lock_guard l(mu_);
    stub = stub_;
  }
  grpc::ClientContext ctx;
  if (const std::string* auth = r.header("Authorization")) ctx.AddMetadata("token", *auth);
  const grpc::ByteBuffer in = to_buffer(*req);
  grpc::ByteBuffer out;
  std::promise<grpc::Status> done;
  stub->UnaryCall(&ctx, rpc.method, {}, &in, &out,
                  [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status st = done.get_future().get();
  if (!st.ok()) return error_answer(st.error_code(), st.error_message());
  std::unique_ptr<gp::Message> resp(rpc.response->New());
  if (!from_buffer(out, resp.get()))
    return error_answer(grpc::StatusCode::INTERNAL, "cannot parse the server's answer");
  return {200, "application/json", to_json(*resp), ok_headers()};
}

HttpResponse Gateway::stream(const Rpc& rpc, const HttpRequest& r) {
  // Every JSON value of the body is one request; a bad one ends the list (etcd's gateway stops
  // reading there), a bad first one fails the call as etcd's does: 500, code 2 (Unknown).
  std::vector<grpc::ByteBuffer> requests;
  size_t pos = 0;
  while (true) {
    std::string_view json;
    std::string error;
    std::unique_ptr<gp::Message> req(rpc.request->New());
    const bool ok = next_json_value(r.body, &pos, &json, &error) &&
                    (json.empty() || from_json(json, req.get(), &error));
    if (!ok && requests.empty()) return error_answer(grpc::StatusCode::UNKNOWN, error);
    if (!ok || json.empty()) break;
    requests.push_back(to_buffer(*req));
  }
  std::shared_ptr<grpc::GenericStub> stub;
  {
    std::lock_guard l(mu_);
    stub = stub_;
  }
  const std::string* auth = r.header("Authorization");
  HttpResponse resp{200, "application/json", "", ok_headers()};
  resp.stream = [stub, method = rpc.method, response = rpc.response, half_close = rpc.half_close,
                 token = auth ? *auth : std::string(), have_token = auth != nullptr,
                 requests = std::move(requests)](HttpStream& out) mutable {
    StreamCall call(std::move(requests), half_close, response);
    if (have_token) call.ctx.AddMetadata("token", token);
    call.start(*stub, method);
    bool wrote = false, cancelled = false;
    std::deque<std::string> lines;
    grpc::Status status;
    while (true) {
      const bool done = call.take(kStreamPoll, &lines, &status);
      for (auto& line : lines) {
        if (line.empty()) continue;
        if (!cancelled && !out.write(line)) {
          call.ctx.TryCancel();
          cancelled = true;
        }
        wrote = true;
      }
      lines.clear();
      if (done) break;
      if (!cancelled && out.gone()) {
        call.ctx.TryCancel();
        cancelled = true;
      }
    }
    // The status of a stream that ended is written as grpc-gateway writes it: an error chunk,
    // with the mapped HTTP status when nothing was written before it.
    if (!cancelled && !status.ok()) {
      [[maybe_unused]] const bool w =
          out.write(stream_error(status), wrote ? 200 : http_status(status.error_code()));
    }
  };
  return resp;
}

}  // namespace outpost::api
